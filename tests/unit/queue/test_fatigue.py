"""Review sessions and break suggestions (``loopwise.queue.fatigue``)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from loopwise.queue import SessionState, advance_session, break_due

T0 = datetime(2026, 3, 1, 9, 0, tzinfo=UTC)


def minutes(n: float) -> timedelta:
    return timedelta(minutes=n)


def test_the_first_verdict_starts_a_session() -> None:
    state = advance_session(None, T0, 20)
    assert state == SessionState(T0, T0, 1)
    assert state.minutes == 0.0


def test_verdicts_within_the_gap_continue_the_session() -> None:
    state = advance_session(None, T0, 20)
    state = advance_session(state, T0 + minutes(19), 20)
    state = advance_session(state, T0 + minutes(38), 20)

    assert state == SessionState(T0, T0 + minutes(38), 3)
    assert state.minutes == pytest.approx(38.0)


def test_a_gap_of_gap_minutes_or_more_starts_a_new_session() -> None:
    state = SessionState(T0, T0 + minutes(30), 12)
    assert advance_session(state, T0 + minutes(50), 20) == SessionState(
        T0 + minutes(50), T0 + minutes(50), 1
    )
    assert advance_session(state, T0 + minutes(49.9), 20).count == 13


def test_minutes_measure_first_to_last_verdict() -> None:
    state = SessionState(T0, T0 + timedelta(seconds=90), 2)
    assert state.minutes == pytest.approx(1.5)


def test_no_session_no_break() -> None:
    assert break_due(None, after_minutes=1, after_tasks=1) is False


@pytest.mark.parametrize(
    ("count", "length", "due"),
    [
        (1, 0, False),
        (199, 89.9, False),
        (200, 0, True),
        (5, 90, True),
        (5, 120, True),
    ],
)
def test_a_break_is_due_after_enough_tasks_or_minutes(count: int, length: float, due: bool) -> None:
    state = SessionState(T0, T0 + minutes(length), count)
    assert break_due(state, after_minutes=90, after_tasks=200) is due


def test_a_new_session_clears_the_break() -> None:
    tired = SessionState(T0, T0 + minutes(95), 40)
    assert break_due(tired, after_minutes=90, after_tasks=200)
    rested = advance_session(tired, T0 + minutes(95 + 20), 20)
    assert not break_due(rested, after_minutes=90, after_tasks=200)
