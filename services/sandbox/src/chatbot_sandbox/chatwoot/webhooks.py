"""The API inbox's webhooks: signed JSON posts, one attempt each, a conversation's in order."""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import json
import logging
import time
import uuid
from collections import defaultdict
from typing import Any

import httpx

from chatbot_sandbox.chatwoot.records import WebhookDeliveryRecord
from chatbot_sandbox.chatwoot.settings import ChatwootSettings
from chatbot_sandbox.posting import BackgroundPoster
from chatbot_sandbox.records import RecordLog

__all__ = ["WebhookSender"]

logger = logging.getLogger(__name__)


class WebhookSender(BackgroundPoster):
    """Posts the inbox's webhooks in the background (none when no URL is set)."""

    def __init__(self, settings: ChatwootSettings, log: RecordLog[WebhookDeliveryRecord]) -> None:
        super().__init__()
        self._url = settings.chatwoot_webhook_url
        self._secret = settings.chatwoot_webhook_secret.get_secret_value().encode()
        self._log = log
        # A conversation's posts wait for those before them (first come, first served).
        self._turns: defaultdict[int, asyncio.Lock] = defaultdict(asyncio.Lock)

    def send(self, conversation_id: int, *payloads: dict[str, Any]) -> None:
        """Post a conversation's events, after every one sent before."""
        if self._url is None:
            return
        for payload in payloads:
            self.start(self._deliver(self._url, conversation_id, payload))

    async def _deliver(self, url: str, conversation_id: int, payload: dict[str, Any]) -> None:
        async with self._turns[conversation_id]:
            body = json.dumps(payload, ensure_ascii=False, separators=(",", ":")).encode()
            timestamp = str(int(time.time()))
            digest = hmac.new(self._secret, timestamp.encode() + b"." + body, hashlib.sha256)
            record = WebhookDeliveryRecord(payload["event"], conversation_id, str(uuid.uuid4()))
            headers = {
                "Content-Type": "application/json",
                "X-Chatwoot-Timestamp": timestamp,
                "X-Chatwoot-Signature": "sha256=" + digest.hexdigest(),
                "X-Chatwoot-Delivery": record.delivery_id,
            }
            try:
                answer = await self.client.post(url, content=body, headers=headers)
                record.response_status = answer.status_code
            except httpx.HTTPError as exc:
                record.error = type(exc).__name__
                logger.info("sandbox chatwoot webhook not delivered", extra={"error": record.error})
            self._log.append(record)
