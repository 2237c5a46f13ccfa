"""OpenAI's error answers (``{"error": {...}}``) for what the fake refuses."""

from __future__ import annotations

import math
import uuid
from collections.abc import Mapping
from typing import Any

from fastapi.responses import JSONResponse

from chatbot_sandbox.openai.records import FaultSpec

__all__ = [
    "LOCKED_MESSAGE",
    "ApiError",
    "answer",
    "fault_error",
    "invalid_type",
    "invalid_value",
    "missing",
    "new_id",
]

LOCKED_MESSAGE = (
    "Another process is currently operating on this conversation. Please retry in a few seconds."
)
QUOTA_MESSAGE = (
    "You exceeded your current quota, please check your plan and billing details. For more "
    "information on this error, read the docs: "
    "https://platform.openai.com/docs/guides/error-codes/api-errors."
)
_TYPE_NAMES = {bool: "a boolean", int: "an integer", float: "a decimal", str: "a string"}
_TYPE_NAMES |= {list: "an array", dict: "an object", type(None): "null"}


def new_id(prefix: str) -> str:
    """An id as OpenAI writes them: a prefix and random hex."""
    return prefix + uuid.uuid4().hex


def answer(
    payload: dict[str, Any], status: int = 200, headers: Mapping[str, str] | None = None
) -> JSONResponse:
    """A JSON answer with OpenAI's ``x-request-id`` header."""
    return JSONResponse(
        payload, status, headers={"x-request-id": new_id("req_"), **(headers or {})}
    )


class ApiError(Exception):
    """An error answer in OpenAI's shape."""

    def __init__(
        self,
        status: int,
        message: str,
        *,
        param: str | None = None,
        code: str | None = None,
        error_type: str = "invalid_request_error",
        headers: Mapping[str, str] | None = None,
    ) -> None:
        super().__init__(message)
        self.status, self.message, self.param, self.code = status, message, param, code
        self.error_type, self.headers = error_type, headers

    def response(self) -> JSONResponse:
        error = {"message": self.message, "type": self.error_type, "param": self.param}
        return answer({"error": {**error, "code": self.code}}, self.status, self.headers)


def invalid_type(param: str, expected: str, value: Any) -> ApiError:
    got = _TYPE_NAMES.get(type(value), "an unknown value")
    return ApiError(
        400,
        f"Invalid type for '{param}': expected {expected}, but got {got} instead.",
        param=param,
        code="invalid_type",
    )


def invalid_value(value: Any, supported: tuple[str, ...], param: str) -> ApiError:
    names = [f"'{name}'" for name in supported]
    listed = ", ".join(names[:-1]) + f" and {names[-1]}" if len(names) > 1 else names[0]
    return ApiError(
        400,
        f"Invalid value: '{value}'. Supported values are: {listed}.",
        param=param,
        code="invalid_value",
    )


def missing(param: str) -> ApiError:
    return ApiError(
        400,
        f"Missing required parameter: '{param}'.",
        param=param,
        code="missing_required_parameter",
    )


def fault_error(fault: FaultSpec) -> ApiError:
    """What a queued fault answers (every kind but ``stall``)."""
    if fault.kind == "rate_limit":
        wait, headers = "", {}
        if fault.retry_after is not None:
            wait = f" Please try again in {fault.retry_after:g}s."
            headers = {
                "retry-after": str(math.ceil(fault.retry_after)),
                "retry-after-ms": str(round(fault.retry_after * 1000)),
            }
        return ApiError(
            429,
            "Rate limit reached for requests (sandbox fault)." + wait,
            code="rate_limit_exceeded",
            error_type="requests",
            headers=headers,
        )
    if fault.kind == "insufficient_quota":
        return ApiError(
            429, QUOTA_MESSAGE, code="insufficient_quota", error_type="insufficient_quota"
        )
    if fault.kind == "conversation_locked":
        return ApiError(400, LOCKED_MESSAGE, code="conversation_locked")
    return ApiError(
        500,
        "The server had an error while processing your request. Sorry about that!",
        error_type="server_error",
    )
