"""The review queue over HTTP. The reviewer is always the token's account: nobody can claim,
renew, release, judge or undo for someone else."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Query

from loopwise.api.deps import LoopwiseDep, ProjectName, TaskId, allowed
from loopwise.api.policies import Action
from loopwise.api.schemas import (
    READ_ERRORS,
    WRITE_ERRORS,
    ClaimIn,
    ClaimPublic,
    ContributionPublic,
    ExplanationPublic,
    ItemPublic,
    LeasePublic,
    PredictionPublic,
    QueueEntryPublic,
    ReleaseClaimsIn,
    ReleasedPublic,
    ReviewPublic,
    TaskPublic,
    VerdictIn,
    VerdictPublic,
)
from loopwise.core.entities import QueueEntry, Review
from loopwise.core.enums import Stage
from loopwise.services import explanations
from loopwise.services.accounts import Principal
from loopwise.services.loop import Loopwise

router = APIRouter(tags=["review"], responses=READ_ERRORS)
Reviewer = Annotated[Principal, Depends(allowed(Action.REVIEW))]


def review_public(r: Review) -> ReviewPublic:
    return ReviewPublic.model_validate(r)


def entry_public(e: QueueEntry) -> QueueEntryPublic:
    t, i, p = e.task, e.item, e.prediction
    return QueueEntryPublic(
        task=TaskPublic(
            id=t.id,
            stage=t.stage,
            priority=t.priority,
            priority_score=t.priority_score,
            status=t.status,
            claimed_by=t.claimed_by,
            lease_expires_at=t.lease_expires_at,
            created_at=t.created_at,
            due_at=t.due_at,
            required_reviews=t.required_reviews,
            required_tags=list(t.required_tags),
        ),
        item=ItemPublic(
            id=i.id,
            external_id=i.external_id,
            payload=i.payload,
            metadata=i.metadata,
            status=i.status,
            created_at=i.created_at,
        ),
        prediction=None
        if p is None
        else PredictionPublic(
            predicted_label=p.predicted_label,
            confidence=p.confidence,
            uncertainty=p.uncertainty,
            probabilities=list(p.probabilities),
        ),
        reasons=list(e.reasons),
        earlier_reviews=[review_public(r) for r in e.earlier_reviews],
    )


@router.get("/projects/{project}/queue", response_model=list[QueueEntryPublic])
def list_queue(
    project: ProjectName,
    lw: LoopwiseDep,
    _: Annotated[Principal, Depends(allowed(Action.READ_QUEUE))],
    stage: Stage | None = None,
    limit: Annotated[int, Query(ge=1, le=500)] = 50,
    offset: Annotated[int, Query(ge=0, le=1_000_000)] = 0,
) -> list[QueueEntryPublic]:
    """Open tasks in serving order (what is waiting, not what a reviewer will be handed)."""
    entries = lw.queue(project, stage=stage, limit=limit, offset=offset)
    return [entry_public(e) for e in entries]


@router.post("/projects/{project}/queue/claim", responses=WRITE_ERRORS, response_model=ClaimPublic)
def claim_next(
    project: ProjectName,
    lw: LoopwiseDep,
    who: Reviewer,
    body: ClaimIn | None = None,
    explain: Annotated[
        bool, Query(description="also say what pushed the model (the review page asks)")
    ] = False,
) -> ClaimPublic:
    """The best task the caller may take, under a lease; ``entry`` is null when none is left."""
    body = body or ClaimIn()
    entry = lw.claim_next(project, who.name, stage=body.stage, claim_key=body.claim_key)
    if entry is None:
        return ClaimPublic(entry=None)
    return ClaimPublic(
        entry=entry_public(entry), explanation=explained(lw, project, entry, explain)
    )


def explained(
    lw: Loopwise, project: str, entry: QueueEntry, explain: bool
) -> ExplanationPublic | None:
    """What pushed the production model towards the entry's suggestion, when asked."""
    if not explain or entry.prediction is None:
        return None
    found = explanations.explain(
        lw.ctx, project, entry.item.payload, entry.prediction.predicted_label
    )
    if found is None:
        return None
    return ExplanationPublic(
        model_version=found.model_version,
        label=found.label,
        contributions=[
            ContributionPublic(feature=c.feature, weight=c.weight, value=c.value)
            for c in found.contributions
        ],
    )


@router.get("/projects/{project}/queue/mine", response_model=list[ClaimPublic])
def held_by_me(
    project: ProjectName,
    lw: LoopwiseDep,
    who: Reviewer,
    explain: Annotated[bool, Query(description="also say what pushed the model")] = False,
) -> list[ClaimPublic]:
    """The tasks the caller holds under a live lease, each as a claim answered it (to pick
    them up again after a reload)."""
    return [
        ClaimPublic(entry=entry_public(e), explanation=explained(lw, project, e, explain))
        for e in lw.held_by(project, who.name)
    ]


@router.post(
    "/projects/{project}/tasks/{task_id}/heartbeat",
    responses=WRITE_ERRORS,
    response_model=LeasePublic,
)
def heartbeat(project: ProjectName, task_id: TaskId, lw: LoopwiseDep, who: Reviewer) -> LeasePublic:
    """Renew the lease on a task the caller holds."""
    return LeasePublic(task_id=task_id, lease_expires_at=lw.heartbeat(project, task_id, who.name))


@router.post(
    "/projects/{project}/queue/release", responses=WRITE_ERRORS, response_model=ReleasedPublic
)
def release_claims(
    project: ProjectName, body: ReleaseClaimsIn, lw: LoopwiseDep, who: Reviewer
) -> ReleasedPublic:
    """Give back the tasks the caller holds through claims made with these keys (a page being
    left sends the keys of its claims in flight), and make the claims not made yet take
    nothing. One transaction."""
    return ReleasedPublic(released=lw.release_claims(project, who.name, body.claim_keys))


@router.post("/projects/{project}/tasks/{task_id}/release", responses=WRITE_ERRORS, status_code=204)
def release(project: ProjectName, task_id: TaskId, lw: LoopwiseDep, who: Reviewer) -> None:
    """Give a held task back to the queue."""
    lw.release(project, task_id, who.name)


@router.post(
    "/projects/{project}/tasks/{task_id}/verdict",
    responses=WRITE_ERRORS,
    response_model=VerdictPublic,
)
def submit_verdict(
    project: ProjectName, task_id: TaskId, body: VerdictIn, lw: LoopwiseDep, who: Reviewer
) -> VerdictPublic:
    """Approve, reject, correct (with ``label``), escalate or skip a held task."""
    result = lw.submit_verdict(
        project,
        task_id,
        who.name,
        body.verdict,
        label=body.label,
        error_category=body.error_category,
        comment=body.comment,
    )
    return VerdictPublic(
        review=review_public(result.review),
        resolved=result.resolved,
        final_label=result.final_label,
        escalated=result.escalated,
        break_suggested=result.session is not None and result.session.break_suggested,
    )


@router.post("/projects/{project}/queue/undo", responses=WRITE_ERRORS, response_model=ReviewPublic)
def undo(project: ProjectName, lw: LoopwiseDep, who: Reviewer) -> ReviewPublic:
    """Take back the caller's last verdict, within the project's undo window."""
    return review_public(lw.undo(project, who.name))
