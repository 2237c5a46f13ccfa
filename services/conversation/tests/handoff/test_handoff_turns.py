"""Handoff turns inside the service, against the sandbox's fake Chatwoot over HTTP: a keyword
or the model hands the user to a person; their messages then go to the desk, not to the model;
the person's messages reach the user; and the desk, or the idle timer, hands them back."""

from __future__ import annotations

from typing import Any

import aiohttp
import pytest

from chatbot_conversation.app import _desk
from chatbot_conversation.config import ConversationSettings
from chatbot_conversation.handoff import Forwarded
from chatbot_conversation.replies import DESK_SLOW, DESK_UNAVAILABLE
from chatbot_sandbox.chatwoot.records import ChatwootFault

from .helpers import HANDED, RETURNED, context_of, desk_settings, handed_off, metric


async def test_a_keyword_hands_the_user_to_a_person_and_then_the_model_is_not_asked(
    chat: Any, start_service: Any
) -> None:
    started = metric("chatbot_handoffs_started_total", reason="keyword")
    async with start_service(**desk_settings(chat)):
        await chat.send("hello")
        await chat.replies(1)
        seq = await chat.send("  Human ")
        assert (await chat.replies(2))[1] == HANDED
        state = await chat.answered(seq)
        first = await chat.send("my order never came")
        second = await chat.send("it was 1042")
        await chat.answered(second)

    assert state.handoff is not None
    assert state.handoff.reason == "keyword"
    account = chat.sandbox.store.chatwoot
    (conversation,) = account.conversations.values()
    assert str(conversation.id) == state.handoff.desk_conversation
    assert conversation.status == "open"
    assert conversation.custom_attributes == {"chatbot_user": chat.key()}
    contact = conversation.contact_inbox.contact
    assert (contact.phone_number, contact.identifier) == (
        chat.USER.removeprefix("whatsapp:"),
        chat.key(),
    )
    note, *forwarded = conversation.messages
    assert note.private
    assert note.content == (
        "The user asked for a person.\n\nLast messages:\n"
        "User: hello\nAssistant: Echo #1: hello\nUser:   Human "
    )
    assert [(m.message_type, m.content, m.source_id) for m in forwarded] == [
        ("incoming", "my order never came", chat.sids[first]),
        ("incoming", "it was 1042", chat.sids[second]),
    ]
    assert len(chat.model_requests()) == 1  # only "hello"
    assert len(chat.texts()) == 2  # no reply to forwarded messages
    assert metric("chatbot_handoffs_started_total", reason="keyword") == started + 1


async def test_messages_a_re_run_already_forwarded_are_not_posted_twice(
    chat: Any, start_service: Any
) -> None:
    async with start_service(**desk_settings(chat)):
        seq = await chat.send("agent")
        await chat.answered(seq)
    settings = ConversationSettings(openai_api_key="k", user_key_secret="s", **desk_settings(chat))
    async with aiohttp.ClientSession() as session:
        desk = _desk(session, settings)  # the client the service builds
        assert desk is not None
        (conversation,) = chat.sandbox.store.chatwoot.conversations.values()
        given = [Forwarded("SM1", "one"), Forwarded("SM2", "two")]
        assert await desk.forward(str(conversation.id), given, again=False) == 2
        again = [*given, Forwarded("SM3", "three")]  # a re-run, which lists what is there
        assert await desk.forward(str(conversation.id), again, again=True) == 1
    contents = [m.content for m in conversation.messages if m.message_type == "incoming"]
    assert contents == ["one", "two", "three"]


async def test_a_desk_that_stays_down_dead_letters_and_tells_the_user(
    chat: Any, start_service: Any
) -> None:
    chat.sandbox.store.chatwoot_faults.append(ChatwootFault(status=503, times=1000))
    async with start_service(**desk_settings(chat), openai_max_attempts=2):
        seq = await chat.send("person")
        assert await chat.replies(1) == [DESK_UNAVAILABLE]
        state = await chat.answered(seq)

    assert state.handoff is None
    (letter,) = await chat.dead_letters()
    assert (letter.reason, letter.error_code) == ("desk_unavailable", "open")


def test_a_chatwoot_desk_needs_its_address_ids_and_token() -> None:
    with pytest.raises(ValueError, match="needs CHATWOOT_BASE_URL, CHATWOOT_ACCOUNT_ID"):
        ConversationSettings(openai_api_key="k", user_key_secret="s", handoff_desk="chatwoot")
    settings = ConversationSettings(
        openai_api_key="k", user_key_secret="s", handoff_keywords="Human, AGENT ,"
    )
    assert settings.handoff_keywords == {"human", "agent"}


async def test_a_person_s_messages_reach_the_user_once_and_the_bot_resumes_with_context(
    chat: Any, start_service: Any
) -> None:
    ended = metric("chatbot_handoffs_ended_total", reason="resolved")
    async with start_service(**desk_settings(chat)):
        conversation = await handed_off(chat)
        desk = {"desk": "chatwoot", "conversation": str(conversation.id)}
        reply = {"event": "agent_message", "body": "Your parcel left today.", "agent": "Ann"}
        seq = await chat.desk_event("chatwoot:message:7", **desk, **reply)
        assert await chat.desk_event("chatwoot:message:7", **desk, **reply) == 0  # a duplicate
        state = await chat.answered(seq)
        back = await chat.desk_event("d-1", **desk, event="handback", status="resolved")
        after = await chat.answered(back)
        asked = await chat.send("when does it arrive?")
        await chat.answered(asked)

    assert [m.body for m in chat.texts()] == [
        HANDED,
        "Your parcel left today.",
        RETURNED,
        "Echo #4: when does it arrive?",  # three answers were added to its context
    ]
    person = chat.texts()[1]
    assert (person.to, person.from_, person.in_reply_to) == (chat.USER, chat.BUSINESS, ())
    assert state.handoff is not None
    assert state.handoff.last_agent_at is not None
    assert state.handoff.waiting_since is None
    assert after.handoff is None
    assert context_of(chat)[:4] == [
        ("user", "person"),
        ("assistant", HANDED),
        ("assistant", "[Ann, from our team] Your parcel left today."),
        ("assistant", RETURNED),
    ]
    assert len(chat.model_requests()) == 1  # the last message only
    assert metric("chatbot_handoffs_ended_total", reason="resolved") == ended + 1


async def test_desk_events_for_another_conversation_are_counted_and_dropped(
    chat: Any, start_service: Any
) -> None:
    ignored = metric("chatbot_desk_events_ignored_total", event="agent_message")
    async with start_service(**desk_settings(chat)):
        before = await chat.desk_event(
            "m-1", desk="chatwoot", conversation="9", event="agent_message", body="hi"
        )
        await chat.answered(before)
        conversation = await handed_off(chat)
        stale = await chat.desk_event(
            "m-2", desk="chatwoot", conversation="9", event="agent_message", body="hi"
        )
        state = await chat.answered(stale)

    assert state.handoff is not None
    assert state.handoff.desk_conversation == str(conversation.id)
    assert [m.body for m in chat.texts()] == [HANDED]
    assert metric("chatbot_desk_events_ignored_total", event="agent_message") == ignored + 2


async def test_the_model_hands_the_user_over_with_its_reason_and_summary(
    chat: Any, start_service: Any
) -> None:
    started = metric("chatbot_handoffs_started_total", reason="model")
    async with start_service(**desk_settings(chat)):
        seq = await chat.send("handoff_to_human refund angry")
        state = await chat.answered(seq)

    assert state.handoff is not None
    assert state.handoff.reason == "model"
    assert [m.body for m in chat.texts()] == [HANDED]
    assert len(chat.model_requests()) == 1  # the call's output went in without asking again
    (conversation,) = chat.sandbox.store.chatwoot.conversations.values()
    note = conversation.messages[0]
    assert note.private
    assert "Reason: refund\nSummary: angry" in note.content
    (openai_conversation,) = chat.sandbox.store.conversations.values()
    assert openai_conversation.open_calls == []
    assert metric("chatbot_handoffs_started_total", reason="model") == started + 1


async def test_a_user_no_person_answers_is_handed_back_after_the_idle_timeout(
    chat: Any, start_service: Any
) -> None:
    ended = metric("chatbot_handoffs_ended_total", reason="idle")
    settings = desk_settings(chat) | {
        "handoff_idle_timeout": 0.5,
        "handoff_check_interval": 0.1,
    }
    async with start_service(**settings):
        conversation = await handed_off(chat)
        assert await chat.replies(2) == [HANDED, RETURNED]

    state = await chat.state()
    assert state.handoff is None
    assert conversation.status == "resolved"
    assert "no reply from our team" in conversation.messages[-1].content
    assert metric("chatbot_handoffs_ended_total", reason="idle") == ended + 1


async def test_a_desk_down_while_forwarding_dead_letters_and_tells_the_user_once(
    chat: Any, start_service: Any
) -> None:
    async with start_service(**desk_settings(chat), openai_max_attempts=2):
        await handed_off(chat)
        chat.sandbox.store.chatwoot_faults.append(ChatwootFault(status=503, times=1000))
        await chat.answered(await chat.send("hello?"))
        await chat.answered(await chat.send("anyone?"))

    assert [m.body for m in chat.texts()] == [HANDED, DESK_SLOW]
    letters = await chat.dead_letters()
    assert [(d.reason, d.error_code) for d in letters] == [("desk_unavailable", "forward")] * 2


async def test_a_photo_and_a_voice_note_reach_the_person_as_files_with_the_transcript(
    chat: Any, start_service: Any
) -> None:
    photo_bytes = b"\x89PNG\r\n\x1a\n" + bytes(range(256))
    voice_bytes = b"where is my parcel"
    photo = await chat.upload(photo_bytes, "image/png")
    voice = await chat.upload(voice_bytes, "audio/ogg")
    async with start_service(**desk_settings(chat)):
        conversation = await handed_off(chat)
        await chat.answered(await chat.send("look", media=[photo]))
        await chat.answered(await chat.send("", media=[voice]))

    pictured, spoken = conversation.messages[-2:]
    assert pictured.content == "look"
    assert [(a.content_type, a.data) for a in pictured.attachments] == [("image/png", photo_bytes)]
    assert spoken.content == "[Voice note, transcribed:] where is my parcel"
    assert [(a.content_type, a.data) for a in spoken.attachments] == [("audio/ogg", voice_bytes)]
    assert [m.body for m in chat.texts()] == [HANDED]


async def test_an_operator_hands_the_user_back_and_the_desk_conversation_is_resolved(
    chat: Any, start_service: Any
) -> None:
    ended = metric("chatbot_handoffs_ended_total", reason="operator")
    async with start_service(**desk_settings(chat)):
        conversation = await handed_off(chat)
        back = await chat.desk_event("operator:1", desk="operator", event="handback")
        state = await chat.answered(back)

    assert state.handoff is None
    assert [m.body for m in chat.texts()] == [HANDED, RETURNED]
    assert conversation.status == "resolved"
    assert conversation.messages[-1].content == "Handed back to the bot: an operator."
    assert metric("chatbot_handoffs_ended_total", reason="operator") == ended + 1


async def test_an_operator_hands_a_user_who_wrote_to_a_person(
    chat: Any, start_service: Any
) -> None:
    started = metric("chatbot_handoffs_started_total", reason="operator")
    async with start_service(**desk_settings(chat)):
        ask = {"desk": "operator", "event": "handoff"}
        nobody = await chat.desk_event("operator:0", user=chat.OTHER, **ask)
        await chat.answered(nobody, user=chat.OTHER)
        await chat.answered(await chat.send("hello"))
        asked = await chat.desk_event("operator:1", **ask)
        state = await chat.answered(asked)
        again = await chat.desk_event("operator:2", **ask)
        await chat.answered(again)

    assert state.handoff is not None
    assert state.handoff.reason == "operator"
    handed = chat.texts()[-1]
    assert (handed.body, handed.to, handed.from_) == (HANDED, chat.USER, chat.BUSINESS)
    assert len(chat.texts()) == 2  # the echo, then the handoff; the second ask changed nothing
    assert chat.texts(chat.OTHER) == []  # who never wrote cannot be handed over
    (conversation,) = chat.sandbox.store.chatwoot.conversations.values()
    assert conversation.messages[0].content.startswith("An operator handed the user over.")
    assert "User: hello" in conversation.messages[0].content
    assert metric("chatbot_handoffs_started_total", reason="operator") == started + 1
