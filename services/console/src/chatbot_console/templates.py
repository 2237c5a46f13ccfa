"""What an approved WhatsApp template says, read from Twilio's Content API, so that the model's
record of an outreach message is the text the user reads (docs/outreach.md)."""

from __future__ import annotations

import asyncio
import logging
import re
from collections.abc import AsyncIterator, Mapping
from contextlib import asynccontextmanager

import aiohttp
from twilio.base.exceptions import TwilioRestException
from twilio.http.async_http_client import AsyncTwilioHttpClient
from twilio.rest import Client

from .config import ConsoleSettings

__all__ = ["MissingVariable", "Templates", "UnknownTemplate", "opened_templates"]

log = logging.getLogger(__name__)

_TIMEOUT = 5.0
_PLACEHOLDER = re.compile(r"\{\{\s*([0-9]+)\s*\}\}")


class UnknownTemplate(LookupError):
    """The account has no template with this Content SID."""


class MissingVariable(ValueError):
    """A placeholder of the template has no value, sent or default."""


class Templates:
    """The text of each template, fetched once (a Content resource never changes)."""

    def __init__(self, client: Client) -> None:
        self._client = client
        self._known: dict[str, tuple[str, dict[str, str]]] = {}

    async def text(self, content_sid: str, variables: Mapping[str, str]) -> str | None:
        """The template's text with ``variables`` (its defaults for the rest); ``None`` when
        Twilio cannot say now. Raises :class:`UnknownTemplate` or :class:`MissingVariable`."""
        known = self._known.get(content_sid) or await self._fetch(content_sid)
        if known is None:
            return None
        body, defaults = known
        values = {**defaults, **variables}
        missing = sorted({n for n in _PLACEHOLDER.findall(body) if n not in values}, key=int)
        if missing:
            raise MissingVariable(", ".join(f"{{{{{n}}}}}" for n in missing))
        return _PLACEHOLDER.sub(lambda match: values[match[1]], body)

    async def _fetch(self, content_sid: str) -> tuple[str, dict[str, str]] | None:
        try:
            async with asyncio.timeout(_TIMEOUT):
                content = await self._client.content.v1.contents(content_sid).fetch_async()
        except TwilioRestException as error:
            if error.status == 404:
                raise UnknownTemplate(content_sid) from None
            log.warning("twilio's content api refused: %s", error.code or error.status)
            return None
        except (TimeoutError, aiohttp.ClientError) as error:
            log.warning("twilio's content api did not answer (%s)", type(error).__name__)
            return None
        types = content.types or {}
        body = next(
            (
                str(kind["body"])
                for kind in types.values()
                if isinstance(kind, dict) and kind.get("body")
            ),
            "",
        )
        defaults = {str(k): str(v) for k, v in (content.variables or {}).items()}
        self._known[content_sid] = (body, defaults)
        return body, defaults


@asynccontextmanager
async def opened_templates(settings: ConsoleSettings) -> AsyncIterator[Templates | None]:
    """Templates read with the deployment's Twilio account; ``None`` without one."""
    token = settings.twilio_auth_token
    if settings.twilio_account_sid is None or token is None:
        yield None
        return
    http_client = AsyncTwilioHttpClient()
    client = Client(settings.twilio_account_sid, token.get_secret_value(), http_client=http_client)
    if settings.twilio_api_base_url:
        client.content.base_url = settings.twilio_api_base_url.rstrip("/")
    try:
        yield Templates(client)
    finally:
        await http_client.close()
