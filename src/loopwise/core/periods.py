"""Time buckets and percentiles for figures reported over time (the dashboard's series)."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime

import numpy as np

from loopwise.errors import InvalidInput

PERIODS = ("hour", "day")
"""The buckets a series can be cut into, in UTC."""


def check_period(period: object) -> str:
    """``period`` if it is one of :data:`PERIODS`; ``InvalidInput`` (field ``period``) if not."""
    if not isinstance(period, str) or period not in PERIODS:
        raise InvalidInput(f"must be one of {', '.join(PERIODS)}", field="period")
    return period


def period_start(at: datetime, period: str) -> datetime:
    """The start (UTC) of the hour or day that ``at`` falls in; a naive ``at`` is taken as UTC."""
    moment = at.replace(tzinfo=UTC) if at.tzinfo is None else at.astimezone(UTC)
    if check_period(period) == "hour":
        return moment.replace(minute=0, second=0, microsecond=0)
    return moment.replace(hour=0, minute=0, second=0, microsecond=0)


def percentiles(values: Sequence[float], qs: Sequence[float]) -> tuple[float, ...] | None:
    """The ``qs`` percentiles (0-100) of ``values``, by linear interpolation between the
    nearest ranks (NumPy's default, as :func:`loopwise.services.stats_review.review_latency`
    uses); ``None`` when there are no values."""
    if not values:
        return None
    return tuple(float(p) for p in np.percentile(np.asarray(values, dtype=np.float64), qs))


__all__ = ["PERIODS", "check_period", "percentiles", "period_start"]
