"""For operators and load balancers: liveness, readiness, Prometheus metrics. No token needed;
none of them reveals data (metrics carry project names and counts only)."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Request, Response
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import JSONResponse
from prometheus_client import CONTENT_TYPE_LATEST
from sqlalchemy import text

from loopwise import __version__
from loopwise.api.deps import LoopwiseDep, public
from loopwise.api.metrics import Metrics
from loopwise.store.db import current_revision, head_revision

router = APIRouter(tags=["operations"], dependencies=[Depends(public)])


@router.get("/health")
def health() -> dict[str, str]:
    """The process answers."""
    return {"status": "ok", "version": __version__}


def _check(lw: LoopwiseDep) -> tuple[bool, dict[str, object]]:
    try:
        with lw.ctx.engine.connect() as connection:
            connection.execute(text("SELECT 1"))
        current = current_revision(lw.ctx.engine)
    except Exception as exc:  # any driver error means "not ready", said plainly
        return False, {"database": f"unreachable: {type(exc).__name__}"}
    head = head_revision()
    return current == head, {"database": "ok", "migration": current, "expected": head}


@router.get("/ready")
async def ready(lw: LoopwiseDep) -> JSONResponse:
    """The database answers and its schema is at the migration this code expects (503 if not)."""
    ok, detail = await run_in_threadpool(_check, lw)
    return JSONResponse({"status": "ready" if ok else "not ready", **detail}, 200 if ok else 503)


def _metrics(request: Request) -> Metrics:
    metrics: Metrics = request.app.state.metrics
    return metrics


@router.get("/metrics", response_class=Response)
async def metrics(m: Annotated[Metrics, Depends(_metrics)]) -> Response:
    """Prometheus text format."""
    body = await run_in_threadpool(m.render)
    return Response(body, media_type=CONTENT_TYPE_LATEST)
