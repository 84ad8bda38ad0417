"""Active learning over HTTP: the unlabelled pool, its status, queries that queue its most
informative candidates for review, and the project's settings for them."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Body, Depends, Query

from loopwise.api.deps import LoopwiseDep, ProjectName, allowed
from loopwise.api.errors import body_fields
from loopwise.api.policies import Action
from loopwise.api.schemas import (
    MAX_ID,
    READ_ERRORS,
    WRITE_ERRORS,
    ActiveLearningPublic,
    PoolAddedPublic,
    PoolCandidatePublic,
    PoolCandidatesPublic,
    PoolIn,
    PoolRemovedPublic,
    PoolRemoveIn,
    PoolStatusPublic,
    QueryIn,
    QueryPublic,
)
from loopwise.services.accounts import Principal
from loopwise.services.pool import QueryResult
from loopwise.services.pool_listing import MAX_PAGE, PoolState

router = APIRouter(tags=["active learning"], responses=READ_ERRORS)
Submitter = Annotated[Principal, Depends(allowed(Action.SUBMIT))]


def query_public(result: QueryResult) -> QueryPublic:
    return QueryPublic.model_validate(result)


@router.post("/projects/{project}/pool", responses=WRITE_ERRORS, response_model=PoolAddedPublic)
def add_to_pool(
    project: ProjectName, body: PoolIn, lw: LoopwiseDep, who: Submitter
) -> PoolAddedPublic:
    """Add unlabelled candidates, all or none. A candidate already in the pool with the same
    payload is skipped (so a retried request adds nothing twice); under a known external id
    with another payload the request is refused (409)."""
    rows = [r.model_dump(exclude_none=True) for r in body.items]
    with body_fields("rows", "items"):
        added = lw.add_to_pool(project, rows, actor=who.name)
    return PoolAddedPublic(added=added, skipped=len(rows) - added)


@router.post(
    "/projects/{project}/pool/remove", responses=WRITE_ERRORS, response_model=PoolRemovedPublic
)
def remove_from_pool(
    project: ProjectName, body: PoolRemoveIn, lw: LoopwiseDep, who: Submitter
) -> PoolRemovedPublic:
    """Remove waiting candidates, named by external id or payload (``items``), or every
    waiting one (``all``), in one transaction. A candidate a query chose is an item now and
    stays (counted as ``chosen``); one not in the pool is counted, not refused, so a retried
    request removes nothing twice."""
    candidates = None
    if body.items is not None:
        candidates = [r.model_dump(exclude_unset=True) for r in body.items]
    with body_fields("candidates", "items"), body_fields("everything", "all"):
        result = lw.remove_from_pool(project, candidates, everything=body.all, actor=who.name)
    return PoolRemovedPublic.model_validate(result)


@router.get("/projects/{project}/pool/candidates", response_model=PoolCandidatesPublic)
def list_pool(
    project: ProjectName,
    lw: LoopwiseDep,
    _: Annotated[Principal, Depends(allowed(Action.READ_DECISIONS))],
    state: PoolState = PoolState.WAITING,
    after: Annotated[int | None, Query(ge=0, le=MAX_ID)] = None,
    limit: Annotated[int, Query(ge=1, le=MAX_PAGE)] = 100,
) -> PoolCandidatesPublic:
    """The pool's candidates oldest first: those that wait (a query can choose them), those
    queries chose (``item_id``), or all; ``after`` pages (pass the previous ``next_after``)."""
    found = lw.pool_candidates(project, state=state, after=after, limit=limit)
    return PoolCandidatesPublic(
        candidates=[PoolCandidatePublic.model_validate(c) for c in found],
        next_after=found[-1].id if len(found) == limit else None,
    )


@router.get("/projects/{project}/pool", response_model=PoolStatusPublic)
def pool_status(
    project: ProjectName,
    lw: LoopwiseDep,
    _: Annotated[Principal, Depends(allowed(Action.READ_STATS))],
) -> PoolStatusPublic:
    return PoolStatusPublic.model_validate(lw.pool_status(project))


@router.post("/projects/{project}/pool/query", responses=WRITE_ERRORS, response_model=QueryPublic)
def query(
    project: ProjectName, lw: LoopwiseDep, who: Submitter, body: QueryIn | None = None
) -> QueryPublic:
    """Score the waiting candidates with the production model and queue the strategy's best
    ``n`` for review (the ``discovery`` priority), best first; one transaction. With no model
    yet the strategy chooses by diversity. An empty pool, more than is left or an unknown
    strategy is refused (422, ``field`` naming it)."""
    body = body or QueryIn()
    result = lw.query(project, body.n, strategy=body.strategy, seed=body.seed, actor=who.name)
    return query_public(result)


@router.get("/projects/{project}/active-learning", response_model=ActiveLearningPublic)
def get_active_learning(
    project: ProjectName,
    lw: LoopwiseDep,
    _: Annotated[Principal, Depends(allowed(Action.READ_PROJECT))],
) -> ActiveLearningPublic:
    return ActiveLearningPublic.model_validate(lw.project(project).active_learning)


@router.put(
    "/projects/{project}/active-learning",
    responses=WRITE_ERRORS,
    response_model=ActiveLearningPublic,
)
def set_active_learning(
    project: ProjectName,
    lw: LoopwiseDep,
    who: Annotated[Principal, Depends(allowed(Action.MANAGE))],
    config: Annotated[
        dict[str, Any],
        Body(description="strategy, batch, explore, requery_after_promotion (see docs)"),
    ],
) -> ActiveLearningPublic:
    """Replace the settings whole (a field left out takes its default); audited."""
    with body_fields("active_learning"):
        settings = lw.set_active_learning(project, config, actor=who.name)
    return ActiveLearningPublic.model_validate(settings)
