"""Review sessions: how long and how much a person has been reviewing without a break.

A session starts with a person's first verdict after a gap of ``gap_minutes`` without one.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta


@dataclass(frozen=True, slots=True)
class SessionState:
    """``count`` verdicts since ``started_at``; the last at ``last_at``."""

    started_at: datetime
    last_at: datetime
    count: int

    @property
    def minutes(self) -> float:
        return (self.last_at - self.started_at).total_seconds() / 60.0


def advance_session(state: SessionState | None, now: datetime, gap_minutes: int) -> SessionState:
    """The session after one more verdict at ``now`` (a new one after a long enough gap)."""
    if state is None or now - state.last_at >= timedelta(minutes=gap_minutes):
        return SessionState(now, now, 1)
    return SessionState(state.started_at, now, state.count + 1)


def break_due(state: SessionState | None, *, after_minutes: int, after_tasks: int) -> bool:
    """Whether to suggest a break: the session ran ``after_minutes`` or ``after_tasks``."""
    return state is not None and (state.minutes >= after_minutes or state.count >= after_tasks)
