"""The console's HTTP API (docs/console.md, *API*): its paths are a contract scripts rely on."""

from __future__ import annotations

import re
from typing import Annotated, Literal

from fastapi import APIRouter, HTTPException, Query, Request
from fastapi.responses import JSONResponse
from nats.js.errors import NotFoundError
from pydantic import BaseModel

from chatbot_common.contracts import ContractError, DeadLetter, utcnow
from chatbot_common.dlq_records import dead_letter_at, dead_letters, replay
from chatbot_common.userkey import USER_KEY_LENGTH

from .actions import Asked
from .auth import Operator
from .deps import Console, ConsoleDep, OperatorDep
from .export import Export
from .outreach import IDEMPOTENCY_HEADER, WHATSAPP_ADDRESS
from .overview import Overview
from .users import Found, Transcript, UserView

__all__ = ["router"]

_USER_KEY = re.compile(f"[0-9a-f]{{{USER_KEY_LENGTH}}}")


class Lookup(BaseModel):
    users: list[Found]


class Letter(BaseModel):
    id: int
    record: DeadLetter


class Letters(BaseModel):
    dead_letters: list[Letter]
    unreadable: list[int]


class Accepted(BaseModel):
    """An action queued in the user's own order: it takes effect after their earlier turns."""

    action: str
    user_key: str
    request: str


class ReplayAnswer(BaseModel):
    id: int
    outcome: Literal["replayed", "already_replayed", "cut"]
    where: str | None


router = APIRouter(prefix="/api")


@router.get("/overview")
async def overview(who: OperatorDep, console: ConsoleDep) -> Overview:
    """Traffic in the last hour, dead letters by reason, users waiting for a person, and the
    models' shutdown dates."""
    return await console.overviews.read(utcnow())


@router.get("/users")
async def lookup(who: OperatorDep, console: ConsoleDep, phone: Annotated[str, Query()]) -> Lookup:
    """The user (one per business number) a WhatsApp number names."""
    if not WHATSAPP_ADDRESS.fullmatch(phone):
        raise HTTPException(400, "phone: a WhatsApp address, e.g. whatsapp:+15550001111")
    users = await console.users.find(phone)
    known = ",".join(u.user_key for u in users if u.known)
    await console.actions.audit(who, "lookup", target=known or None)
    return Lookup(users=users)


@router.get("/users/{user_key}")
async def user(who: OperatorDep, console: ConsoleDep, user_key: str) -> UserView:
    """The user's mode, counters, unanswered messages and dead letters."""
    view = await console.users.view(_checked(user_key))
    if view is None:
        raise HTTPException(404, "no such user")
    return view


@router.get("/users/{user_key}/transcript")
async def transcript(who: OperatorDep, console: ConsoleDep, user_key: str) -> Transcript:
    """The user's chat as the model has it, oldest first."""
    chat = await console.users.transcript(_checked(user_key))
    if chat is None:
        raise HTTPException(404, "no such user")
    return chat


@router.get("/users/{user_key}/export")
async def export(who: OperatorDep, console: ConsoleDep, user_key: str) -> Export:
    """Everything held about the user, as one JSON document (their messages included)."""
    document = await console.exporter.export(_checked(user_key), now=utcnow())
    if document is None:
        raise HTTPException(404, "nothing is held about this user")
    await console.actions.audit(who, "export", user_key=user_key)
    return document


@router.post("/users/{user_key}/reset", status_code=202)
async def reset(who: OperatorDep, console: ConsoleDep, user_key: str) -> Accepted:
    """Start the user's conversation over, after the turns of what they already sent."""
    return await _asked(who, console, user_key, "reset")


@router.post("/users/{user_key}/handoff", status_code=202)
async def handoff(who: OperatorDep, console: ConsoleDep, user_key: str) -> Accepted:
    """Hand the user to a person at the desk, after their earlier turns (a user who is with
    a person already, or never wrote, is left as they are)."""
    return await _asked(who, console, user_key, "handoff")


@router.post("/users/{user_key}/handback", status_code=202)
async def handback(who: OperatorDep, console: ConsoleDep, user_key: str) -> Accepted:
    """Hand the user back from a person to the bot (the desk's conversation resolved)."""
    return await _asked(who, console, user_key, "handback")


async def _asked(who: Operator, console: Console, user_key: str, action: Asked) -> Accepted:
    request = await console.actions.ask(who, _checked(user_key), action)
    return Accepted(action=action, user_key=user_key, request=request)


@router.post("/users/{user_key}/erase")
async def erase(who: OperatorDep, console: ConsoleDep, user_key: str) -> JSONResponse:
    """Delete everything held about the user (GDPR article 17): 200 with what became of each
    store, or 202 when the conversation service has not reported yet (ask again)."""
    erased = await console.eraser.erase(who, _checked(user_key))
    return JSONResponse(erased.model_dump(), status_code=200 if erased.done else 202)


@router.post("/messages", status_code=202)
async def message(who: OperatorDep, console: ConsoleDep, request: Request) -> JSONResponse:
    """Send the user a message the business starts: 202 once queued; a retry with the same
    Idempotency-Key answers the same and sends nothing again (docs/console.md, *Sending
    messages (outreach)*). The body is checked here, so a bad one is 400, never 422."""
    answer = await console.outreach.send(
        who, request.headers.getlist(IDEMPOTENCY_HEADER), await request.body()
    )
    return JSONResponse(answer.body, status_code=answer.status, headers=answer.headers)


@router.get("/dlq")
async def letters(
    who: OperatorDep, console: ConsoleDep, service: str | None = None, reason: str | None = None
) -> Letters:
    """Dead letters, oldest first, only a service's or a reason's when asked."""
    found, unreadable = [], []
    async for seq, record in dead_letters(console.js, service):
        if isinstance(record, ContractError):
            unreadable.append(seq)
        elif reason is None or record.reason == reason:
            found.append(Letter(id=seq, record=record))
    return Letters(dead_letters=found, unreadable=unreadable)


@router.get("/dlq/{letter_id}")
async def letter(who: OperatorDep, console: ConsoleDep, letter_id: int) -> Letter:
    """One dead letter, whole (it holds the original payload)."""
    try:
        return Letter(id=letter_id, record=await dead_letter_at(console.js, letter_id))
    except (NotFoundError, ContractError):
        raise HTTPException(404, "no such dead letter") from None


@router.post("/dlq/{letter_id}/replay")
async def replay_letter(who: OperatorDep, console: ConsoleDep, letter_id: int) -> ReplayAnswer:
    """Publish the original message again; a second replay of one record is dropped."""
    try:
        replayed = await replay(console.js, letter_id)
    except (NotFoundError, ContractError):
        raise HTTPException(404, "no such dead letter") from None
    await console.actions.audit(who, "replay", target=f"dlq:{letter_id}")
    return ReplayAnswer(id=letter_id, outcome=replayed.outcome, where=replayed.where)


def _checked(user_key: str) -> str:
    if not _USER_KEY.fullmatch(user_key):
        raise HTTPException(400, f"user_key: {USER_KEY_LENGTH} lowercase hex characters")
    return user_key
