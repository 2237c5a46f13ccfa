"""Downloading inbound media from Twilio: authenticated, bounded, and safe across redirects.

Credentials go only to the media URL's own origin (Twilio's, or ``TWILIO_API_BASE_URL``); time,
size and type are bounded; failures are retried as the model's are. URLs and bytes are never
logged. The reasoning: docs/conversation.md, *Downloads*.
"""

from __future__ import annotations

import asyncio
import base64
import random
import time
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Literal

import aiohttp
from pydantic import SecretStr
from yarl import URL

from ..retry import Failure, ModelCallError, RetryPolicy, retry_after, with_retries
from .content_types import media_type
from .metrics import DOWNLOAD_SECONDS

__all__ = [
    "Download",
    "MediaDownloader",
    "MediaRefusedError",
    "MediaUnavailableError",
    "RefusalReason",
]

RefusalReason = Literal["too_large", "unsupported"]

_REDIRECTS = frozenset({301, 302, 303, 307, 308})
_MAX_REDIRECTS = 5
_PERMANENT = frozenset({401, 403, 404, 410})
_GENERIC_TYPES = frozenset({"", "application/octet-stream", "binary/octet-stream"})
_CHUNK = 64 * 1024
_TWILIO_DOMAIN = "twilio.com"
_BAD_URL = Failure("bad_url", retryable=False)
_REQUEST_FAILED = Failure("request_failed", retryable=False)
"""An attempt that failed in a way none of the HTTP outcomes describes: not retried."""


@dataclass(frozen=True, slots=True)
class Download:
    """A downloaded attachment: its (checked) type and its bytes."""

    content_type: str
    data: bytes


class MediaRefusedError(Exception):
    """The attachment is over the size limit, or not of an allowed type: told, not retried."""

    def __init__(self, reason: RefusalReason) -> None:
        super().__init__(reason)
        self.reason: RefusalReason = reason


class MediaUnavailableError(Exception):
    """The attachment could not be downloaded: permanent, or transient with the retries spent."""

    def __init__(self, failure: Failure, attempts: int) -> None:
        super().__init__(f"{failure.kind} after {attempts} attempt(s)")
        self.failure = failure
        self.attempts = attempts


class _AttemptError(Exception):
    """One attempt failed (its kind only: never the URL)."""

    def __init__(self, failure: Failure) -> None:
        super().__init__(failure.kind)
        self.failure = failure


def _attempt_failure(error: Exception) -> Failure | None:
    return error.failure if isinstance(error, _AttemptError) else None


def _status_failure(status: int, headers: Mapping[str, str]) -> Failure:
    if status in _PERMANENT:
        return Failure(f"http_{status}", retryable=False)
    wait = retry_after(headers)
    if status == 429:
        return Failure("rate_limited", retryable=True, retry_after=wait)
    if status >= 500 or status == 408:
        return Failure("server_error", retryable=True, retry_after=wait)
    return Failure(f"http_{status}", retryable=False)


class MediaDownloader:
    """Downloads attachments with Twilio's credentials, within the media limits."""

    def __init__(
        self,
        session: aiohttp.ClientSession,
        *,
        account_sid: str | None,
        auth_token: SecretStr | None,
        base_url: str | None,
        max_bytes: int,
        timeout: float,
        policy: RetryPolicy,
        rng: random.Random,
    ) -> None:
        self._session = session
        self._authorization: str | None = None
        if account_sid is not None and auth_token is not None:
            pair = f"{account_sid}:{auth_token.get_secret_value()}".encode()
            self._authorization = "Basic " + base64.b64encode(pair).decode("ascii")
        self._base = URL(base_url) if base_url else None
        self.max_bytes = max_bytes
        self._timeout = timeout
        self._policy = policy
        self._rng = rng

    def locate(self, url: str) -> URL:
        """Where to download ``url`` from: rewritten to the base URL, or checked as Twilio's.

        Raises :class:`MediaUnavailableError` for a URL that is malformed or not Twilio's, and
        nothing else: a webhook's URL is anyone's text, and any exception of parsing it
        (yarl raises ValueError, UnicodeError, even IndexError) or of rewriting it is the
        attachment's failure (``bad_url``), never the turn's.
        """
        try:
            return self._locate(url)
        except MediaUnavailableError:
            raise
        except Exception:
            raise MediaUnavailableError(_BAD_URL, attempts=1) from None

    def _locate(self, url: str) -> URL:
        parsed = URL(url)
        if not parsed.absolute or parsed.scheme not in ("http", "https"):
            raise MediaUnavailableError(_BAD_URL, attempts=1)
        if parsed.raw_user is not None or parsed.raw_password is not None:
            # Credentials in a media URL are no Twilio URL's; the HTTP client would also
            # refuse them next to our Authorization header.
            raise MediaUnavailableError(_BAD_URL, attempts=1)
        if self._base is not None:
            return URL.build(
                scheme=self._base.scheme,
                host=self._base.raw_host or "",
                port=self._base.explicit_port,
                path=self._base.raw_path.rstrip("/") + parsed.raw_path,
                query_string=parsed.raw_query_string,
                encoded=True,
            )
        host = (parsed.host or "").lower()  # decodes IDNA: may raise for bad punycode
        if parsed.scheme != "https" or not (
            host == _TWILIO_DOMAIN or host.endswith("." + _TWILIO_DOMAIN)
        ):
            raise MediaUnavailableError(Failure("untrusted_url", retryable=False), attempts=1)
        return parsed

    async def download(self, url: str, *, allowed: frozenset[str], announced: str) -> Download:
        """The attachment at ``url``, whose type must be in ``allowed``.

        Raises :class:`MediaRefusedError` (too large, not allowed) or
        :class:`MediaUnavailableError` (failed for good).
        """
        target = self.locate(url)

        def observe(outcome: str, seconds: float) -> None:
            DOWNLOAD_SECONDS.labels(outcome).observe(seconds)

        try:
            return await with_retries(
                lambda: self._attempt(target, allowed, media_type(announced)),
                self._policy,
                rng=self._rng,
                classify_error=_attempt_failure,
                observe=observe,
            )
        except ModelCallError as error:
            raise MediaUnavailableError(error.failure, error.attempts) from None

    async def _attempt(self, url: URL, allowed: frozenset[str], announced: str) -> Download:
        started = time.monotonic()
        try:
            async with asyncio.timeout(self._timeout):
                return await self._follow(url, allowed, announced)
        except MediaRefusedError:
            DOWNLOAD_SECONDS.labels("refused").observe(time.monotonic() - started)
            raise
        except _AttemptError:
            raise
        except TimeoutError:
            raise _AttemptError(Failure("timeout", retryable=True)) from None
        except aiohttp.ClientError:
            raise _AttemptError(Failure("connection", retryable=True)) from None
        except Exception:
            # Anything else the request raised (the client refusing a URL, a redirect target
            # it cannot build): this attachment's failure, not the turn's. Never chained: the
            # client's errors quote the URL.
            raise _AttemptError(_REQUEST_FAILED) from None

    async def _follow(self, url: URL, allowed: frozenset[str], announced: str) -> Download:
        """GET ``url``, following redirects; credentials only to ``url``'s own origin."""
        origin = url.origin()
        target = url
        for _ in range(_MAX_REDIRECTS + 1):
            headers = {}
            if self._authorization is not None and target.origin() == origin:
                headers["Authorization"] = self._authorization
            async with self._session.get(
                target, headers=headers, allow_redirects=False
            ) as response:
                if response.status in _REDIRECTS:
                    target = self._redirect(target, response.headers.get("Location"))
                    continue
                if not 200 <= response.status < 300:
                    raise _AttemptError(_status_failure(response.status, response.headers))
                content_type = media_type(response.headers.get("Content-Type", ""))
                if content_type in _GENERIC_TYPES:
                    content_type = announced
                if content_type not in allowed:
                    raise MediaRefusedError("unsupported")
                return Download(content_type, await self._read(response))
        raise _AttemptError(Failure("too_many_redirects", retryable=False))

    @staticmethod
    def _redirect(current: URL, location: str | None) -> URL:
        try:
            target = current.join(URL(location or ""))
            usable = bool(location) and target.scheme in ("http", "https") and bool(target.host)
        except Exception:  # yarl raises more than ValueError for what a server may send
            usable = False
        if not usable:
            raise _AttemptError(Failure("bad_redirect", retryable=False))
        return target

    async def _read(self, response: aiohttp.ClientResponse) -> bytes:
        """The body, streamed, refused as soon as it is known to exceed the size limit."""
        if response.content_length is not None and response.content_length > self.max_bytes:
            raise MediaRefusedError("too_large")
        body = bytearray()
        async for chunk in response.content.iter_chunked(_CHUNK):
            body += chunk
            if len(body) > self.max_bytes:
                raise MediaRefusedError("too_large")
        if not body:
            raise _AttemptError(Failure("empty", retryable=False))
        return bytes(body)
