"""Checking X-Twilio-Signature with the twilio SDK's RequestValidator.

Twilio signs the URL it called: PUBLIC_BASE_URL plus the request's path and query, or, only
with PUBLIC_BASE_URL_FROM_REQUEST, a URL rebuilt from the request's (checked) headers.
"""

from __future__ import annotations

import re

from starlette.types import Scope
from twilio.request_validator import (
    SIGNATURE_HEADER,
    SIGNATURE_SETTINGS_HEADER,
    RequestValidator,
    compare,
    get_signature_algorithm,
)

from .asgi import header

__all__ = ["SignatureChecker"]

_SIGNATURE = SIGNATURE_HEADER.lower().encode()
_SETTINGS = SIGNATURE_SETTINGS_HEADER.lower().encode()
_SCHEMES = frozenset({"http", "https"})
_HOST = re.compile(r"(?:[A-Za-z0-9_-]+(?:\.[A-Za-z0-9_-]+)*\.?|\[[0-9A-Fa-f:.]+\])(?::[0-9]{1,5})?")
"""A host as a URL's authority names it (a name, an IPv4 or a bracketed IPv6, and a port):
no user part, path, query, spaces or anything else a header could smuggle into the URL."""


class _Params(dict[str, str]):
    """Form fields as the SDK reads them: ``getall`` spares it two failed lookups per field."""

    def getall(self, name: str) -> list[str]:
        return [self[name]]


class SignatureChecker:
    """Validates webhook signatures for one deployment."""

    def __init__(
        self, auth_token: str, *, public_base_url: str | None, trust_proxy_headers: bool
    ) -> None:
        self._validator = RequestValidator(auth_token)
        self._public_base_url = public_base_url.rstrip("/") if public_base_url else None
        self._trust_proxy_headers = trust_proxy_headers

    def signed_url(self, scope: Scope) -> str | None:
        """The URL Twilio called, as it signed it; None when the request's headers make none."""
        query = scope.get("query_string", b"").decode("latin-1")
        path_and_query = str(scope["path"]) + (f"?{query}" if query else "")
        if self._public_base_url:
            return self._public_base_url + path_and_query
        scheme, host = str(scope.get("scheme", "http")), header(scope, b"host") or ""
        if self._trust_proxy_headers:
            scheme = (header(scope, b"x-forwarded-proto") or scheme).split(",")[0].strip()
            host = (header(scope, b"x-forwarded-host") or host).split(",")[0].strip()
        scheme = scheme.lower()
        if scheme not in _SCHEMES or not _HOST.fullmatch(host):
            return None
        return f"{scheme}://{host}{path_and_query}"

    def is_valid(self, scope: Scope, form: dict[str, str]) -> bool:
        """Whether the request carries a valid signature for ``form``."""
        signature = header(scope, _SIGNATURE)
        if not signature:
            return False
        algorithm = get_signature_algorithm(header(scope, _SETTINGS))
        url = self.signed_url(scope)
        if url is None:
            return False
        params = _Params(form)
        try:
            # Fast path: the URL exactly as configured (the common case, one HMAC).
            if compare(self._validator.compute_signature(url, params, algorithm), signature):
                return True
        except ValueError:  # an algorithm this SDK version does not know
            return False
        # The SDK's own check also tries the URL with and without the default port.
        return bool(self._validator.validate(url, params, signature, algorithm))
