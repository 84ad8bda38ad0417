"""Webhooks of a project (admins): subscribe, list, remove, and read the outbox."""

from __future__ import annotations

from typing import Annotated, Literal

from fastapi import APIRouter, Depends, Query

from loopwise.api.deps import LoopwiseDep, ProjectName, WebhookId, allowed
from loopwise.api.policies import Action
from loopwise.api.schemas import (
    READ_ERRORS,
    WRITE_ERRORS,
    MessagePublic,
    WebhookCreate,
    WebhookCreated,
    WebhookPublic,
)
from loopwise.services import webhooks
from loopwise.services.accounts import Principal

router = APIRouter(tags=["webhooks"], responses=READ_ERRORS)
Manager = Annotated[Principal, Depends(allowed(Action.MANAGE))]


@router.post(
    "/projects/{project}/webhooks",
    responses=WRITE_ERRORS,
    response_model=WebhookCreated,
    status_code=201,
)
def add_webhook(
    project: ProjectName, body: WebhookCreate, lw: LoopwiseDep, who: Manager
) -> WebhookCreated:
    """Subscribe a URL; the response carries the signing secret, shown this once."""
    hook, secret = webhooks.add_webhook(
        lw.ctx, project, body.url, events=body.events, secret=body.secret, actor=who.name
    )
    return WebhookCreated(**WebhookPublic.model_validate(hook).model_dump(), secret=secret)


@router.get("/projects/{project}/webhooks", response_model=list[WebhookPublic])
def list_webhooks(project: ProjectName, lw: LoopwiseDep, _: Manager) -> list[WebhookPublic]:
    return [WebhookPublic.model_validate(h) for h in webhooks.list_webhooks(lw.ctx, project)]


@router.delete("/projects/{project}/webhooks/{webhook_id}", responses=WRITE_ERRORS, status_code=204)
def remove_webhook(
    project: ProjectName, webhook_id: WebhookId, lw: LoopwiseDep, who: Manager
) -> None:
    webhooks.remove_webhook(lw.ctx, project, webhook_id, actor=who.name)


@router.get("/projects/{project}/webhooks/messages", response_model=list[MessagePublic])
def messages(
    project: ProjectName,
    lw: LoopwiseDep,
    _: Manager,
    status: Literal["pending", "delivered", "failed"] | None = None,
    limit: Annotated[int, Query(ge=1, le=1000)] = 100,
) -> list[MessagePublic]:
    """The project's outbox, newest first: what was sent, what waits, what failed and why."""
    found = webhooks.messages(lw.ctx, project, status=status, limit=limit)
    return [MessagePublic.model_validate(m) for m in found]
