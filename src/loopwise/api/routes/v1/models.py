"""Model versions: list, train a candidate, evaluate, promote through the gate, roll back."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends

from loopwise.api.deps import LoopwiseDep, ProjectName, Version, allowed
from loopwise.api.policies import Action
from loopwise.api.routes.v1.pool import query_public
from loopwise.api.schemas import (
    READ_ERRORS,
    WRITE_ERRORS,
    ModelVersionPublic,
    PromoteIn,
    PromotionPublic,
)
from loopwise.core.entities import ModelVersion
from loopwise.services.accounts import Principal

router = APIRouter(tags=["models"], responses=READ_ERRORS)
Manager = Annotated[Principal, Depends(allowed(Action.MANAGE))]


def model_public(m: ModelVersion) -> ModelVersionPublic:
    return ModelVersionPublic.model_validate(m)


@router.get("/projects/{project}/models", response_model=list[ModelVersionPublic])
def list_models(
    project: ProjectName,
    lw: LoopwiseDep,
    _: Annotated[Principal, Depends(allowed(Action.READ_STATS))],
) -> list[ModelVersionPublic]:
    return [model_public(m) for m in lw.models(project)]


@router.post(
    "/projects/{project}/models",
    responses=WRITE_ERRORS,
    response_model=ModelVersionPublic,
    status_code=201,
)
def train(project: ProjectName, lw: LoopwiseDep, who: Manager) -> ModelVersionPublic:
    """Train a candidate on the resolved labels (the project's default algorithm)."""
    return model_public(lw.train(project, actor=who.name))


@router.get("/projects/{project}/models/{version}/evaluation", response_model=dict[str, Any])
def evaluate(
    project: ProjectName,
    version: Version,
    lw: LoopwiseDep,
    _: Annotated[Principal, Depends(allowed(Action.READ_STATS))],
) -> dict[str, Any]:
    """A candidate against production on the held-out and golden sets, with the gate's verdict."""
    return lw.evaluate(project, version).to_json()


@router.post(
    "/projects/{project}/models/promote", responses=WRITE_ERRORS, response_model=PromotionPublic
)
def promote(
    project: ProjectName, lw: LoopwiseDep, who: Manager, body: PromoteIn | None = None
) -> PromotionPublic:
    """Promote a candidate (the latest by default) if the gate passes it, or with ``force``.
    When the project's active learning says so and candidates wait, the promotion also queries
    the pool with the new model (``query``); if the project's settings make that query fail,
    the promotion stands and ``query_error`` says why."""
    body = body or PromoteIn()
    result = lw.promote(project, body.version, force=body.force, actor=who.name)
    return PromotionPublic(
        promoted=result.promoted,
        forced=result.forced,
        report=result.report.to_json(),
        query=None if result.query is None else query_public(result.query),
        query_error=result.query_error,
    )


@router.post(
    "/projects/{project}/models/rollback", responses=WRITE_ERRORS, response_model=ModelVersionPublic
)
def rollback(project: ProjectName, lw: LoopwiseDep, who: Manager) -> ModelVersionPublic:
    """Put the previous production model back."""
    return model_public(lw.rollback(project, actor=who.name))
