"""Items in, decisions out: predict-and-route one or many, read decisions, wait for one."""

from __future__ import annotations

import asyncio
import time
from datetime import datetime
from typing import Annotated

import orjson
from fastapi import APIRouter, Depends, Query, Response
from fastapi.concurrency import run_in_threadpool

from loopwise.api.deps import MAX_ID, ExternalId, LoopwiseDep, ProjectName, allowed
from loopwise.api.policies import Action
from loopwise.api.schemas import (
    READ_ERRORS,
    WRITE_ERRORS,
    BulkIn,
    BulkPublic,
    DecisionPublic,
    DecisionsPublic,
    ItemIn,
    RoutedPublic,
)
from loopwise.core.enums import ItemStatus, Route
from loopwise.errors import LoopwiseError
from loopwise.services import decisions
from loopwise.services.accounts import Principal
from loopwise.services.items import Routed

router = APIRouter(tags=["items and decisions"], responses=READ_ERRORS)
MAX_WAIT = 30.0
POLL = 0.2


def routed_public(r: Routed) -> RoutedPublic:
    return RoutedPublic(
        item_id=r.item_id,
        external_id=r.external_id,
        status=r.status,
        route=r.route,
        label=r.final_label,
        predicted_label=r.predicted_label,
        confidence=r.confidence,
        reasons=list(r.reasons),
        ticket=r.task_id,
        duplicate=r.duplicate,
    )


def _inputs(items: list[ItemIn]) -> list[dict[str, object]]:
    return [i.model_dump(exclude_none=True) for i in items]


@router.post("/projects/{project}/items", responses=WRITE_ERRORS, response_model=RoutedPublic)
def submit_one(
    project: ProjectName,
    item: ItemIn,
    lw: LoopwiseDep,
    who: Annotated[Principal, Depends(allowed(Action.SUBMIT))],
) -> RoutedPublic:
    """Predict with the project's model (or take ``probabilities`` from yours) and route one
    item: ``decided`` with its label, or ``queued`` with a ``ticket``. Idempotent on
    ``external_id``: resubmitting returns the first answer, marked ``duplicate``."""
    try:
        return routed_public(lw.submit(project, _inputs([item]), actor=who.name)[0])
    except LoopwiseError as exc:
        # the service names fields of a batch (items[0].payload); this request holds one item
        if exc.field is not None and exc.field.startswith("items[0]"):
            exc.field = exc.field.removeprefix("items[0]").removeprefix(".") or None
        raise


@router.post("/projects/{project}/items/bulk", responses=WRITE_ERRORS, response_model=BulkPublic)
def submit_bulk(
    project: ProjectName,
    body: BulkIn,
    lw: LoopwiseDep,
    who: Annotated[Principal, Depends(allowed(Action.SUBMIT))],
) -> Response:
    """Up to 10,000 items in one transaction: all accepted, or none (the error names the
    item, e.g. ``items[3].payload``)."""
    results = lw.submit(project, _inputs(body.items), actor=who.name)
    return Response(bulk_json(results), media_type="application/json")


def bulk_json(results: list[Routed]) -> bytes:
    """The ``BulkPublic`` answer, encoded straight from the results.

    Building a ``RoutedPublic`` per item, which FastAPI then dumps, validates against the
    response model and serialises, cost about 8 µs an item (a tenth of the server's time on a
    bulk request); these values are loopwise's own, already of the schema's types.
    ``tests/api/v1/test_items.py`` checks the bytes against the model's own encoding."""
    items = [
        {
            "item_id": r.item_id,
            "external_id": r.external_id,
            "status": r.status,  # orjson writes an enum as its value
            "route": r.route,
            "label": r.final_label,
            "predicted_label": r.predicted_label,
            "confidence": r.confidence,
            "reasons": list(r.reasons),
            "ticket": r.task_id,
            "duplicate": r.duplicate,
        }
        for r in results
    ]
    return orjson.dumps(
        {
            "items": items,
            "decided": sum(r.status is ItemStatus.DECIDED for r in results),
            "queued": sum(r.status is ItemStatus.QUEUED for r in results),
            "duplicates": sum(r.duplicate for r in results),
        }
    )


def decision_public(view: decisions.DecisionView) -> DecisionPublic:
    return DecisionPublic(
        item_id=view.item_id,
        external_id=view.external_id,
        status=view.status,
        route=view.route,
        label=view.label,
        predicted_label=view.predicted_label,
        confidence=view.confidence,
        reasons=list(view.reasons),
        decided_by=view.decided_by,
        created_at=view.created_at,
        decided_at=view.decided_at,
        ticket=view.ticket,
    )


@router.get("/projects/{project}/decisions/{external_id:path}", response_model=DecisionPublic)
async def get_decision(
    project: ProjectName,
    external_id: ExternalId,
    lw: LoopwiseDep,
    _: Annotated[Principal, Depends(allowed(Action.READ_DECISIONS))],
    wait: Annotated[
        float, Query(ge=0, le=MAX_WAIT, description="Seconds to wait for a final decision")
    ] = 0,
) -> DecisionPublic:
    """One item's decision. With ``wait``, a queued item is watched until people resolve it
    or the time is up (then it is returned still ``queued``)."""
    deadline = time.monotonic() + wait
    while True:
        view = await run_in_threadpool(decisions.get_decision, lw.ctx, project, external_id)
        if view.final or time.monotonic() >= deadline:
            return decision_public(view)
        await asyncio.sleep(min(POLL, max(0.0, deadline - time.monotonic())))


@router.get("/projects/{project}/decisions", response_model=DecisionsPublic)
def list_decisions(
    project: ProjectName,
    lw: LoopwiseDep,
    _: Annotated[Principal, Depends(allowed(Action.READ_DECISIONS))],
    status: ItemStatus | None = None,
    route: Route | None = None,
    since: datetime | None = None,
    after: Annotated[int | None, Query(ge=0, le=MAX_ID)] = None,
    limit: Annotated[int, Query(ge=1, le=decisions.MAX_PAGE)] = 100,
) -> DecisionsPublic:
    """Decisions oldest first; ``after`` pages (pass the previous ``next_after``)."""
    views = decisions.list_decisions(
        lw.ctx, project, status=status, route=route, since=since, after=after, limit=limit
    )
    return DecisionsPublic(
        decisions=[decision_public(v) for v in views],
        next_after=views[-1].item_id if len(views) == limit else None,
    )
