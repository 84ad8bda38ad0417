"""Priority levels, SLA deadlines and ageing.

Tasks are served by level (urgent, high, normal, low), then by their score within the level
(higher first: more uncertain, more valuable), then by age. A level alone would let low
tasks starve behind a steady stream of urgent ones, so a task that waits ``ageing_minutes`` at
a level moves up one level, and again after the same wait, until it is urgent. The deadline
is fixed when the task is made, from the SLA of the level it was made at.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from loopwise.core.enums import Priority


def due_at(created_at: datetime, sla_minutes: int) -> datetime:
    """When a task made at ``created_at`` breaches an SLA of ``sla_minutes``."""
    return created_at + timedelta(minutes=sla_minutes)


@dataclass(frozen=True, slots=True)
class Ageing:
    """A task's level after waiting, and when it next moves up (``None``: it is urgent)."""

    priority: Priority
    promote_at: datetime | None


def promote(priority: Priority, now: datetime, ageing_minutes: int | None) -> Ageing:
    """Move a task up one level at ``now``; the next move is ``ageing_minutes`` later.

    With ageing off (``None``) or at the top level, the task stays where it is for good.
    """
    level = Priority(max(int(priority) - 1, int(Priority.URGENT)))
    return Ageing(level, first_promotion(level, now, ageing_minutes))


def first_promotion(
    priority: Priority, created_at: datetime, ageing_minutes: int | None
) -> datetime | None:
    """When a task made at ``created_at`` first moves up, or ``None`` if it never does."""
    if ageing_minutes is None or priority is Priority.URGENT:
        return None
    return created_at + timedelta(minutes=ageing_minutes)


def catch_up(
    priority: Priority, promote_at: datetime, now: datetime, ageing_minutes: int | None
) -> Ageing:
    """A task's level at ``now`` when it was due to move up at ``promote_at``: one level for
    that move and one more for every further ``ageing_minutes`` it has waited since, however
    long ago that was (ageing is applied lazily, so several moves may be due at once)."""
    if ageing_minutes is None or now < promote_at:
        return Ageing(priority, promote_at if ageing_minutes is not None else None)
    step = timedelta(minutes=ageing_minutes)
    moves = 1 + int((now - promote_at) / step)
    level = Priority(max(int(priority) - moves, int(Priority.URGENT)))
    if level is Priority.URGENT:
        return Ageing(level, None)
    return Ageing(level, promote_at + moves * step)
