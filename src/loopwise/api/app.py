"""``create_app(settings)``: the HTTP service over one database.

Each process has its own :class:`~loopwise.Loopwise` (engine and model cache), its metrics and
a webhook delivery thread; several processes (``loopwise serve --workers N``) share one
PostgreSQL safely, since every use case is one transaction and claims use row locks.
"""

from __future__ import annotations

import gc
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from anyio import to_thread
from fastapi import FastAPI
from threadpoolctl import threadpool_limits

from loopwise import __version__
from loopwise.api import errors
from loopwise.api.metrics import HttpMetrics, Metrics
from loopwise.api.routes import ops
from loopwise.api.routes.v1 import (
    dashboard,
    items,
    labels,
    models,
    pool,
    projects,
    review,
    stats,
    webhooks,
)
from loopwise.core.clock import Clock
from loopwise.services.loop import Loopwise
from loopwise.services.webhooks import WebhookWorker
from loopwise.settings import Settings
from loopwise.web import app as web

DESCRIPTION = """Route uncertain predictions to people, learn from their corrections.

Send `Authorization: Bearer <token>` (tokens come from `loopwise tokens create`). Errors have
the body `{"error": {"code", "message", "field"}}`."""


def create_app(
    settings: Settings | None = None,
    *,
    loopwise: Loopwise | None = None,
    clock: Clock | None = None,
    deliver_webhooks: bool = True,
    freeze_gc: bool = False,
    limit_threads: bool = False,
) -> FastAPI:
    """The ASGI application.

    Parameters
    ----------
    settings:
        Database, artifacts and limits; defaults read ``LOOPWISE_*`` variables.
    loopwise:
        An existing instance to serve (tests); otherwise one is opened on start-up and closed
        on shut-down.
    clock:
        Source of time for a new instance (tests pass a frozen one).
    deliver_webhooks:
        Run the webhook delivery thread in this process.
    freeze_gc:
        At start-up, move everything loaded so far out of the garbage collector's reach
        (``gc.freeze``): it lives as long as the process, and each full collection otherwise
        walks it (about 95 ms with scikit-learn loaded, a request's worth of tail latency). For
        a server process (``loopwise serve``), not for one that makes many apps.
    limit_threads:
        At start-up, cap the BLAS and OpenMP thread pools of this process at
        ``settings.compute_threads`` (threadpoolctl). For a server process, whose requests
        already use every core.
    """
    settings = settings or (loopwise.settings if loopwise is not None else Settings())
    owned = loopwise is None
    lw = loopwise or Loopwise(settings, clock=clock)
    metrics = Metrics(lw.ctx)

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        # Handlers run in worker threads; no more at once than there are pooled connections,
        # or every extra one would open and close a connection (a new server process each,
        # on PostgreSQL). Two connections stay for the webhook worker and metrics.
        threads = to_thread.current_default_thread_limiter()
        threads.total_tokens = max(1, settings.db_pool_size - 2)
        worker = WebhookWorker(lw.ctx) if deliver_webhooks else None
        observers = [metrics.observe]
        lw.ctx.observers.extend(observers)
        if worker is not None:
            lw.ctx.on_queued.append(worker.wake)
        if worker is not None:
            worker.start()
        app.state.webhook_worker = worker
        if limit_threads:
            threadpool_limits(limits=settings.compute_threads)
        if freeze_gc:
            gc.collect()
            gc.freeze()
        try:
            yield
        finally:
            for observer in observers:
                lw.ctx.observers.remove(observer)
            if worker is not None:
                lw.ctx.on_queued.remove(worker.wake)
            if worker is not None:
                worker.stop()
            if owned:
                lw.close()

    app = FastAPI(
        title="loopwise",
        version=__version__,
        description=DESCRIPTION,
        lifespan=lifespan,
    )
    app.state.loopwise = lw
    app.state.metrics = metrics
    errors.install(app)
    app.include_router(ops.router)
    for module in (projects, items, review, labels, models, pool, stats, dashboard, webhooks):
        app.include_router(module.router, prefix="/v1")
    web.install(app)
    app.add_middleware(errors.BodyLimit, limit=settings.max_request_bytes)
    app.add_middleware(HttpMetrics, metrics=metrics)
    return app


def app_from_env() -> FastAPI:
    """The factory ``uvicorn`` calls in each worker process (settings from the environment)."""
    return create_app(Settings(), freeze_gc=True, limit_threads=True)
