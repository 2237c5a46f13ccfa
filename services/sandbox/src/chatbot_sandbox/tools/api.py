"""The example tool endpoints: ``lookup_order`` over orders.json, ``current_time``, and an
echo for any other name (what the tests call). Every call is recorded; faults are queued."""

from __future__ import annotations

import asyncio
import json
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse

from chatbot_sandbox.deps import Store
from chatbot_sandbox.tools.records import ToolCallRecord, ToolFault

__all__ = ["router"]

router = APIRouter(tags=["tools"])

_ORDERS: dict[str, dict[str, Any]] = json.loads((Path(__file__).parent / "orders.json").read_text())


@router.post("/tools/{name}")
async def call_tool(name: str, request: Request, store: Store) -> JSONResponse:
    """Answer one call as an operator's endpoint would: ``{"output": ...}``."""
    try:
        body = await request.json()
    except ValueError:
        body = None
    record = ToolCallRecord(name, request.headers.get("idempotency-key"), body)
    store.tool_calls.append(record)
    fault = store.take_tool_fault(name)
    if fault is not None and fault.delay:
        await asyncio.sleep(fault.delay)
    if fault is not None and fault.status is not None:
        answer = JSONResponse({"error": f"sandbox fault: HTTP {fault.status}"}, fault.status)
    elif not isinstance(body, dict) or not isinstance(body.get("arguments"), dict):
        answer = JSONResponse({"error": "expected {tool, arguments, call_id, user}"}, 400)
    else:
        answer = JSONResponse({"output": _output(name, body["arguments"])})
    record.status_code = answer.status_code
    store.tool_calls.notify()
    return answer


def _output(name: str, arguments: dict[str, Any]) -> Any:
    if name == "current_time":
        return datetime.now(UTC).strftime("%A %d %B %Y, %H:%M UTC")
    if name == "lookup_order":
        number = str(arguments.get("order", "")).lstrip("#")
        order = _ORDERS.get(number)
        if order is None:
            return f"There is no order {number}."
        arrives = f", arriving {order['arrives']}" if order["arrives"] else ""
        return f"Order {number}: {order['item']}, {order['status']}{arrives}."
    return {"tool": name, "arguments": arguments}


@router.post("/_sandbox/tools/faults", tags=["sandbox"])
async def queue_fault(fault: ToolFault, store: Store) -> list[dict[str, Any]]:
    """Queue a fault of the tool endpoints; answer the whole queue."""
    store.tool_faults.append(fault)
    return [queued.model_dump() for queued in store.tool_faults]
