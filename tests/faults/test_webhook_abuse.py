"""Webhook abuse against a running ingress: fuzzing, oversized bodies, floods, replays.

One ``chatbot-ingress`` process (and its own nats-server) serves the whole module, as in
production: uvicorn in front, a real JetStream behind. Whatever arrives, ingress never answers
500, and nothing reaches CHAT_INBOUND or CHAT_EVENTS without a valid Twilio signature for the
exact URL it was posted to.
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass, field
from pathlib import Path

import httpx
import nats
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from nats.aio.client import Client as NATS

from chatbot_common.topology import EVENTS, INBOUND
from chatbot_devstack import BUSINESS_NUMBER, inbound_form, signed, started_stack

pytestmark = pytest.mark.e2e

MESSAGES, STATUS = "/twilio/messages", "/twilio/status"
MAX_BODY_BYTES = 65536  # ingress's default
FUZZ = settings(
    max_examples=150,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)

TWILIO_FIELDS = [
    "MessageSid",
    "AccountSid",
    "From",
    "To",
    "Body",
    "NumMedia",
    "MediaUrl0",
    "MediaContentType0",
    "Latitude",
    "Longitude",
    "ButtonText",
    "MessageStatus",
    "ErrorCode",
    "ProfileName",
]
field_names = st.one_of(st.sampled_from(TWILIO_FIELDS), st.text(max_size=20))
field_values = st.one_of(
    st.text(max_size=60),
    st.sampled_from(["whatsapp:+15550001111", BUSINESS_NUMBER, "SM" + "a" * 32, "3"]),
    st.integers(-(10**20), 10**20).map(str),
    st.floats(allow_nan=True).map(str),
)
forms = st.dictionaries(field_names, field_values, max_size=14)
content_types = st.sampled_from(
    [
        "application/x-www-form-urlencoded",
        "application/x-www-form-urlencoded; charset=utf-8",
        "APPLICATION/X-WWW-FORM-URLENCODED",
        "application/json",
        "multipart/form-data; boundary=xyz",
        "text/plain",
        "",
    ]
)


ID = r"[A-Za-z0-9]{1,40}"
IDS = ("MessageSid", "MessageStatus")
FORM = {"Content-Type": "application/x-www-form-urlencoded"}
PLAIN = {"PATH": "/usr/bin:/bin"}


def encoded(form: dict[str, str]) -> bytes:
    """A form as a webhook body (also when empty, where httpx would send no body type)."""
    return str(httpx.QueryParams(form)).encode()


@dataclass(frozen=True)
class Ingress:
    """A running ingress, the NATS it publishes to, and the webhook ids it took so far."""

    url: str
    nats_url: str
    taken: set[tuple[str, str | None, str | None]] = field(default_factory=set)


@pytest.fixture(scope="module")
def ingress(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Ingress]:
    directory: Path = tmp_path_factory.mktemp("webhook-abuse")
    log = (directory / "processes.log").open("a", buffering=1)

    def sink(name: str, line: str) -> None:
        log.write(f"{name:<8}| {line}\n")

    try:
        with started_stack(
            run_dir=directory, environment=PLAIN, sink=sink, parts=("nats", "ingress")
        ) as stack:
            yield Ingress(stack.url("ingress"), stack.env["NATS_URL"])
    finally:
        log.close()


@pytest.fixture
async def nc(ingress: Ingress) -> AsyncIterator[NATS]:
    client = await nats.connect(ingress.nats_url)
    try:
        yield client
    finally:
        await client.close()


async def published(nc: NATS) -> int:
    """Messages in CHAT_INBOUND and CHAT_EVENTS together."""
    js = nc.jetstream()
    return sum([(await js.stream_info(s.name)).state.messages for s in (INBOUND, EVENTS)])


async def duplicates(http: httpx.AsyncClient, ingress: Ingress) -> float:
    text = (await http.get(f"{ingress.url}/metrics")).text
    line = f'chatbot_webhook_duplicates_total{{route="{MESSAGES}"}} '
    return sum(float(row.removeprefix(line)) for row in text.splitlines() if row.startswith(line))


@FUZZ
@given(
    path=st.sampled_from([MESSAGES, STATUS]),
    form=forms,
    content_type=content_types,
    signature=st.one_of(
        st.none(),
        # What an HTTP client can send: printable ASCII, no whitespace at the ends.
        st.text(st.characters(min_codepoint=0x20, max_codepoint=0x7E), max_size=40).map(str.strip),
        st.binary(max_size=30).map(bytes.hex),
    ),
)
async def test_fuzzed_unsigned_webhooks_never_fail_and_publish_nothing(
    ingress: Ingress,
    http: httpx.AsyncClient,
    nc: NATS,
    path: str,
    form: dict[str, str],
    content_type: str,
    signature: str | None,
) -> None:
    before = await published(nc)
    headers = {"Content-Type": content_type}
    if signature is not None:
        headers["X-Twilio-Signature"] = signature
    answer = await http.post(f"{ingress.url}{path}", content=encoded(form), headers=headers)
    assert answer.status_code in (400, 403, 415), answer.text
    assert await published(nc) == before


@FUZZ
@given(path=st.sampled_from([MESSAGES, STATUS]), body=st.binary(max_size=300))
async def test_fuzzed_raw_bodies_never_fail_and_publish_nothing(
    ingress: Ingress, http: httpx.AsyncClient, nc: NATS, path: str, body: bytes
) -> None:
    before = await published(nc)
    answer = await http.post(
        f"{ingress.url}{path}",
        content=body,
        headers=FORM | {"X-Twilio-Signature": "bm90IGl0"},
    )
    assert answer.status_code in (400, 403), answer.text
    assert await published(nc) == before


@FUZZ
@given(
    path=st.sampled_from([MESSAGES, STATUS]),
    required=st.fixed_dictionaries(
        {},
        optional={
            # Ids (they become Nats-Msg-Id headers) as Twilio shapes them: letters and digits;
            # one SID comes back in many examples, and only its first must be published.
            "MessageSid": st.one_of(
                st.just(f"SM{uuid.uuid4().hex}"), st.from_regex(ID, fullmatch=True)
            ),
            "MessageStatus": st.one_of(
                st.sampled_from(["sent", "read"]), st.from_regex(ID, fullmatch=True)
            ),
            "From": field_values,
            "To": field_values,
        },
    ),
    extra=forms,
)
async def test_fuzzed_signed_webhooks_are_taken_once_or_refused_never_fail(
    ingress: Ingress,
    http: httpx.AsyncClient,
    nc: NATS,
    path: str,
    required: dict[str, str],
    extra: dict[str, str],
) -> None:
    form = {name: value for name, value in extra.items() if name not in IDS} | required
    before = await published(nc)
    url = f"{ingress.url}{path}"
    answer = await http.post(url, content=encoded(form), headers=signed(url, form) | FORM)
    assert answer.status_code in (200, 400), answer.text
    # Taken means published, once per id: a MessageSid (and status, for a status callback).
    taken = (path, form.get("MessageSid"), form.get("MessageStatus") if path == STATUS else None)
    new = answer.status_code == 200 and taken not in ingress.taken
    if new:
        ingress.taken.add(taken)
    assert await published(nc) == before + new


@pytest.mark.parametrize("chunked", [False, True], ids=["content-length", "chunked"])
async def test_an_oversized_body_is_refused_even_when_signed(
    ingress: Ingress, http: httpx.AsyncClient, nc: NATS, chunked: bool
) -> None:
    form = inbound_form("x" * MAX_BODY_BYTES)
    url = f"{ingress.url}{MESSAGES}"
    body = encoded(form)
    headers = signed(url, form) | FORM

    async def in_pieces() -> AsyncIterator[bytes]:
        for start in range(0, len(body), 4096):
            yield body[start : start + 4096]

    before = await published(nc)
    answer = await http.post(url, content=in_pieces() if chunked else body, headers=headers)
    assert answer.status_code == 413
    assert await published(nc) == before


@pytest.mark.parametrize(
    "content_type", ["application/json", "multipart/form-data; boundary=x", "text/plain", None]
)
async def test_a_wrong_content_type_is_refused_even_when_signed(
    ingress: Ingress, http: httpx.AsyncClient, nc: NATS, content_type: str | None
) -> None:
    form = inbound_form("hello")
    url = f"{ingress.url}{MESSAGES}"
    headers = signed(url, form) | ({"Content-Type": content_type} if content_type else {})
    before = await published(nc)
    answer = await http.post(url, content=encoded(form), headers=headers)
    assert answer.status_code == 415
    assert await published(nc) == before


async def test_a_duplicate_flood_is_one_stream_message(
    ingress: Ingress, http: httpx.AsyncClient, nc: NATS
) -> None:
    form = inbound_form("said once, delivered fifty times")
    url = f"{ingress.url}{MESSAGES}"
    before, dropped = await published(nc), await duplicates(http, ingress)
    answers = await asyncio.gather(
        *(http.post(url, data=form, headers=signed(url, form)) for _ in range(50))
    )
    assert [answer.status_code for answer in answers] == [200] * 50
    assert await published(nc) == before + 1
    assert await duplicates(http, ingress) == dropped + 49


@pytest.mark.parametrize(
    ("signed_for", "posted_to"),
    [
        (MESSAGES, STATUS),
        (STATUS, MESSAGES),
        (MESSAGES, f"{MESSAGES}?retry=1"),
        ("https://bot.example.com" + MESSAGES, MESSAGES),
    ],
    ids=["messages-to-status", "status-to-messages", "another-query", "another-host"],
)
async def test_a_valid_signature_replayed_against_another_url_is_refused(
    ingress: Ingress, http: httpx.AsyncClient, nc: NATS, signed_for: str, posted_to: str
) -> None:
    form = inbound_form("replayed") | {"MessageStatus": "delivered"}
    signed_url = signed_for if "://" in signed_for else f"{ingress.url}{signed_for}"
    before = await published(nc)
    answer = await http.post(
        f"{ingress.url}{posted_to}", data=form, headers=signed(signed_url, form)
    )
    assert answer.status_code == 403
    assert await published(nc) == before
