"""Inbound media for the fake Twilio: uploads, their CDN copies, and what was downloaded.

When a WhatsApp user sends a photo or a voice note, Twilio keeps the file and puts its URL in
the webhook (``MediaUrl0`` = ``https://api.twilio.com/2010-04-01/Accounts/AC.../Messages/MM.../
Media/ME...``); the conversation service downloads it with the account's Basic auth, and Twilio
answers with a redirect to an unauthenticated, unguessable CDN URL. The sandbox plays both:
:mod:`chatbot_sandbox.twilio_api` serves the authenticated media URL, this module the rest.

Endpoints (all under ``/_sandbox``: they are the sandbox's, not Twilio's):

- ``POST /_sandbox/twilio/media``: keep one file and answer where it is. The body is the
  file's bytes with its type as ``Content-Type`` (what ``fetch(url, {method: "POST", body:
  blob})`` sends for a recorded or picked file), or a multipart form with a ``file`` field.
  Query: ``message_sid`` (``MM`` + 32 hex digits) to put several files on one message, else a
  new one is made; ``cdn_base`` (an origin) to make the redirect leave this origin. Answer
  (201): ``sid``, ``message_sid``, ``url`` (what goes in ``MediaUrl<N>``), ``content_type``
  (what goes in ``MediaContentType<N>``), ``size`` and ``preview_url`` (the CDN copy, no auth,
  for showing the file on the chat page).
- ``GET /_sandbox/twilio/media``: the files kept (no bytes).
- ``GET /_sandbox/twilio/media/fetches``: every download, oldest first, with whether it
  carried credentials (long-polls with ``min_count`` and ``timeout``).
- ``GET /_sandbox/twilio/cdn/{token}``: a file's CDN copy.

Nothing here logs a URL or a byte of media.
"""

from __future__ import annotations

import contextlib
import logging
import re
import secrets
import uuid
from datetime import UTC, datetime
from typing import Annotated, Any

from fastapi import APIRouter, HTTPException, Query, Request
from fastapi.responses import Response
from starlette.datastructures import UploadFile

from chatbot_sandbox.deps import Settings, Store
from chatbot_sandbox.twilio_records import MediaFetchRecord, StoredMedia

__all__ = [
    "CDN_PATH",
    "MAX_UPLOAD_BYTES",
    "TWILIO_API_ORIGIN",
    "UPLOAD_PATH",
    "cdn_url",
    "router",
]

logger = logging.getLogger(__name__)

UPLOAD_PATH = "/_sandbox/twilio/media"
CDN_PATH = "/_sandbox/twilio/cdn/{token}"
TWILIO_API_ORIGIN = "https://api.twilio.com"
"""The origin of the media URLs Twilio puts in webhooks; services rewrite it to the sandbox."""
MAX_UPLOAD_BYTES = 64 * 1024 * 1024
"""More than WhatsApp accepts (16 MB of audio or video, 100 MB documents are rare in tests)."""
_MESSAGE_SID = re.compile(r"^MM[0-9a-fA-F]{32}$")
_ORIGIN = re.compile(r"^https?://[^/?#]+$")
_DEFAULT_TYPE = "application/octet-stream"

router = APIRouter(tags=["sandbox"])

MessageSidQuery = Annotated[
    str | None,
    Query(description="Put the file on this message (MM + 32 hex digits); default: a new one."),
]
CdnBaseQuery = Annotated[
    str | None,
    Query(description="Origin the media URL redirects to (default: the origin asked)."),
]


def cdn_url(media: StoredMedia, request_origin: str) -> str:
    """Where the authenticated media URL of ``media`` redirects to."""
    base = (media.cdn_base or request_origin).rstrip("/")
    return base + CDN_PATH.format(token=media.token)


def _origin(request: Request) -> str:
    return str(request.base_url).rstrip("/")


async def _upload(request: Request) -> tuple[bytes, str]:
    """The uploaded file's bytes and type: a raw body, or a multipart form's ``file``."""
    content_type = request.headers.get("content-type", "")
    if content_type.startswith("multipart/form-data"):
        form = await request.form(max_part_size=MAX_UPLOAD_BYTES)
        try:
            upload = form.get("file")
            if not isinstance(upload, UploadFile):
                raise HTTPException(422, "the multipart form needs a 'file' field")
            data = await upload.read(MAX_UPLOAD_BYTES + 1)
            return data, upload.content_type or _DEFAULT_TYPE
        finally:
            await form.close()
    body = bytearray()
    async for chunk in request.stream():
        body += chunk
        if len(body) > MAX_UPLOAD_BYTES:
            break
    return bytes(body), content_type or _DEFAULT_TYPE


@router.post(UPLOAD_PATH, status_code=201)
async def upload_media(
    request: Request,
    settings: Settings,
    store: Store,
    message_sid: MessageSidQuery = None,
    cdn_base: CdnBaseQuery = None,
) -> dict[str, Any]:
    """Keep a file as the media of an inbound message; answer its URL for the webhook."""
    if message_sid is not None and not _MESSAGE_SID.match(message_sid):
        raise HTTPException(422, "message_sid must be MM followed by 32 hex digits")
    if cdn_base is not None and not _ORIGIN.match(cdn_base):
        raise HTTPException(422, "cdn_base must be an origin such as http://localhost:8090")
    data, content_type = await _upload(request)
    if not data:
        raise HTTPException(422, "the file is empty")
    if len(data) > MAX_UPLOAD_BYTES:
        raise HTTPException(413, f"the sandbox keeps files up to {MAX_UPLOAD_BYTES} bytes")
    media = StoredMedia(
        sid="ME" + uuid.uuid4().hex,
        message_sid=message_sid or "MM" + uuid.uuid4().hex,
        account_sid=settings.twilio_account_sid,
        content_type=content_type.split(";", 1)[0].strip().lower() or _DEFAULT_TYPE,
        data=data,
        token=secrets.token_urlsafe(24),
        uploaded_at=datetime.now(UTC),
        cdn_base=cdn_base,
    )
    store.twilio_media[media.sid] = media
    logger.info(
        "sandbox twilio keeps a media file",
        extra={"media_sid": media.sid, "content_type": media.content_type, "size": len(data)},
    )
    return {
        "sid": media.sid,
        "message_sid": media.message_sid,
        "url": TWILIO_API_ORIGIN + media.path,
        "content_type": media.content_type,
        "size": len(data),
        "preview_url": cdn_url(media, _origin(request)),
    }


@router.get(UPLOAD_PATH)
async def list_media(store: Store) -> list[dict[str, Any]]:
    """The files kept, oldest first (their size, not their bytes)."""
    return [media.to_json() for media in store.twilio_media.values()]


@router.get(UPLOAD_PATH + "/fetches")
async def media_fetches(
    store: Store,
    min_count: Annotated[int, Query(ge=0, description="Wait for this many records.")] = 0,
    timeout: Annotated[float, Query(ge=0, le=60, description="Seconds to wait.")] = 0.0,
) -> list[dict[str, Any]]:
    """Downloads of media (API URL and CDN copy), oldest first."""
    log = store.twilio_media_fetches
    if min_count > len(log) and timeout > 0:
        with contextlib.suppress(TimeoutError):
            await log.wait_for(min_count, timeout)
    return [record.to_json() for record in log.snapshot()]


@router.get(CDN_PATH)
async def cdn_copy(token: str, request: Request, store: Store) -> Response:
    """A file's CDN copy: no credentials needed, the token is the secret (as a signed URL)."""
    media = next(
        (m for m in store.twilio_media.values() if secrets.compare_digest(m.token, token)), None
    )
    record = MediaFetchRecord(
        stage="cdn",
        media_sid=media.sid if media else None,
        received_at=datetime.now(UTC),
        status_code=200 if media else 404,
        authorized="authorization" in request.headers,
    )
    store.twilio_media_fetches.append(record)
    if media is None:
        return Response("Not Found", status_code=404, media_type="text/plain")
    return Response(media.data, media_type=media.content_type)
