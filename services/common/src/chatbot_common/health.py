"""Liveness, readiness and metrics endpoints, the same on every service.

``/healthz`` answers while the process runs; ``/readyz`` only while NATS is connected, JetStream
has the service's parts and takes its writes, and the service is taking work, so Kubernetes stops
routing to a pod that is draining, cut off, or behind a store that refuses what it publishes.
"""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Response
from fastapi.responses import JSONResponse
from nats.aio.client import Client as NATS

from .metrics import CONTENT_TYPE_LATEST, exposition
from .provisioning import Provisioner

__all__ = ["Readiness", "health_router"]


class Readiness:
    """Whether this process should receive work."""

    def __init__(self) -> None:
        self.serving = False
        self.nats: NATS | None = None
        self.jetstream: Provisioner | None = None

    def problem(self) -> str | None:
        """Why the service is not ready, or ``None`` when it is."""
        if self.nats is None or not self.nats.is_connected:
            return "nats not connected"
        if self.jetstream is not None and (problem := self.jetstream.problem):
            return problem
        if not self.serving:
            return "not serving"
        return None


def health_router(readiness: Readiness) -> APIRouter:
    """Routes for ``/healthz``, ``/readyz`` and ``/metrics``."""
    router = APIRouter(tags=["health"])

    @router.get("/healthz")
    async def healthz() -> dict[str, str]:
        return {"status": "ok"}

    @router.get("/readyz", response_model=None)
    async def readyz() -> Any:
        problem = readiness.problem()
        if problem is None:
            return {"status": "ready"}
        return JSONResponse({"status": "not ready", "reason": problem}, status_code=503)

    @router.get("/metrics")
    async def metrics() -> Response:
        return Response(exposition(), media_type=CONTENT_TYPE_LATEST)

    return router
