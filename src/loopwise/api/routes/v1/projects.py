"""``/v1/projects``: create (admins), list (what the caller belongs to), read, change policies."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Body, Depends
from fastapi.concurrency import run_in_threadpool

from loopwise.api.deps import LoopwiseDep, ProjectName, allowed, allowed_anywhere
from loopwise.api.errors import body_fields
from loopwise.api.policies import Action, may
from loopwise.api.schemas import READ_ERRORS, WRITE_ERRORS, MePublic, ProjectCreate, ProjectPublic
from loopwise.core.entities import Project
from loopwise.core.enums import DEFAULT_ERROR_TAXONOMY
from loopwise.services.accounts import Principal

router = APIRouter(tags=["projects"], responses=READ_ERRORS)


def project_public(project: Project) -> ProjectPublic:
    return ProjectPublic(
        name=project.name,
        labels=list(project.labels),
        input_kind=project.input_kind.value,
        feature_names=list(project.feature_names),
        routing=project.routing.to_json(),
        review=project.review.to_json(),
        training=project.training.to_json(),
        error_taxonomy=list(project.error_taxonomy),
        guideline=project.guideline,
        created_at=project.created_at,
    )


@router.get("/me", response_model=MePublic)
def me(who: Annotated[Principal, Depends(allowed_anywhere(Action.READ_PROJECT))]) -> MePublic:
    """The account the token belongs to, its role and projects."""
    return MePublic(name=who.name, role=who.role, projects=sorted(who.projects))


@router.post("/projects", responses=WRITE_ERRORS, response_model=ProjectPublic, status_code=201)
def create_project(
    body: ProjectCreate,
    lw: LoopwiseDep,
    who: Annotated[Principal, Depends(allowed_anywhere(Action.MANAGE))],
) -> ProjectPublic:
    project = lw.create_project(
        body.name,
        body.labels,
        input_kind=body.input_kind,
        feature_names=body.feature_names,
        routing=body.routing,
        review=body.review,
        training=body.training,
        error_taxonomy=DEFAULT_ERROR_TAXONOMY
        if body.error_taxonomy is None
        else tuple(body.error_taxonomy),
        guideline=body.guideline,
        actor=who.name,
    )
    return project_public(project)


@router.get("/projects", response_model=list[ProjectPublic])
async def list_projects(
    lw: LoopwiseDep,
    who: Annotated[Principal, Depends(allowed_anywhere(Action.READ_PROJECT))],
) -> list[ProjectPublic]:
    """The projects the caller belongs to (every project, for admins)."""
    projects = await run_in_threadpool(lw.projects)
    return [project_public(p) for p in projects if may(who, Action.READ_PROJECT, p.name)]


@router.get("/projects/{project}", response_model=ProjectPublic)
def get_project(
    project: ProjectName,
    lw: LoopwiseDep,
    _: Annotated[Principal, Depends(allowed(Action.READ_PROJECT))],
) -> ProjectPublic:
    return project_public(lw.project(project))


@router.put("/projects/{project}/policy", responses=WRITE_ERRORS, response_model=ProjectPublic)
def set_policy(
    project: ProjectName,
    lw: LoopwiseDep,
    who: Annotated[Principal, Depends(allowed(Action.MANAGE))],
    policy: Annotated[dict[str, Any], Body(description="The routing policy (see docs/routing.md)")],
) -> ProjectPublic:
    """Replace the routing policy; validated whole, audited."""
    lw.set_policy(project, policy, actor=who.name)
    return project_public(lw.project(project))


@router.put(
    "/projects/{project}/review-config", responses=WRITE_ERRORS, response_model=ProjectPublic
)
def set_review_config(
    project: ProjectName,
    lw: LoopwiseDep,
    who: Annotated[Principal, Depends(allowed(Action.MANAGE))],
    config: Annotated[dict[str, Any], Body(description="Review settings (see docs/review.md)")],
) -> ProjectPublic:
    with body_fields("review"):
        lw.set_review_config(project, config, actor=who.name)
    return project_public(lw.project(project))


@router.put("/projects/{project}/training", responses=WRITE_ERRORS, response_model=ProjectPublic)
def set_training_config(
    project: ProjectName,
    lw: LoopwiseDep,
    who: Annotated[Principal, Depends(allowed(Action.MANAGE))],
    config: Annotated[
        dict[str, Any],
        Body(
            description="holdout_share, golden_share, metric, min_improvement, split_seed "
            "(a setting left out takes its default; docs/architecture.md)"
        ),
    ],
) -> ProjectPublic:
    """Replace the training settings whole, audited. The held-out split's settings
    (``holdout_share``, ``split_seed``) are refused (409) once the project has labels."""
    with body_fields("training"):
        lw.set_training_config(project, config, actor=who.name)
    return project_public(lw.project(project))
