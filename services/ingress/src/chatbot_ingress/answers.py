"""What a webhook is answered: empty TwiML once published, or an answer given before that."""

from __future__ import annotations

from xml.sax.saxutils import escape

from starlette.types import Send

from .asgi import respond

__all__ = [
    "EMPTY_TWIML",
    "EMPTY_TWIML_BYTES",
    "TEXT_TYPE",
    "TWIML_TYPE",
    "UNAVAILABLE",
    "EarlyAnswer",
    "twiml_message",
]

XML_DECLARATION = '<?xml version="1.0" encoding="UTF-8"?>'
EMPTY_TWIML = f"{XML_DECLARATION}<Response/>"
EMPTY_TWIML_BYTES = EMPTY_TWIML.encode()
TWIML_TYPE = b"text/xml; charset=utf-8"
TEXT_TYPE = b"text/plain; charset=utf-8"
UNAVAILABLE = "message queue unavailable; retry later"


class EarlyAnswer(Exception):
    """A webhook answered before anything was published (an error, a refused sender, or a
    desk event nothing is published for).

    ``close`` ends the connection after the answer: for answers given before the body was
    read to its end (see :func:`~.asgi.respond`).
    """

    def __init__(
        self, status: int, outcome: str, message: str, *, twiml: bool = False, close: bool = False
    ) -> None:
        super().__init__(message)
        self.status = status
        self.outcome = outcome
        self.message = message
        self.twiml = twiml
        self.close = close

    async def send(self, send: Send) -> None:
        if self.twiml:
            await respond(send, self.status, self.message.encode(), TWIML_TYPE, close=self.close)
        else:
            body = f"{self.message}\n".encode()
            await respond(send, self.status, body, TEXT_TYPE, close=self.close)


def twiml_message(text: str) -> str:
    """TwiML that makes Twilio answer the sender with ``text`` (or nothing when empty)."""
    if not text:
        return EMPTY_TWIML
    return f"{XML_DECLARATION}<Response><Message>{escape(text)}</Message></Response>"
