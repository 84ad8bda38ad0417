"""The common verdicts, each written in one round trip (see :mod:`loopwise.store.writes`): an
answer that settles its task (alone, or as the last of several that agree enough), and an
answer that leaves a multi-review task waiting for more.

They record exactly what the general path in :mod:`loopwise.services.verdicts` records (the
review, the reviewer's session, the task, the resolution and its label, the audit events);
the tests of verdicts run through both.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from loopwise.core.entities import Label, Project, Review
from loopwise.core.enums import ItemStatus, LabelSource, Stage, Verdict
from loopwise.queue.fatigue import SessionState
from loopwise.services.context import Tx
from loopwise.services.resolution import audit_resolved, golden_reason, split_for
from loopwise.services.reviewers import Access
from loopwise.services.reviews import Holding
from loopwise.store import writes
from loopwise.store.tables import ReviewRow


@dataclass(frozen=True)
class Session:
    """The reviewer's session after this verdict, and whether a break is due."""

    started_at: str
    minutes: float
    count: int
    break_suggested: bool


@dataclass(frozen=True)
class VerdictResult:
    """What became of a verdict. ``resolved``: the task is settled for this reviewer (the
    item has its label, or, on a gold item, the answer was scored); ``escalated``: it went
    to an expert; otherwise it waits for more independent reviews or went back to the queue."""

    review: Review
    resolved: bool = False
    label: Label | None = None
    final_label: str | None = None
    escalated: bool = False
    session: Session | None = None


@dataclass(frozen=True)
class Answer:
    """What a reviewer said about a task (the validated arguments of a verdict), and their
    session after it (to store) and as reported."""

    verdict: Verdict
    label: str | None
    error_category: str | None
    comment: str
    session: SessionState
    reported: Session


def audit_review(
    tx: Tx, project: Project, who: Access, held: Holding, answer: Answer, review_id: int
) -> dict[str, Any]:
    """The audit event of a review (every verdict writes one)."""
    return tx.audit(
        actor=who.name,
        action="review.submitted",
        entity_type="review_task",
        entity_id=held.task_id,
        project_id=project.id,
        after={
            "review_id": review_id,
            "verdict": answer.verdict.value,
            "label": answer.label,
            "error_category": answer.error_category,
            "suggestion": held.suggestion,
        },
    )


@dataclass(frozen=True)
class Resolution:
    """The label an item is resolved with, and where it came from."""

    value: str | None
    source: LabelSource
    agreement: float | None = None
    weight: float = 1.0


def settle(
    tx: Tx,
    project: Project,
    who: Access,
    held: Holding,
    answer: Answer,
    review_id: int | None,
    resolution: Resolution | None = None,
) -> VerdictResult:
    """Record ``answer`` and resolve the item: with ``resolution`` (the consensus of the
    task's answers, this one the last), or with the answer alone (a task that takes one
    review, or an expert's). ``review_id``: reserved already (PostgreSQL, with the task),
    else reserved here."""
    now = tx.now
    stage = Stage(held.task["stage"])
    if resolution is None:
        source = LabelSource.EXPERT if stage is Stage.EXPERT else LabelSource.REVIEWER
        resolution = Resolution(answer.label, source)
    value, source = resolution.value, resolution.source
    assert held.item_status == ItemStatus.QUEUED.value
    review_id = _reserved(tx, review_id)
    params = _review_params(project, who, held, answer, review_id, now) | {
        "decision__item_id": held.item_id,
        "decision__final_label": value,
        "decision__decided_by": who.name,
        "decision__now": now,
        "item__id": held.item_id,
        "item__now": now,
        "task__id": held.task_id,
        "task__now": now,
    }
    parts = ["review", "session", "decision", "item", "task"]
    split = None if value is None else split_for(project, held.external_id)
    if value is not None and split is not None:
        parts.append("label")
        params |= {
            "label__project_id": project.id,
            "label__item_id": held.item_id,
            "label__value": value,
            "label__source": source.value,
            "label__split": split.value,
            "label__weight": resolution.weight,
            "label__agreement": resolution.agreement,
            "label__review_task_id": held.task_id,
            "label__created_by": who.name,
            "label__created_at": now,
        }
        reason = golden_reason(project, held.external_id, held.suggestion, value, source)
        if reason is not None:
            parts.append("golden")
            params |= {
                "golden__project_id": project.id,
                "golden__item_id": held.item_id,
                "golden__label": value,
                "golden__reason": reason,
                "golden__created_at": now,
            }
    tx.write_audit()
    events = (
        audit_review(tx, project, who, held, answer, review_id),
        audit_resolved(
            tx,
            project,
            held.item_id,
            value,
            source=source,
            actor=who.name,
            agreement=resolution.agreement,
            task_id=held.task_id,
            predicted_label=held.suggestion,
            before=held.decision,
        ),
    )
    audit, audit_params = writes.audit_params(events)
    ids = writes.write(tx.session, (*parts, *audit), params | audit_params)
    tx.wrote(*events)
    label = None
    if value is not None and split is not None:
        label = Label(
            id=ids["label"],
            project_id=project.id,
            item_id=held.item_id,
            value=value,
            source=source,
            split=split,
            weight=resolution.weight,
            agreement=resolution.agreement,
            created_by=who.name,
            created_at=now,
        )
    return VerdictResult(
        review=_review(held, who, answer, review_id, now),
        resolved=True,
        label=label,
        final_label=value,
        session=answer.reported,
    )


def await_more(
    tx: Tx,
    project: Project,
    who: Access,
    held: Holding,
    answer: Answer,
    review_id: int | None,
) -> VerdictResult:
    """Record ``answer``, one of several independent reviews a task still needs, and put the
    task back in the queue for someone else (blind: nobody is shown the answers so far)."""
    review_id = _reserved(tx, review_id)
    params = _review_params(project, who, held, answer, review_id, tx.now)
    params["requeue__id"] = held.task_id
    tx.write_audit()
    event = audit_review(tx, project, who, held, answer, review_id)
    audit, audit_params = writes.audit_params([event])
    writes.write(tx.session, ("review", "session", "requeue", *audit), params | audit_params)
    tx.wrote(event)
    return VerdictResult(
        review=_review(held, who, answer, review_id, tx.now), session=answer.reported
    )


def _reserved(tx: Tx, review_id: int | None) -> int:
    if review_id is not None:
        return review_id
    reserved = tx.repo.reserve_ids({ReviewRow: 1})
    assert reserved is not None, "loopwise runs on SQLite or PostgreSQL"
    [review_id] = reserved[ReviewRow]
    return review_id


def _review_params(
    project: Project, who: Access, held: Holding, answer: Answer, review_id: int, now: datetime
) -> dict[str, Any]:
    """The parameters of the ``review`` and ``session`` writes."""
    return {
        "review__id": review_id,
        "review__project_id": project.id,
        "review__task_id": held.task_id,
        "review__item_id": held.item_id,
        "review__reviewer": who.name,
        "review__verdict": answer.verdict.value,
        "review__label": answer.label,
        "review__error_category": answer.error_category,
        "review__comment": answer.comment,
        "review__stage": held.task["stage"],
        "review__session_position": answer.session.count,
        "review__created_at": now,
        "session__id": who.id,
        "session__session_started_at": answer.session.started_at,
        "session__session_last_at": answer.session.last_at,
        "session__session_count": answer.session.count,
    }


def _review(held: Holding, who: Access, answer: Answer, review_id: int, now: datetime) -> Review:
    return Review(
        id=review_id,
        task_id=held.task_id,
        reviewer=who.name,
        verdict=answer.verdict,
        label=answer.label,
        error_category=answer.error_category,
        comment=answer.comment,
        created_at=now,
        stage=Stage(held.task["stage"]),
    )
