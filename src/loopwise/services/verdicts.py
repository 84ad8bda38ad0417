"""Use cases of a verdict: record it, then settle the task (resolve it, wait for more reviews,
or escalate it to an expert), score gold answers, and undo within a short window.

Each runs in one transaction with its audit events: a verdict is recorded whole or not at all.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import case, func, select

from loopwise.consensus import settle as consensus
from loopwise.core.entities import Project
from loopwise.core.enums import ItemStatus, LabelSource, Priority, Stage, TaskStatus, Verdict
from loopwise.core.payloads import validate_label
from loopwise.errors import InvalidInput
from loopwise.queue.fatigue import SessionState, advance_session, break_due
from loopwise.queue.matching import tags_of
from loopwise.queue.quality import gold_score
from loopwise.services.answers import (
    Answer,
    Resolution,
    Session,
    VerdictResult,
    audit_review,
    await_more,
    settle,
)
from loopwise.services.context import Context, Tx
from loopwise.services.resolution import resolve_item
from loopwise.services.reviewers import Access, access, check_name, checked_access
from loopwise.services.reviews import Holding, check_task_id, holding
from loopwise.services.tasks import return_to_queue, task_values
from loopwise.store import mappers
from loopwise.store import queue as q
from loopwise.store.answers import (
    answers_given,
    answers_of,
    consensus_answers_since,
    consensus_history,
)
from loopwise.store.tables import (
    ProjectMemberRow,
    ReviewRow,
    ReviewTaskRow,
)


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


def _session(who: Access, project: Project, now: datetime) -> tuple[SessionState, Session]:
    """The reviewer's session after a verdict at ``now`` (to store), and what to report."""
    state = advance_session(who.session, now, project.review.session_gap_minutes)
    due = break_due(
        state,
        after_minutes=project.review.break_after_minutes,
        after_tasks=project.review.break_after_tasks,
    )
    return state, Session(state.started_at.isoformat(), state.minutes, state.count, due)


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
    refresh_flag(tx, project, who)


def refresh_flag(tx: Tx, project: Project, who: Access) -> None:
    """Flag the reviewer when their gold record is surely below the floor; clear it when not."""
    answers, correct = tx.session.execute(
        select(func.count(), func.sum(case((ReviewRow.gold_correct.is_(True), 1), else_=0))).where(
            ReviewRow.project_id == project.id,
            ReviewRow.reviewer == who.name,
            ReviewRow.gold_correct.is_not(None),
        )
    ).one()
    score = gold_score(
        int(correct or 0),
        int(answers),
        floor=project.review.gold_floor,
        min_answers=project.review.gold_min_answers,
    )
    member = None if who.member_id is None else tx.session.get(ProjectMemberRow, who.member_id)
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
            entity_id=who.id,
            project_id=project.id,
            after={"reviewer": who.name, "reason": member.flag_reason},
        )
    elif not score.below_floor and member.flagged_at is not None:
        member.flagged_at = None
        member.flag_reason = None
        tx.audit(
            actor="system",
            action="reviewer.unflagged",
            entity_type="reviewer",
            entity_id=who.id,
            project_id=project.id,
            after={"reviewer": who.name, "accuracy": score.accuracy},
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
    check_task_id(task_id)
    with ctx.write() as tx:
        found = q.held_with(tx.session, task_id, project=project_name, reviewer=reviewer)
        if found is None:  # an unknown project, reviewer or task: the errors say which
            who = access(tx, project_name, reviewer, lock=True)
        else:
            who = checked_access(tx, project_name, reviewer, found)
        project = who.project(ctx, tx)
        if label is not None:
            validate_label(label, project.labels, field="label")
        if error_category is not None and error_category not in project.error_taxonomy:
            raise InvalidInput(
                f"{error_category!r} is not in the project's error taxonomy "
                f"{list(project.error_taxonomy)}",
                field="error_category",
            )
        held = holding(tx, project, task_id, reviewer, found)
        stage = Stage(held.task["stage"])
        if verdict is Verdict.ESCALATE and stage is Stage.EXPERT:
            raise InvalidInput(
                "an expert verdict is final: there is no one to escalate to", field="verdict"
            )
        meant = (
            None
            if verdict is Verdict.SKIP
            else _label_meant(verdict, label, held.suggestion, project.labels)
        )
        state, session = _session(who, project, tx.now)
        answer = Answer(verdict, meant, error_category, comment, state, session)
        if held.gold is None and verdict.answers:
            reserved = None if found is None else found["review_id"]
            required = held.task["required_reviews"]
            if required == 1:
                return settle(tx, project, who, held, answer, reserved)
            if held.answered + 1 < required:
                return await_more(tx, project, who, held, answer, reserved)
            agreed = _agreed(ctx, tx, project, who, held, meant)
            if agreed is not None:
                return settle(tx, project, who, held, answer, reserved, agreed)
        tx.repo.set_session(who.id, state.started_at, state.last_at, state.count)
        review = ReviewRow(
            project_id=project.id,
            task_id=held.task_id,
            item_id=held.item_id,
            reviewer=reviewer,
            verdict=verdict.value,
            label=meant,
            error_category=error_category,
            comment=comment,
            stage=stage.value,
            session_position=state.count,
            created_at=tx.now,
        )
        tx.repo.add(review)
        audit_review(tx, project, who, held, answer, review.id)
        outcome = _after_review(ctx, tx, project, who, held, review, verdict)
        return VerdictResult(review=mappers.review(review), session=session, **outcome)


def _after_review(
    ctx: Context,
    tx: Tx,
    project: Project,
    who: Access,
    held: Holding,
    review: ReviewRow,
    verdict: Verdict,
) -> dict[str, Any]:
    """Settle the task after ``review``; what to report (fields of :class:`VerdictResult`)."""
    task = held.row(tx)
    expert_stage = task.stage == Stage.EXPERT.value
    if held.gold is not None:
        if verdict is Verdict.SKIP:
            return_to_queue(task)
            return {}
        task.status = TaskStatus.DONE.value
        task.resolved_at = tx.now
        task.lease_expires_at = None
        if verdict.answers:
            _score_gold(tx, project, who, review, held.gold)
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
    return _settle(ctx, tx, project, held, task, review)


def _agreed(
    ctx: Context, tx: Tx, project: Project, who: Access, held: Holding, label: str | None
) -> Resolution | None:
    """The consensus of a multi-review task's earlier answers and this last one (``label``),
    or ``None`` when it must go to an expert instead (an undecidable answer, or agreement
    below ``min_agreement``): the general path then escalates it."""
    answers = [*answers_given(tx.session, held.task_id), (who.name, label)]
    if any(given is None for _, given in answers):
        return None
    index = {name: i for i, name in enumerate(project.labels)}
    found = _consensus(
        ctx, tx, project, held.item_id, [(r, index[str(given)]) for r, given in answers]
    )
    if found.agreement < project.review.min_agreement:
        return None
    return Resolution(
        project.labels[found.label], LabelSource.CONSENSUS, found.agreement, found.confidence
    )


def _consensus(
    ctx: Context, tx: Tx, project: Project, item_id: int, answers: list[tuple[str, int]]
) -> consensus.Consensus:
    """Settle ``answers`` of one item, with the reviewers' reliability learned from the
    project's recent multi-review and gold answers (kept between calls: see
    :class:`~loopwise.services.context.ReliabilityCache`)."""
    config = project.review
    key = (project.id, config.aggregator, config.consensus_window, project.labels)
    kept = ctx.reliability.get(key)
    if kept is not None:
        latest, reliability = kept
        new = consensus_answers_since(tx.session, project.id, latest)
        if not ctx.reliability.stale(reliability, new):
            return consensus.settle_with(answers, reliability)
    index = {name: i for i, name in enumerate(project.labels)}
    rows, latest = consensus_history(tx.session, project.id, config.consensus_window)
    history = [
        (other, who, index[value], None if gold is None else index.get(gold))
        for other, who, value, gold in rows
        if other != item_id and value in index
    ]
    found = consensus.settle(
        answers, history, n_classes=len(project.labels), method=config.aggregator
    )
    if found.reliability is not None:
        ctx.reliability.put(key, latest, found.reliability)
    return found


def _settle(
    ctx: Context,
    tx: Tx,
    project: Project,
    held: Holding,
    task: ReviewTaskRow,
    review: ReviewRow,
) -> dict[str, Any]:
    """Resolve a task that takes several reviews when it has all its answers (or escalate on
    disagreement); the usual settling of a task goes through :mod:`loopwise.services.answers`
    (this path remains for escalations)."""
    answers = answers_of(tx.session, task.id)
    if len(answers) < task.required_reviews:
        return_to_queue(task)
        tx.session.flush()
        return {}
    given = [a for a in answers if a.label is not None]
    if len(given) < len(answers):
        _escalate(tx, project, task, "system", "a reviewer judged the input undecidable")
        return {"escalated": True}
    index = {name: i for i, name in enumerate(project.labels)}
    found = _consensus(
        ctx, tx, project, task.item_id, [(a.reviewer, index[str(a.label)]) for a in given]
    )
    agreement = found.agreement
    final = project.labels[found.label]
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
    assert held.item_status == ItemStatus.QUEUED.value
    label_row = resolve_item(
        tx,
        project,
        task.item_id,
        held.external_id,
        final,
        source=LabelSource.CONSENSUS,
        actor=review.reviewer,
        agreement=agreement,
        weight=found.confidence,
        task=task,
        predicted_label=held.suggestion,
    )
    return {
        "resolved": True,
        "label": None if label_row is None else mappers.label(label_row),
        "final_label": final,
    }
