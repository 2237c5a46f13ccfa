"""A service's life: connect to NATS, provision JetStream (and keep it so), serve, then drain.

Both kinds of service use :func:`nats_runtime` in their FastAPI lifespan. Uvicorn turns SIGTERM
into the end of the lifespan: readiness drops first, in-hand work is finished or returned to the
stream, and only then is the NATS connection drained and closed.
"""

from __future__ import annotations

import gc
import logging
from collections.abc import AsyncIterator, Callable
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from dataclasses import dataclass

import uvicorn
from fastapi import FastAPI
from nats.aio.client import Client as NATS
from nats.js import JetStreamContext
from starlette.types import ASGIApp

from .bus import connect, redact_url
from .config import NatsSettings, ServiceSettings
from .health import Readiness, health_router
from .logging import configure_logging
from .metrics import run_start_hooks
from .provisioning import Provisioner, Topology
from .topology import Consumer
from .tracing import SERVER_SPANS_ONLY, configure_tracing
from .worker import ConsumerLoop, Handler

__all__ = [
    "HandlerFactory",
    "NatsRuntime",
    "Topology",
    "create_worker_app",
    "nats_runtime",
    "serve",
    "tune_garbage_collector",
]

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class NatsRuntime:
    """What a running service holds: its connection, JetStream context, topology, readiness."""

    nc: NATS
    js: JetStreamContext
    provisioner: Provisioner
    readiness: Readiness


@asynccontextmanager
async def nats_runtime(
    *, service: str, settings: NatsSettings, topology: Topology, readiness: Readiness
) -> AsyncIterator[NatsRuntime]:
    """Connect and provision; on exit mark the service unready and drain the connection."""
    configure_tracing(service)
    nc = await connect(settings.nats_url, name=service, timeout=settings.nats_connect_timeout)
    readiness.nats = nc
    provisioner: Provisioner | None = None
    try:
        js = nc.jetstream(timeout=settings.nats_publish_timeout)
        provisioner = Provisioner(
            js,
            topology,
            duplicate_window=settings.nats_duplicate_window,
            replicas=settings.nats_replicas,
        )
        await provisioner.declare()
        provisioner.start()
        readiness.jetstream = provisioner
        log.info("connected to nats", extra={"nats_url": redact_url(settings.nats_url)})
        yield NatsRuntime(nc=nc, js=js, provisioner=provisioner, readiness=readiness)
    finally:
        readiness.serving = False
        if provisioner is not None:
            await provisioner.stop()
        if nc.is_connected:
            await nc.drain()
        else:
            await nc.close()
        log.info("nats connection closed")


GC_YOUNGEST_THRESHOLD = 10_000
"""Allocations between two collections of the youngest generation (Python's default: 700)."""


def tune_garbage_collector() -> None:
    """Collect cyclic garbage less often, and never look at what start-up made again.

    A busy service allocates a few hundred objects per message and holds many more live (one
    task, its futures and models per message in hand), so at Python's default thresholds the
    cycle collector ran constantly and re-traversed them: ``make bench-conversation`` spent a
    large share of its CPU there. Freezing moves everything imported and built before serving
    (modules, settings, the app) out of the collector's reach for good.
    """
    gc.freeze()
    gc.set_threshold(GC_YOUNGEST_THRESHOLD, *gc.get_threshold()[1:])


def serve(app: ASGIApp, *, service: str, settings: ServiceSettings) -> None:
    """Run ``app`` under uvicorn until SIGTERM or SIGINT, then shut down gracefully.

    uvicorn's own proxy-header rewriting is off: which forwarded headers to believe is each
    service's setting (ingress: TRUST_PROXY_HEADERS), not a default trust of loopback peers.
    """
    configure_logging(service, settings.log_level)
    tune_garbage_collector()
    uvicorn.run(
        app,
        host=settings.host,
        port=settings.port,
        log_config=None,
        access_log=False,
        server_header=False,
        proxy_headers=False,
        timeout_graceful_shutdown=max(1, int(settings.drain_timeout)),
    )


HandlerFactory = Callable[[NatsRuntime], AbstractAsyncContextManager[Handler]]


def create_worker_app(
    *,
    service: str,
    settings: ServiceSettings,
    topology: Topology,
    consumer: Consumer,
    concurrency: int,
    handler_factory: HandlerFactory,
) -> FastAPI:
    """A worker service: a consumer loop feeding ``handler_factory``'s handler, plus health.

    The handler factory is an async context manager so a service can open its clients (OpenAI,
    Twilio) inside the event loop and close them after the last message is done.
    """
    readiness = Readiness()

    @asynccontextmanager
    async def lifespan(_: FastAPI) -> AsyncIterator[None]:
        async with (
            nats_runtime(
                service=service, settings=settings, topology=topology, readiness=readiness
            ) as runtime,
            handler_factory(runtime) as handler,
        ):
            run_start_hooks(settings)
            loop = ConsumerLoop(
                runtime.js, consumer, handler, limit=concurrency, provisioner=runtime.provisioner
            )
            await loop.start()
            readiness.serving = True
            log.info("%s taking work", service, extra={"concurrency": concurrency})
            try:
                yield
            finally:
                readiness.serving = False
                await loop.stop(settings.drain_timeout)

    # FastAPI's native telemetry would otherwise trace every probe and scrape, with a span per
    # dependency: here it makes only server spans, and none for /healthz, /readyz, /metrics.
    app = FastAPI(
        title=f"chatbot {service}",
        lifespan=lifespan,
        docs_url=None,
        redoc_url=None,
        telemetry=SERVER_SPANS_ONLY,
    )
    app.include_router(health_router(readiness))
    return app
