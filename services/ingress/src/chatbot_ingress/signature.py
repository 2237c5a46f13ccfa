"""Checking X-Twilio-Signature with the twilio SDK's RequestValidator.

Twilio signs the exact URL it called. Behind a load balancer the URL the app sees differs, so
the signed URL is rebuilt from PUBLIC_BASE_URL, or from X-Forwarded-Proto/-Host when the
deployment trusts its proxy; the SDK then tries it with and without the default port.
"""

from __future__ import annotations

from starlette.datastructures import URL, Headers
from twilio.request_validator import (
    SIGNATURE_HEADER,
    SIGNATURE_SETTINGS_HEADER,
    RequestValidator,
    get_signature_algorithm,
)

__all__ = ["SignatureChecker"]


class SignatureChecker:
    """Validates webhook signatures for one deployment."""

    def __init__(
        self, auth_token: str, *, public_base_url: str | None, trust_proxy_headers: bool
    ) -> None:
        self._validator = RequestValidator(auth_token)
        self._public_base_url = public_base_url.rstrip("/") if public_base_url else None
        self._trust_proxy_headers = trust_proxy_headers

    def signed_url(self, url: URL, headers: Headers) -> str:
        """The URL Twilio called, as it signed it."""
        path_and_query = url.path + (f"?{url.query}" if url.query else "")
        if self._public_base_url:
            return self._public_base_url + path_and_query
        if self._trust_proxy_headers:
            scheme = headers.get("x-forwarded-proto", url.scheme).split(",")[0].strip()
            host = headers.get("x-forwarded-host", url.netloc).split(",")[0].strip()
            return f"{scheme}://{host}{path_and_query}"
        return str(url)

    def is_valid(self, url: URL, headers: Headers, form: dict[str, str]) -> bool:
        """Whether the request carries a valid signature for ``form``."""
        signature = headers.get(SIGNATURE_HEADER)
        if not signature:
            return False
        algorithm = get_signature_algorithm(headers.get(SIGNATURE_SETTINGS_HEADER))
        return bool(
            self._validator.validate(self.signed_url(url, headers), form, signature, algorithm)
        )
