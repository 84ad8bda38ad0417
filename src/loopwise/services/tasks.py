"""Making review tasks: level, deadline, ageing, overlap and required expertise in one place.

Used by routing (new items), escalation (to an expert) and gold-task injection, so that every
task is born the same way.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime
from typing import Any

from loopwise.core.entities import Project
from loopwise.core.enums import Priority, Stage, TaskStatus
from loopwise.core.policy import RuleSpec
from loopwise.queue.matching import tag_key
from loopwise.queue.priority import due_at, first_promotion
from loopwise.services.context import Tx
from loopwise.store.tables import ReviewTaskRow


def task_values(
    project: Project,
    item_id: int,
    *,
    stage: Stage,
    priority: Priority,
    score: float,
    now: datetime,
    reviews: int = 1,
    tags: Iterable[str] = (),
    status: TaskStatus = TaskStatus.OPEN,
    escalated_from: int | None = None,
    honeypot_id: int | None = None,
) -> dict[str, Any]:
    """The column values of a new task (expert tasks always take exactly one, final, review)."""
    config = project.review
    return {
        "project_id": project.id,
        "item_id": item_id,
        "stage": stage.value,
        "priority": int(priority),
        "base_priority": int(priority),
        "priority_score": float(score),
        "status": status.value,
        "required_reviews": 1 if stage is Stage.EXPERT else reviews,
        "required_tags": tag_key(tags),
        "due_at": due_at(now, config.sla(priority)),
        "promote_at": first_promotion(priority, now, config.ageing_minutes),
        "escalated_from": escalated_from,
        "honeypot_id": honeypot_id,
        "created_at": now,
    }


def rule_demands(project: Project, fired: Iterable[str]) -> tuple[int, tuple[str, ...]]:
    """Reviews and expertise asked for by the business rules that fired on an item."""
    specs: dict[str, RuleSpec] = {f"rule:{s.name}": s for s in project.routing.rules}
    reviews = project.review.overlap
    tags: set[str] = set()
    for name in fired:
        spec = specs.get(name)
        if spec is None:
            continue
        reviews = max(reviews, spec.reviews or 0)
        tags.update(spec.tags)
    return reviews, tuple(sorted(tags))


def return_to_queue(task: ReviewTaskRow) -> None:
    """Give up a task's hold: it waits in the queue again (a gold task is withdrawn instead,
    so gold never sits in the queue for someone else to be served as live work)."""
    task.status = (
        TaskStatus.CANCELLED.value if task.honeypot_id is not None else TaskStatus.OPEN.value
    )
    task.claimed_by = None
    task.lease_expires_at = None
    task.claim_key = None


def give_back(
    tx: Tx, task: ReviewTaskRow, reviewer: str, *, after: dict[str, Any] | None = None
) -> None:
    """:func:`return_to_queue` as ``reviewer`` gives it back, audited ``task.released``."""
    return_to_queue(task)
    tx.session.flush()
    tx.audit(
        actor=reviewer,
        action="task.released",
        entity_type="review_task",
        entity_id=task.id,
        project_id=task.project_id,
        after=after,
    )
