"""Use cases of people reviewing: list the queue, claim with a lease, release, give a verdict."""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass
from datetime import timedelta

from sqlalchemy import select

from loopwise.core.entities import Label, QueueEntry, Review
from loopwise.core.enums import ItemStatus, LabelSource, Stage, TaskStatus, Verdict
from loopwise.core.payloads import validate_label
from loopwise.errors import (
    InvalidInput,
    LeaseExpired,
    NotTaskHolder,
    TaskNotFound,
)
from loopwise.services.context import Context, Tx
from loopwise.services.resolution import resolve_item
from loopwise.store import mappers
from loopwise.store.tables import ItemRow, ProjectRow, ReviewRow, ReviewTaskRow


def _check_reviewer(reviewer: object) -> str:
    if not isinstance(reviewer, str) or not reviewer.strip() or len(reviewer) > 200:
        raise InvalidInput("must be a non-empty name of at most 200 characters", field="reviewer")
    return reviewer


def _entry(tx: Tx, task: ReviewTaskRow) -> QueueEntry:
    item = tx.session.get(ItemRow, task.item_id)
    assert item is not None
    prediction = tx.repo.latest_prediction(item.id)
    decision = tx.repo.decision_for(item.id)
    return QueueEntry(
        task=mappers.task(task),
        item=mappers.item(item),
        prediction=None if prediction is None else mappers.prediction(prediction),
        reasons=() if decision is None else tuple(decision.reasons),
    )


def list_queue(
    ctx: Context, project_name: str, *, stage: Stage | None = None, limit: int = 50, offset: int = 0
) -> list[QueueEntry]:
    """Open and claimed tasks in the order they are served: priority, then uncertainty, then age."""
    if not 1 <= limit <= 1000:
        raise InvalidInput("must be between 1 and 1000", field="limit")
    with ctx.read() as tx:
        project = tx.repo.project_by_name(project_name)
        rows = tx.session.scalars(
            tx.repo.queue_query(project.id, stage).offset(offset).limit(limit)
        ).all()
        return [_entry(tx, row) for row in rows]


def claim_next(
    ctx: Context, project_name: str, reviewer: str, *, stage: Stage = Stage.REVIEW
) -> QueueEntry | None:
    """Hand ``reviewer`` the best task they may take, under a lease; ``None`` if none is left.

    A task whose lease lapsed is claimable again; a reviewer never gets a task they reviewed.
    """
    reviewer = _check_reviewer(reviewer)
    with ctx.write() as tx:
        project = tx.repo.project_by_name(project_name)
        expires = tx.now + timedelta(seconds=ctx.settings.lease_seconds)
        for _ in range(5):
            row = tx.repo.next_claimable(project.id, stage, reviewer, tx.now)
            if row is None:
                return None
            if tx.repo.claim(row.id, reviewer, tx.now, expires):
                tx.session.refresh(row)
                tx.audit(
                    actor=reviewer,
                    action="task.claimed",
                    entity_type="review_task",
                    entity_id=row.id,
                    project_id=project.id,
                    after={"lease_expires_at": expires.isoformat()},
                )
                return _entry(tx, row)
        return None


def _held_task(tx: Tx, project: ProjectRow, task_id: int, reviewer: str) -> ReviewTaskRow:
    task = tx.repo.task(task_id, lock=True)
    if task is None or task.project_id != project.id:
        raise TaskNotFound(f"no review task {task_id} in project {project.name!r}", field="task_id")
    if task.status != TaskStatus.CLAIMED.value or task.claimed_by != reviewer:
        state = "is resolved" if task.status == TaskStatus.DONE.value else "is not held by you"
        raise NotTaskHolder(f"task {task_id} {state}", field="task_id")
    assert task.lease_expires_at is not None
    if task.lease_expires_at <= tx.now:
        raise LeaseExpired(
            f"your lease on task {task_id} expired at {task.lease_expires_at.isoformat()}",
            field="task_id",
        )
    return task


def release(ctx: Context, project_name: str, task_id: int, reviewer: str) -> None:
    """Give a held task back to the queue."""
    reviewer = _check_reviewer(reviewer)
    with ctx.write() as tx:
        project = tx.repo.project_by_name(project_name)
        task = _held_task(tx, project, task_id, reviewer)
        task.status = TaskStatus.OPEN.value
        task.claimed_by = None
        task.lease_expires_at = None
        tx.session.flush()
        tx.audit(
            actor=reviewer,
            action="task.released",
            entity_type="review_task",
            entity_id=task.id,
            project_id=project.id,
        )


@dataclass(frozen=True)
class VerdictResult:
    review: Review
    resolved: bool
    label: Label | None
    final_label: str | None


def _label_meant(
    verdict: Verdict, label: str | None, suggestion: str | None, labels: tuple[str, ...]
) -> str | None:
    """The label a verdict stands for (see :class:`Verdict`); ``None`` = undecidable input."""
    if verdict is Verdict.APPROVE:
        if suggestion is None:
            raise InvalidInput(
                "there is no model suggestion to approve; give a label", field="verdict"
            )
        return suggestion
    if verdict is Verdict.CORRECT:
        if label is None:
            raise InvalidInput("a correction needs a label", field="label")
        return label
    if label is not None:
        return label
    if len(labels) == 2 and suggestion is not None:
        return labels[1 - labels.index(suggestion)]
    return None


def submit_verdict(
    ctx: Context,
    project_name: str,
    task_id: int,
    reviewer: str,
    verdict: Verdict | str,
    *,
    label: str | None = None,
    error_category: str | None = None,
    comment: str = "",
) -> VerdictResult:
    """Record a reviewer's verdict on a task they hold and, when enough reviews are in, resolve it.

    Raises ``NotTaskHolder``, ``LeaseExpired``, ``TaskNotFound`` or ``InvalidInput``; nothing is
    written when it does.
    """
    reviewer = _check_reviewer(reviewer)
    try:
        verdict = Verdict(verdict)
    except ValueError:
        raise InvalidInput(
            f"{verdict!r} is not one of {[v.value for v in Verdict]}", field="verdict"
        ) from None
    if not isinstance(comment, str) or len(comment) > 5000:
        raise InvalidInput("must be a string of at most 5000 characters", field="comment")
    with ctx.write() as tx:
        project_row = tx.repo.project_by_name(project_name)
        project = mappers.project(project_row)
        if label is not None:
            validate_label(label, project.labels, field="label")
        if error_category is not None and error_category not in project.error_taxonomy:
            raise InvalidInput(
                f"{error_category!r} is not in the project's error taxonomy "
                f"{list(project.error_taxonomy)}",
                field="error_category",
            )
        task = _held_task(tx, project_row, task_id, reviewer)
        prediction = tx.repo.latest_prediction(task.item_id)
        suggestion = None if prediction is None else prediction.predicted_label
        meant = _label_meant(verdict, label, suggestion, project.labels)
        review = ReviewRow(
            project_id=project.id,
            task_id=task.id,
            item_id=task.item_id,
            reviewer=reviewer,
            verdict=verdict.value,
            label=meant,
            error_category=error_category,
            comment=comment,
            created_at=tx.now,
        )
        tx.repo.add(review)
        tx.audit(
            actor=reviewer,
            action="review.submitted",
            entity_type="review_task",
            entity_id=task.id,
            project_id=project.id,
            after={
                "verdict": verdict.value,
                "label": meant,
                "error_category": error_category,
                "suggestion": suggestion,
            },
        )
        reviews = tx.repo.reviews_for(task.id)
        if len(reviews) < task.required_reviews:
            task.status = TaskStatus.OPEN.value
            task.claimed_by = None
            task.lease_expires_at = None
            tx.session.flush()
            return VerdictResult(mappers.review(review), False, None, None)
        votes = Counter(r.label for r in reviews)
        final, count = max(votes.items(), key=lambda kv: (kv[1], kv[0] == suggestion))
        source = (
            LabelSource.EXPERT
            if task.stage == Stage.EXPERT.value
            else LabelSource.REVIEWER
            if len(reviews) == 1
            else LabelSource.CONSENSUS
        )
        item = tx.session.get(ItemRow, task.item_id)
        assert item is not None
        assert item.status == ItemStatus.QUEUED.value
        label_row = resolve_item(
            tx,
            project,
            item,
            final,
            source=source,
            actor=reviewer,
            agreement=count / len(reviews),
            task=task,
            predicted_label=suggestion,
        )
        return VerdictResult(
            review=mappers.review(review),
            resolved=True,
            label=None if label_row is None else mappers.label(label_row),
            final_label=final,
        )


def reviews_of_item(ctx: Context, item_id: int) -> list[Review]:
    with ctx.read() as tx:
        rows = tx.session.scalars(
            select(ReviewRow).where(ReviewRow.item_id == item_id).order_by(ReviewRow.id)
        )
        return [mappers.review(r) for r in rows]
