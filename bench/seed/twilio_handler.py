# Flask is in the `bench` dependency group, which `make lint` does not install: without it the
# routes' decorators are untyped, and the import unresolved.
# mypy: disable-error-code="untyped-decorator"
"""The seed's design, kept as the baseline of `make bench SCENARIO=versus-seed` (never shipped):
one threaded Flask process, run as ``python twilio_handler.py`` (port 5000, or PORT). Its webhook
handler checks the signature, finds the user's OpenAI conversation id in memory (or creates one),
asks the model, sends the answer through Twilio, and only then answers the webhook; an error is
Flask's 500. How it is run and compared: docs/performance.md (versus-seed).
"""

from __future__ import annotations

import os

from flask import Flask, Response, abort, request  # type: ignore[import-not-found, unused-ignore]
from openai import OpenAI
from twilio.request_validator import RequestValidator
from twilio.rest import Client

MODEL = os.environ.get("OPENAI_MODEL", "gpt-6.1-terra")
INSTRUCTIONS = "You are a helpful assistant answering customers on WhatsApp. Be brief."
EMPTY_TWIML = '<?xml version="1.0" encoding="UTF-8"?><Response/>'

app = Flask(__name__)
openai = OpenAI()
twilio = Client(os.environ["TWILIO_ACCOUNT_SID"], os.environ["TWILIO_AUTH_TOKEN"])
if base_url := os.environ.get("TWILIO_API_BASE_URL"):
    twilio.api.base_url = base_url.rstrip("/")
validator = RequestValidator(os.environ["TWILIO_AUTH_TOKEN"])
conversations: dict[str, str] = {}
"""Each user's OpenAI conversation id, by WhatsApp address: lost when the process stops."""


@app.post("/twilio/messages")
def incoming_message() -> Response:
    signature = request.headers.get("X-Twilio-Signature", "")
    if not validator.validate(request.url, request.form, signature):
        abort(403)
    user = request.form["From"]
    if user not in conversations:
        conversations[user] = openai.conversations.create().id
    answer = openai.responses.create(
        model=MODEL,
        instructions=INSTRUCTIONS,
        input=request.form.get("Body", ""),
        conversation=conversations[user],
    )
    twilio.messages.create(from_=request.form["To"], to=user, body=answer.output_text)
    return Response(EMPTY_TWIML, mimetype="text/xml")


@app.get("/healthz")
def healthz() -> str:
    """For the benchmark, which starts this process and waits until it answers."""
    return "ok"


if __name__ == "__main__":
    app.run(host="127.0.0.1", port=int(os.environ.get("PORT", "5000")), threaded=True)
