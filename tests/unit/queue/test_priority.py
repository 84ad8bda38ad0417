"""Priority levels, SLA deadlines and ageing (``loopwise.queue.priority``), on fixed times."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from loopwise.core.enums import Priority
from loopwise.queue import Ageing, catch_up, due_at, first_promotion, promote

T0 = datetime(2026, 3, 1, 9, 30, tzinfo=UTC)


def test_due_at_adds_the_sla_minutes() -> None:
    assert due_at(T0, 60) == datetime(2026, 3, 1, 10, 30, tzinfo=UTC)
    assert due_at(T0, 4320) == T0 + timedelta(days=3)
    assert due_at(T0, 1) - T0 == timedelta(minutes=1)


@pytest.mark.parametrize("level", [Priority.LOW, Priority.NORMAL, Priority.HIGH])
def test_first_promotion_is_one_ageing_period_after_creation(level: Priority) -> None:
    assert first_promotion(level, T0, 240) == T0 + timedelta(hours=4)
    assert first_promotion(level, T0, 1) == T0 + timedelta(minutes=1)


def test_urgent_tasks_and_ageing_off_never_move() -> None:
    assert first_promotion(Priority.URGENT, T0, 240) is None
    assert first_promotion(Priority.LOW, T0, None) is None


@pytest.mark.parametrize(
    ("level", "up"),
    [
        (Priority.LOW, Priority.NORMAL),
        (Priority.NORMAL, Priority.HIGH),
        (Priority.HIGH, Priority.URGENT),
    ],
)
def test_promote_moves_up_exactly_one_level(level: Priority, up: Priority) -> None:
    aged = promote(level, T0, 30)

    assert aged.priority is up
    expected_next = None if up is Priority.URGENT else T0 + timedelta(minutes=30)
    assert aged.promote_at == expected_next


def test_urgent_is_the_ceiling() -> None:
    assert promote(Priority.URGENT, T0, 30) == Ageing(Priority.URGENT, None)


def test_promote_with_ageing_off_schedules_no_further_move() -> None:
    aged = promote(Priority.LOW, T0, None)

    assert aged.promote_at is None


def test_a_low_task_reaches_urgent_after_three_waits() -> None:
    """Low never starves: three ageing periods take it to the top level, then it stays."""
    ageing = 240
    level, when = Priority.LOW, first_promotion(Priority.LOW, T0, ageing)
    path = [level]
    times = []
    while when is not None:
        times.append(when)
        aged = promote(level, when, ageing)
        level, when = aged.priority, aged.promote_at
        path.append(level)

    assert path == [Priority.LOW, Priority.NORMAL, Priority.HIGH, Priority.URGENT]
    assert times == [T0 + timedelta(hours=4 * k) for k in (1, 2, 3)]


def test_priority_order_is_serve_order() -> None:
    """Lower value is served first: urgent, high, normal, low, then what active learning
    chose from the pool (discovery)."""
    assert sorted(Priority, key=int) == [
        Priority.URGENT,
        Priority.HIGH,
        Priority.NORMAL,
        Priority.LOW,
        Priority.DISCOVERY,
    ]


def test_catch_up_before_the_move_is_due_changes_nothing() -> None:
    due = T0 + timedelta(minutes=60)
    assert catch_up(Priority.LOW, due, due - timedelta(seconds=1), 60) == Ageing(Priority.LOW, due)


@pytest.mark.parametrize(
    ("waited", "level", "next_move"),
    [
        (timedelta(0), Priority.NORMAL, timedelta(minutes=60)),
        (timedelta(minutes=59), Priority.NORMAL, timedelta(minutes=60)),
        (timedelta(minutes=60), Priority.HIGH, timedelta(minutes=120)),
        (timedelta(minutes=125), Priority.URGENT, None),
        (timedelta(days=30), Priority.URGENT, None),
    ],
)
def test_catch_up_applies_every_move_that_fell_due_while_nobody_claimed(
    waited: timedelta, level: Priority, next_move: timedelta | None
) -> None:
    """A low task due to move at T0 that nobody looked at for ``waited`` moves one level for
    T0 and one for every further 60 minutes, not one level per claim."""
    aged = catch_up(Priority.LOW, T0, T0 + waited, 60)
    assert aged.priority is level
    assert aged.promote_at == (None if next_move is None else T0 + next_move)


def test_catch_up_with_ageing_off_never_moves() -> None:
    assert catch_up(Priority.LOW, T0, T0 + timedelta(days=9), None) == Ageing(Priority.LOW, None)
