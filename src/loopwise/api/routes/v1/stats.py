"""The operating numbers: automation, agreement with the model, queue health, review latency,
SLA compliance, reviewer quality, inter-reviewer agreement, fatigue, routing."""

from __future__ import annotations

import dataclasses
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Depends, Query
from fastapi.encoders import jsonable_encoder

from loopwise.api.deps import LoopwiseDep, ProjectName, allowed
from loopwise.api.policies import Action
from loopwise.api.schemas import READ_ERRORS
from loopwise.services.accounts import Principal

router = APIRouter(tags=["stats"], responses=READ_ERRORS)
Viewer = Annotated[Principal, Depends(allowed(Action.READ_STATS))]


def _plain(value: Any) -> Any:
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        value = dataclasses.asdict(value)
    return jsonable_encoder(value)


@router.get("/projects/{project}/stats", response_model=dict[str, Any])
def project_stats(project: ProjectName, lw: LoopwiseDep, _: Viewer) -> dict[str, Any]:
    """Items by state, automation rate, human-AI agreement, queue by priority (sizes, ages,
    SLA breaches), review latency, SLA compliance."""
    stats = lw.stats(project)
    out: dict[str, Any] = stats.to_json()
    return out


@router.get("/projects/{project}/stats/reviewers", response_model=list[dict[str, Any]])
def reviewer_quality(project: ProjectName, lw: LoopwiseDep, _: Viewer) -> list[dict[str, Any]]:
    """Every member's gold accuracy (95% Wilson interval), consensus skill and flag."""
    return [_plain(q) for q in lw.reviewer_quality(project)]


@router.get("/projects/{project}/stats/agreement", response_model=dict[str, Any])
def agreement(
    project: ProjectName,
    lw: LoopwiseDep,
    _: Viewer,
    period: Annotated[Literal["day", "week"], Query()] = "day",
) -> dict[str, Any]:
    """Krippendorff's alpha, Fleiss' kappa, per-label and per-pair agreement, over time."""
    out: dict[str, Any] = _plain(lw.agreement(project, period=period))
    return out


@router.get("/projects/{project}/stats/fatigue", response_model=list[dict[str, Any]])
def fatigue(
    project: ProjectName,
    lw: LoopwiseDep,
    _: Viewer,
    bucket: Annotated[int, Query(ge=1, le=1000)] = 25,
) -> list[dict[str, Any]]:
    """Gold accuracy by position in the reviewers' sessions."""
    return [_plain(b) for b in lw.fatigue(project, bucket=bucket)]


@router.get("/projects/{project}/stats/routing", response_model=dict[str, Any])
def routing(project: ProjectName, lw: LoopwiseDep, _: Viewer) -> dict[str, Any]:
    """The policy, calibration and certificate in force, and what each tier and rule took."""
    out: dict[str, Any] = jsonable_encoder(lw.routing_report(project).to_json())
    return out
