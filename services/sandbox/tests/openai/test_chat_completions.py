"""The Chat Completions API of the fake OpenAI, driven by the real `openai` SDK."""

from __future__ import annotations

import httpx
import openai

from chatbot_devstack.embedded import RunningSandbox

MODEL = "local-model"


async def test_reply_numbers_the_turn_from_the_history_sent(
    sandbox: RunningSandbox, client: openai.AsyncOpenAI
) -> None:
    first = await client.chat.completions.create(
        model=MODEL,
        messages=[
            {"role": "system", "content": "Be brief."},
            {"role": "user", "content": "hello there"},
        ],
        max_tokens=50,
        temperature=0.2,
    )
    second = await client.chat.completions.create(
        model=MODEL,
        messages=[
            {"role": "system", "content": "Be brief."},
            {"role": "user", "content": "hello there"},
            {"role": "assistant", "content": first.choices[0].message.content},
            {"role": "user", "content": "one"},
            {"role": "user", "content": [{"type": "text", "text": "two"}]},
        ],
    )

    assert first.choices[0].message.content == "Echo #1: hello there"
    assert first.choices[0].finish_reason == "stop"
    assert first.object == "chat.completion"
    assert first.model == MODEL
    assert first.usage is not None
    assert (first.usage.prompt_tokens, first.usage.completion_tokens) == (4, 4)
    assert second.choices[0].message.content == "Echo #2: one\ntwo"
    assert first.id != second.id

    records = sandbox.store.openai_requests.snapshot()
    assert [r.endpoint for r in records] == ["chat.completions.create"] * 2
    assert records[0].instructions == ["Be brief."]
    assert records[0].input_text == "hello there"
    assert records[1].input is not None
    assert len(records[1].input) == 5
    assert records[1].status_code == 200


async def test_missing_bearer_is_401(http: httpx.AsyncClient) -> None:
    answer = await http.post(
        "/v1/chat/completions",
        json={"model": MODEL, "messages": [{"role": "user", "content": "hi"}]},
    )
    assert answer.status_code == 401
    assert answer.json()["error"]["code"] == "invalid_api_key"


async def test_a_missing_required_parameter_is_400_as_the_api_answers_it(
    sandbox: RunningSandbox, http: httpx.AsyncClient
) -> None:
    answer = await http.post(
        "/v1/chat/completions", json={"model": MODEL}, headers={"Authorization": "Bearer sk"}
    )
    assert answer.status_code == 400
    error = answer.json()["error"]
    assert (error["param"], error["code"]) == ("messages", "missing_required_parameter")
    assert error["message"] == "Missing required parameter: 'messages'."
    [record] = sandbox.store.openai_requests.snapshot()
    assert record.status_code == 400  # recorded as refused, not lost in a server error


def _image(**detail: object) -> list[dict[str, object]]:
    part = {"type": "image_url", "image_url": {"url": "https://example.com/a.png", **detail}}
    return [{"role": "user", "content": [part]}]


async def test_an_image_part_is_echoed(client: openai.AsyncOpenAI) -> None:
    reply = await client.chat.completions.create(
        model=MODEL, messages=_image(detail="low"), temperature=0, max_completion_tokens=16
    )
    assert reply.choices[0].message.content == "Echo #1: [image]"
