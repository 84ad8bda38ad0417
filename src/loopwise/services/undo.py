"""Taking a verdict back within the project's undo window, with everything it caused."""

from __future__ import annotations

from datetime import timedelta

from sqlalchemy import delete, func, select

from loopwise.core.entities import Review
from loopwise.core.enums import ItemStatus, TaskStatus, Verdict
from loopwise.errors import TaskNotFound, UndoWindowClosed
from loopwise.services.context import Context, Tx
from loopwise.services.reviewers import Access, access, check_name
from loopwise.services.reviews import lease_seconds
from loopwise.services.verdicts import refresh_flag
from loopwise.store import mappers
from loopwise.store.tables import GoldenItemRow, ItemRow, LabelRow, ReviewRow, ReviewTaskRow


def undo(ctx: Context, project_name: str, reviewer: str) -> Review:
    """Take back ``reviewer``'s last verdict in the project, within ``undo_seconds``.

    The task comes back to them under a fresh lease with everything the verdict caused
    reverted: the label and final decision of a resolution, an expert task nobody has
    taken yet, a gold score. Refused (``UndoWindowClosed``) when the window has passed or
    someone has acted on the task since.
    """
    reviewer = check_name(reviewer)
    with ctx.write() as tx:
        who = access(tx, project_name, reviewer, lock=True)
        project = who.project(ctx, tx)
        review = tx.session.scalar(
            select(ReviewRow)
            .where(ReviewRow.project_id == project.id, ReviewRow.reviewer == reviewer)
            .order_by(ReviewRow.id.desc())
            .limit(1)
        )
        if review is None:
            raise TaskNotFound(f"{reviewer!r} has no verdict to undo here", field="reviewer")
        window = timedelta(seconds=project.review.undo_seconds)
        if tx.now - review.created_at > window:
            raise UndoWindowClosed(
                f"verdicts can be undone for {project.review.undo_seconds} s; this one is older",
                field="review",
            )
        task = tx.repo.task(review.task_id, lock=True)
        assert task is not None
        later = tx.session.scalar(
            select(func.count())
            .select_from(ReviewRow)
            .where(ReviewRow.item_id == review.item_id, ReviewRow.id > review.id)
        )
        if later:
            raise UndoWindowClosed("others have reviewed this item since", field="review")
        before = mappers.review(review)
        _revert(tx, task, review, who)
        tx.session.execute(delete(ReviewRow).where(ReviewRow.id == review.id))
        if review.gold_correct is not None:
            refresh_flag(tx, project, who)
        task.status = TaskStatus.CLAIMED.value
        task.claimed_by = reviewer
        task.claimed_at = tx.now
        task.resolved_at = None
        task.lease_expires_at = tx.now + timedelta(seconds=lease_seconds(ctx, project.review))
        if review.verdict == Verdict.SKIP.value and task.skips:
            task.skips -= 1
        if who.session is not None and who.session.count:
            tx.repo.set_session(
                who.id, who.session.started_at, who.session.last_at, who.session.count - 1
            )
        tx.session.flush()
        tx.audit(
            actor=reviewer,
            action="review.undone",
            entity_type="review_task",
            entity_id=task.id,
            project_id=project.id,
            before={
                "review_id": before.id,
                "verdict": before.verdict.value,
                "label": before.label,
                "error_category": before.error_category,
            },
        )
        return before


def _revert(tx: Tx, task: ReviewTaskRow, review: ReviewRow, who: Access) -> None:
    """Undo what ``review`` caused on ``task`` (see :func:`undo`)."""
    if task.status == TaskStatus.CLAIMED.value and task.claimed_by != who.name:
        raise UndoWindowClosed("someone else holds this task now", field="review")
    if task.status == TaskStatus.ESCALATED.value:
        expert = tx.session.scalar(
            select(ReviewTaskRow).where(ReviewTaskRow.escalated_from == task.id).with_for_update()
        )
        if expert is not None and expert.status != TaskStatus.OPEN.value:
            raise UndoWindowClosed("an expert has taken the escalated task", field="review")
        if expert is not None:
            expert.status = TaskStatus.CANCELLED.value
    if task.status == TaskStatus.DONE.value and task.honeypot_id is None:
        item = tx.session.get(ItemRow, task.item_id)
        decision = tx.repo.decision_for(task.item_id)
        assert item is not None
        assert decision is not None
        item.status = ItemStatus.QUEUED.value
        item.updated_at = tx.now
        decision.final_label = None
        decision.decided_by = None
        decision.decided_at = None
        tx.session.execute(
            delete(LabelRow).where(
                LabelRow.item_id == task.item_id, LabelRow.review_task_id == task.id
            )
        )
        tx.session.execute(
            delete(GoldenItemRow).where(
                GoldenItemRow.item_id == task.item_id,
                GoldenItemRow.created_at >= review.created_at,
            )
        )
