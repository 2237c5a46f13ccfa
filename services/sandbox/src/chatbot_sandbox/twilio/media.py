"""Inbound media as Twilio serves it: behind Basic auth, then a redirect to a CDN copy.

Files get there through the sandbox's upload (``POST /_sandbox/twilio/media``, the file's bytes
as the body), as a user's phone would send them. URLs and bytes are never logged.
"""

from __future__ import annotations

import re
import secrets
import uuid
from datetime import UTC, datetime
from typing import Annotated, Any

from fastapi import APIRouter, HTTPException, Query, Request
from fastapi.responses import JSONResponse, RedirectResponse, Response

from chatbot_sandbox.twilio.http import Settings, Store, TwilioError, apply_fault, authorize
from chatbot_sandbox.twilio.records import MediaFetchRecord, StoredMedia

__all__ = [
    "CDN_PATH",
    "MAX_UPLOAD_BYTES",
    "MEDIA_PATH",
    "TWILIO_API_ORIGIN",
    "UPLOAD_PATH",
    "router",
]

MEDIA_PATH = "/2010-04-01/Accounts/{account_sid}/Messages/{message_sid}/Media/{media_sid}"
UPLOAD_PATH = "/_sandbox/twilio/media"
CDN_PATH = "/_sandbox/twilio/cdn/{token}"
TWILIO_API_ORIGIN = "https://api.twilio.com"
"""The origin of the media URLs in webhooks; the services rewrite it to the sandbox."""
MAX_UPLOAD_BYTES = 64 * 1024 * 1024
_MESSAGE_SID = re.compile(r"^MM[0-9a-fA-F]{32}$")
_ORIGIN = re.compile(r"^https?://[^/?#]+$")

router = APIRouter(tags=["twilio"])


def _cdn_url(media: StoredMedia, request: Request) -> str:
    base = media.cdn_base or str(request.base_url)
    return base.rstrip("/") + CDN_PATH.format(token=media.token)


@router.post(UPLOAD_PATH, status_code=201, tags=["sandbox"])
async def upload_media(
    request: Request,
    settings: Settings,
    store: Store,
    message_sid: Annotated[str | None, Query(description="Add to this message (MM...).")] = None,
    cdn_base: Annotated[str | None, Query(description="Origin to redirect to.")] = None,
) -> dict[str, Any]:
    """Keep the body as a user's attachment; answer its ``MediaUrl`` and a preview URL."""
    if message_sid is not None and not _MESSAGE_SID.match(message_sid):
        raise HTTPException(422, "message_sid must be MM followed by 32 hex digits")
    if cdn_base is not None and not _ORIGIN.match(cdn_base):
        raise HTTPException(422, "cdn_base must be an origin such as http://localhost:8090")
    data = bytearray()
    async for chunk in request.stream():
        data += chunk
        if len(data) > MAX_UPLOAD_BYTES:
            raise HTTPException(413, f"the sandbox keeps files up to {MAX_UPLOAD_BYTES} bytes")
    if not data:
        raise HTTPException(422, "the file is empty")
    content_type = request.headers.get("content-type", "").split(";", 1)[0].strip().lower()
    media = StoredMedia(
        sid="ME" + uuid.uuid4().hex,
        message_sid=message_sid or "MM" + uuid.uuid4().hex,
        account_sid=settings.twilio_account_sid,
        content_type=content_type or "application/octet-stream",
        data=bytes(data),
        token=secrets.token_urlsafe(24),
        cdn_base=cdn_base,
    )
    store.twilio_media[media.sid] = media
    return {
        "sid": media.sid,
        "message_sid": media.message_sid,
        "url": TWILIO_API_ORIGIN + media.path,
        "content_type": media.content_type,
        "size": len(data),
        "preview_url": _cdn_url(media, request),
    }


@router.get(MEDIA_PATH, response_model=None)
async def fetch_media(
    account_sid: str,
    message_sid: str,
    media_sid: str,
    request: Request,
    settings: Settings,
    store: Store,
) -> JSONResponse | RedirectResponse:
    """Media of a received message: Basic auth, then a redirect to its CDN copy."""
    record = MediaFetchRecord(
        "api", media_sid, datetime.now(UTC), 307, "authorization" in request.headers
    )
    try:
        authorize(request, settings, account_sid)
        await apply_fault(store.take_twilio_fault("media"))
        media = store.twilio_media.get(media_sid)
        if media is None or media.message_sid != message_sid:
            raise TwilioError(
                404, 20404, f"The requested resource {request.url.path} was not found"
            )
    except TwilioError as error:
        record.status_code, record.error_code = error.status, error.code
        store.twilio_media_fetches.append(record)
        return error.response()
    store.twilio_media_fetches.append(record)
    return RedirectResponse(_cdn_url(media, request), status_code=307)


@router.get(CDN_PATH)
async def cdn_copy(token: str, request: Request, store: Store) -> Response:
    """A file's CDN copy: no credentials, the unguessable token is the secret."""
    media = next(
        (m for m in store.twilio_media.values() if secrets.compare_digest(m.token, token)), None
    )
    store.twilio_media_fetches.append(
        MediaFetchRecord(
            "cdn",
            media.sid if media else None,
            datetime.now(UTC),
            200 if media else 404,
            "authorization" in request.headers,
        )
    )
    if media is None:
        return Response("Not Found", status_code=404, media_type="text/plain")
    return Response(media.data, media_type=media.content_type)
