"""Which URL a signature is checked on when it comes from the request's own headers.

With PUBLIC_BASE_URL_FROM_REQUEST the client names the URL (Host, or X-Forwarded-Proto/-Host
behind a trusted proxy). Whatever it sends, the URL is ``http`` or ``https`` and a plain
``host[:port]``, or there is none and the signature check fails, even for a request signed
for exactly what the headers say.
"""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st
from starlette.types import Scope

from chatbot_devstack import signed
from chatbot_ingress.signature import SignatureChecker

TOKEN = "test-auth-token"
PATH = "/twilio/messages"
FORM = {"MessageSid": "SM" + "a" * 32, "Body": "hi"}

header_text = st.text(st.characters(min_codepoint=0x20, max_codepoint=0x7E), max_size=40)
"""What a client can put in a header value (printable ASCII)."""
label = st.from_regex(r"[A-Za-z0-9]([A-Za-z0-9-]{0,10}[A-Za-z0-9])?", fullmatch=True)
hosts = st.builds(
    lambda labels, port: ".".join(labels) + (f":{port}" if port is not None else ""),
    st.lists(label, min_size=1, max_size=4),
    st.one_of(st.none(), st.integers(1, 65535)),
)
good_schemes = st.sampled_from(["http", "https", "HTTPS", "Http"])
bad_schemes = header_text.filter(
    # An empty header is no header: the connection's own scheme is used.
    lambda s: s != "" and s.split(",")[0].strip().lower() not in ("http", "https")
)
bad_hosts = st.builds(
    lambda h, c, t: h + c + "x" + t, hosts, st.sampled_from("/@?#\\ %<>\"'`{}|^"), header_text
)
"""A host followed by what would turn the rest into a user part, a path, a query, ... (with
something after it: a header value's trailing space is not part of it)."""


def scope(headers: dict[str, str], *, scheme: str = "http") -> Scope:
    return {
        "type": "http",
        "path": PATH,
        "query_string": b"",
        "scheme": scheme,
        "headers": [(k.lower().encode(), v.encode("latin-1")) for k, v in headers.items()],
    }


def signed_for(url: str) -> dict[str, str]:
    return signed(url, FORM, TOKEN)


def checker(*, trust_proxy_headers: bool) -> SignatureChecker:
    return SignatureChecker(TOKEN, public_base_url=None, trust_proxy_headers=trust_proxy_headers)


@given(scheme=bad_schemes, host=hosts)
def test_a_forwarded_scheme_other_than_http_or_https_makes_no_url(scheme: str, host: str) -> None:
    request = scope(
        {"Host": "ingress:8080", "X-Forwarded-Proto": scheme, "X-Forwarded-Host": host}
        | signed_for(f"{scheme}://{host}{PATH}")
    )
    trusting = checker(trust_proxy_headers=True)
    assert trusting.signed_url(request) is None
    assert not trusting.is_valid(request, FORM)


@given(host=bad_hosts, trusted=st.booleans())
def test_a_host_that_is_not_host_and_port_makes_no_url(host: str, trusted: bool) -> None:
    headers = {"X-Forwarded-Host": host, "X-Forwarded-Proto": "https"} if trusted else {}
    request = scope(
        {"Host": "ingress:8080" if trusted else host}
        | headers
        | signed_for(f"{'https' if trusted else 'http'}://{host}{PATH}")
    )
    check = checker(trust_proxy_headers=trusted)
    assert check.signed_url(request) is None
    assert not check.is_valid(request, FORM)


def test_no_host_at_all_makes_no_url() -> None:
    request = scope(signed_for(f"http://{PATH}"))
    assert checker(trust_proxy_headers=False).signed_url(request) is None
    assert checker(trust_proxy_headers=True).signed_url(request) is None


@given(scheme=good_schemes, host=hosts)
def test_a_forwarded_http_url_is_checked_as_twilio_signs_it(scheme: str, host: str) -> None:
    url = f"{scheme.lower()}://{host}{PATH}"
    request = scope(
        {"Host": "ingress:8080", "X-Forwarded-Proto": scheme, "X-Forwarded-Host": host}
        | signed_for(url)
    )
    trusting = checker(trust_proxy_headers=True)
    assert trusting.signed_url(request) == url
    assert trusting.is_valid(request, FORM)


@given(host=hosts)
def test_without_proxy_trust_the_host_header_and_the_connection_scheme_are_used(
    host: str,
) -> None:
    request = scope(
        {"Host": host, "X-Forwarded-Proto": "javascript", "X-Forwarded-Host": "evil.example"}
        | signed_for(f"http://{host}{PATH}")
    )
    plain = checker(trust_proxy_headers=False)
    assert plain.signed_url(request) == f"http://{host}{PATH}"
    assert plain.is_valid(request, FORM)


@given(headers=st.dictionaries(st.sampled_from(["Host", "X-Forwarded-Host"]), header_text))
def test_a_public_base_url_ignores_the_request_headers(headers: dict[str, str]) -> None:
    configured = SignatureChecker(
        TOKEN, public_base_url="https://bot.example.com/", trust_proxy_headers=True
    )
    request = scope(headers | {"X-Forwarded-Proto": "javascript"})
    assert configured.signed_url(request) == f"https://bot.example.com{PATH}"
