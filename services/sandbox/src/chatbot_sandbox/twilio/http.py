"""What every fake Twilio endpoint shares: its state, Basic auth, faults and error answers."""

from __future__ import annotations

import asyncio
import base64
import binascii
import hmac
from typing import Annotated

from fastapi import Depends, Request
from fastapi.responses import JSONResponse

from chatbot_sandbox.deps import app_state
from chatbot_sandbox.twilio.callbacks import StatusReporter
from chatbot_sandbox.twilio.records import TwilioFault, TwilioStore
from chatbot_sandbox.twilio.settings import TwilioSettings

__all__ = [
    "Reporter",
    "Settings",
    "Store",
    "TwilioError",
    "apply_fault",
    "authorize",
    "form_params",
]

Settings = Annotated[TwilioSettings, Depends(app_state("settings", TwilioSettings))]
Store = Annotated[TwilioStore, Depends(app_state("store", TwilioStore))]
Reporter = Annotated[StatusReporter, Depends(app_state("status_reporter", StatusReporter))]


class TwilioError(Exception):
    """A refusal as Twilio answers it: HTTP status, error code, message, maybe Retry-After."""

    def __init__(self, status: int, code: int, message: str, retry_after: str | None = None):
        super().__init__(message)
        self.status, self.code, self.message, self.retry_after = status, code, message, retry_after

    def response(self) -> JSONResponse:
        """Twilio's error JSON."""
        return JSONResponse(
            {
                "code": self.code,
                "message": self.message,
                "more_info": f"https://www.twilio.com/docs/errors/{self.code}",
                "status": self.status,
            },
            status_code=self.status,
            headers={"Retry-After": self.retry_after} if self.retry_after else None,
        )


def authorize(request: Request, settings: TwilioSettings, path_sid: str | None = None) -> None:
    """Raise 401 (20003) unless Basic auth carries the account and token the path names."""
    scheme, _, encoded = request.headers.get("authorization", "").partition(" ")
    try:
        decoded = base64.b64decode(encoded.strip(), validate=True)
    except (binascii.Error, ValueError):
        decoded = b""
    user, _, password = decoded.partition(b":")
    sid = settings.twilio_account_sid.encode()
    token = settings.twilio_auth_token.get_secret_value().encode()
    checks = [
        scheme.lower() == "basic",
        hmac.compare_digest(user, sid),
        hmac.compare_digest(password, token),
        path_sid is None or hmac.compare_digest(path_sid.encode(), sid),
    ]
    if not all(checks):
        raise TwilioError(401, 20003, "Authenticate")


async def apply_fault(fault: TwilioFault | None) -> None:
    """Wait as long as the fault says, then raise the error it asks for (if any)."""
    if fault is None:
        return
    if fault.delay > 0:
        await asyncio.sleep(fault.delay)
    if fault.status is not None:
        code = fault.code if fault.code is not None else fault.status
        raise TwilioError(fault.status, code, fault.message, fault.retry_after)


async def form_params(request: Request) -> dict[str, list[str]]:
    """A form's fields, every non-empty value of each in order (the SDK omits unset ones)."""
    params: dict[str, list[str]] = {}
    async with request.form() as form:
        for key, value in form.multi_items():
            if isinstance(value, str) and value:
                params.setdefault(key, []).append(value)
    return params
