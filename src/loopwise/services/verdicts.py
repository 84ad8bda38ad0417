"""Use cases of a verdict: record it, then settle the task (resolve it, wait for more reviews,
or escalate it to an expert), score gold answers, and undo within a short window.

Each runs in one transaction with its audit events: a verdict is recorded whole or not at all.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from sqlalchemy import case, delete, func, select

from loopwise.consensus.settle import settle
from loopwise.core.entities import Label, Project, Review
from loopwise.core.enums import ItemStatus, LabelSource, Priority, Stage, TaskStatus, Verdict
from loopwise.core.payloads import validate_label
from loopwise.errors import InvalidInput, TaskNotFound, UndoWindowClosed
from loopwise.queue.fatigue import SessionState, advance_session, break_due
from loopwise.queue.matching import tags_of
from loopwise.queue.quality import gold_score
from loopwise.services.context import Context, Tx
from loopwise.services.resolution import resolve_item
from loopwise.services.reviewers import Access, access, check_name
from loopwise.services.reviews import held_task, lease_seconds
from loopwise.services.tasks import return_to_queue, task_values
from loopwise.store import mappers
from loopwise.store import queue as q
from loopwise.store.tables import (
    GoldenItemRow,
    HoneypotRow,
    ItemRow,
    LabelRow,
    ReviewRow,
    ReviewTaskRow,
)


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


def _label_meant(
    verdict: Verdict, label: str | None, suggestion: str | None, labels: tuple[str, ...]
) -> str | None:
    """The label a verdict stands for (see :class:`Verdict`); ``None`` = undecidable input."""
    if verdict is Verdict.APPROVE:
        if label is not None and label != suggestion:
            raise InvalidInput(
                f"approve means the suggestion {suggestion!r}; to give {label!r} use 'correct'",
                field="label",
            )
        if suggestion is None:
            raise InvalidInput(
                "there is no model suggestion to approve; give a label", field="verdict"
            )
        return suggestion
    if verdict is Verdict.CORRECT:
        if label is None:
            raise InvalidInput("a correction needs a label", field="label")
        return label
    if label is not None or verdict is not Verdict.REJECT:
        return label
    if len(labels) == 2 and suggestion is not None:
        return labels[1 - labels.index(suggestion)]
    return None


def _session(tx: Tx, who: Access, project: Project) -> Session:
    row = who.row
    state = None
    if row.session_started_at is not None and row.session_last_at is not None:
        state = SessionState(row.session_started_at, row.session_last_at, row.session_count)
    state = advance_session(state, tx.now, project.review.session_gap_minutes)
    row.session_started_at, row.session_last_at, row.session_count = (
        state.started_at,
        state.last_at,
        state.count,
    )
    due = break_due(
        state,
        after_minutes=project.review.break_after_minutes,
        after_tasks=project.review.break_after_tasks,
    )
    return Session(state.started_at.isoformat(), state.minutes, state.count, due)


def _escalate(
    tx: Tx, project: Project, task: ReviewTaskRow, actor: str, reason: str
) -> ReviewTaskRow:
    """Close ``task`` and open an expert task for its item, at least high priority."""
    task.status = TaskStatus.ESCALATED.value
    task.claimed_by = None
    task.lease_expires_at = None
    task.resolved_at = tx.now
    expert = ReviewTaskRow(
        **task_values(
            project,
            task.item_id,
            stage=Stage.EXPERT,
            priority=Priority(min(task.priority, int(Priority.HIGH))),
            score=task.priority_score,
            now=tx.now,
            tags=tags_of(task.required_tags),
            escalated_from=task.id,
        )
    )
    tx.repo.add(expert)
    tx.audit(
        actor=actor,
        action="task.escalated",
        entity_type="review_task",
        entity_id=task.id,
        project_id=project.id,
        after={"expert_task_id": expert.id, "reason": reason},
    )
    return expert


def _score_gold(tx: Tx, project: Project, who: Access, review: ReviewRow, truth: str) -> None:
    """Mark the gold answer, then flag (or clear) the reviewer against the project's floor."""
    review.gold_correct = review.label == truth
    tx.session.flush()
    _refresh_flag(tx, project, who)


def _refresh_flag(tx: Tx, project: Project, who: Access) -> None:
    """Flag the reviewer when their gold record is surely below the floor; clear it when not."""
    answers, correct = tx.session.execute(
        select(func.count(), func.sum(case((ReviewRow.gold_correct.is_(True), 1), else_=0))).where(
            ReviewRow.project_id == project.id,
            ReviewRow.reviewer == who.row.name,
            ReviewRow.gold_correct.is_not(None),
        )
    ).one()
    score = gold_score(
        int(correct or 0),
        int(answers),
        floor=project.review.gold_floor,
        min_answers=project.review.gold_min_answers,
    )
    member = who.member
    if member is None:
        return
    if score.below_floor and member.flagged_at is None:
        member.flagged_at = tx.now
        member.flag_reason = (
            f"gold accuracy {score.accuracy:.0%} ({score.correct}/{score.answers}; 95% interval "
            f"{score.low:.0%}-{score.high:.0%}) is below the floor {project.review.gold_floor:.0%}"
        )
        tx.audit(
            actor="system",
            action="reviewer.flagged",
            entity_type="reviewer",
            entity_id=who.row.id,
            project_id=project.id,
            after={"reviewer": who.row.name, "reason": member.flag_reason},
        )
    elif not score.below_floor and member.flagged_at is not None:
        member.flagged_at = None
        member.flag_reason = None
        tx.audit(
            actor="system",
            action="reviewer.unflagged",
            entity_type="reviewer",
            entity_id=who.row.id,
            project_id=project.id,
            after={"reviewer": who.row.name, "accuracy": score.accuracy},
        )


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
    """Record a verdict on a task ``reviewer`` holds, then settle the task.

    With fewer independent answers than the task needs, the task goes back to the queue for
    someone else (blind: nobody sees the answers so far). With enough, they are aggregated;
    agreement below the project's ``min_agreement`` escalates to an expert, whose verdict is
    final. ``skip`` passes the task on (after ``skips_to_escalate`` skips it goes to an
    expert); ``escalate`` sends it to an expert now.

    Raises ``NotTaskHolder``, ``LeaseExpired``, ``TaskNotFound``, ``NotAllowed`` or
    ``InvalidInput``; nothing is written when it does.
    """
    reviewer = check_name(reviewer)
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
        who = access(tx, project_row, reviewer, lock=True)
        if label is not None:
            validate_label(label, project.labels, field="label")
        if error_category is not None and error_category not in project.error_taxonomy:
            raise InvalidInput(
                f"{error_category!r} is not in the project's error taxonomy "
                f"{list(project.error_taxonomy)}",
                field="error_category",
            )
        task = held_task(tx, project_row, task_id, reviewer)
        expert_stage = task.stage == Stage.EXPERT.value
        if verdict is Verdict.ESCALATE and expert_stage:
            raise InvalidInput(
                "an expert verdict is final: there is no one to escalate to", field="verdict"
            )
        prediction = tx.repo.latest_prediction(task.item_id)
        suggestion = None if prediction is None else prediction.predicted_label
        meant = (
            None
            if verdict is Verdict.SKIP
            else _label_meant(verdict, label, suggestion, project.labels)
        )
        session = _session(tx, who, project)
        review = ReviewRow(
            project_id=project.id,
            task_id=task.id,
            item_id=task.item_id,
            reviewer=reviewer,
            verdict=verdict.value,
            label=meant,
            error_category=error_category,
            comment=comment,
            stage=task.stage,
            session_position=session.count,
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
                "review_id": review.id,
                "verdict": verdict.value,
                "label": meant,
                "error_category": error_category,
                "suggestion": suggestion,
            },
        )

        outcome = _after_review(tx, project, who, task, review, verdict, suggestion)
        return VerdictResult(review=mappers.review(review), session=session, **outcome)


def _after_review(
    tx: Tx,
    project: Project,
    who: Access,
    task: ReviewTaskRow,
    review: ReviewRow,
    verdict: Verdict,
    suggestion: str | None,
) -> dict[str, Any]:
    """Settle ``task`` after ``review``; what to report (fields of :class:`VerdictResult`)."""
    expert_stage = task.stage == Stage.EXPERT.value
    if task.honeypot_id is not None:
        if verdict is Verdict.SKIP:
            return_to_queue(task)
            return {}
        gold = tx.session.get(HoneypotRow, task.honeypot_id)
        assert gold is not None
        task.status = TaskStatus.DONE.value
        task.resolved_at = tx.now
        task.lease_expires_at = None
        if verdict.answers:
            _score_gold(tx, project, who, review, gold.label)
            return {"resolved": True, "final_label": review.label}
        # Answered like live work would be, so a gold item never gives itself away.
        return {"escalated": True}
    if verdict is Verdict.SKIP:
        task.skips += 1
        if not expert_stage and task.skips >= project.review.skips_to_escalate:
            _escalate(tx, project, task, "system", f"skipped by {task.skips} reviewers")
            return {"escalated": True}
        return_to_queue(task)
        tx.session.flush()
        return {}
    if verdict is Verdict.ESCALATE:
        _escalate(tx, project, task, review.reviewer, f"escalated by {review.reviewer}")
        return {"escalated": True}
    return _settle(tx, project, task, review, suggestion)


def _settle(
    tx: Tx, project: Project, task: ReviewTaskRow, review: ReviewRow, suggestion: str | None
) -> dict[str, Any]:
    """Resolve the task when it has all its answers (or escalate on disagreement)."""
    answers = q.answers_of(tx.session, task.id)
    if len(answers) < task.required_reviews:
        return_to_queue(task)
        tx.session.flush()
        return {}
    expert = task.stage == Stage.EXPERT.value
    agreement: float | None = None
    weight = 1.0
    final = review.label
    if expert:
        source = LabelSource.EXPERT
    elif len(answers) == 1:
        source = LabelSource.REVIEWER
    else:
        source = LabelSource.CONSENSUS
        given = [a for a in answers if a.label is not None]
        if len(given) < len(answers):
            _escalate(tx, project, task, "system", "a reviewer judged the input undecidable")
            return {"escalated": True}
        index = {name: i for i, name in enumerate(project.labels)}
        history = [
            (item_id, who, index[value], None if gold is None else index.get(gold))
            for item_id, who, value, gold in q.consensus_history(
                tx.session, project.id, project.review.consensus_window
            )
            if item_id != task.item_id and value in index
        ]
        consensus = settle(
            [(a.reviewer, index[a.label]) for a in given if a.label is not None],
            history,
            n_classes=len(project.labels),
            method=project.review.aggregator,
        )
        agreement = consensus.agreement
        weight = consensus.confidence
        final = project.labels[consensus.label]
        if agreement < project.review.min_agreement:
            _escalate(
                tx,
                project,
                task,
                "system",
                f"reviewers disagreed: agreement {agreement:.2f} is below "
                f"{project.review.min_agreement:.2f}",
            )
            return {"escalated": True}
    item = tx.session.get(ItemRow, task.item_id)
    assert item is not None
    assert item.status == ItemStatus.QUEUED.value
    label_row = resolve_item(
        tx,
        project,
        item,
        final,
        source=source,
        actor=review.reviewer,
        agreement=agreement,
        weight=weight,
        task=task,
        predicted_label=suggestion,
    )
    return {
        "resolved": True,
        "label": None if label_row is None else mappers.label(label_row),
        "final_label": final,
    }


def undo(ctx: Context, project_name: str, reviewer: str) -> Review:
    """Take back ``reviewer``'s last verdict in the project, within ``undo_seconds``.

    The task comes back to them under a fresh lease with everything the verdict caused
    reverted: the label and final decision of a resolution, an expert task nobody has
    taken yet, a gold score. Refused (``UndoWindowClosed``) when the window has passed or
    someone has acted on the task since.
    """
    reviewer = check_name(reviewer)
    with ctx.write() as tx:
        project_row = tx.repo.project_by_name(project_name)
        project = mappers.project(project_row)
        who = access(tx, project_row, reviewer, lock=True)
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
            _refresh_flag(tx, project, who)
        task.status = TaskStatus.CLAIMED.value
        task.claimed_by = reviewer
        task.claimed_at = tx.now
        task.resolved_at = None
        task.lease_expires_at = tx.now + timedelta(seconds=lease_seconds(ctx, project.review))
        if review.verdict == Verdict.SKIP.value and task.skips:
            task.skips -= 1
        if who.row.session_count:
            who.row.session_count -= 1
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
    if task.status == TaskStatus.CLAIMED.value and task.claimed_by != who.row.name:
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
