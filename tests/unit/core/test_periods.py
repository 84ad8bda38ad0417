"""Hour and day buckets, and percentiles, for figures over time."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone
from typing import Any

import pytest

from loopwise.core.periods import check_period, percentiles, period_start
from loopwise.errors import InvalidInput

AT = datetime(2026, 3, 4, 23, 59, 58, 123, tzinfo=UTC)


def test_period_start_in_utc() -> None:
    assert period_start(AT, "day") == datetime(2026, 3, 4, tzinfo=UTC)
    assert period_start(AT, "hour") == datetime(2026, 3, 4, 23, tzinfo=UTC)
    east = AT.astimezone(timezone(timedelta(hours=2)))  # 01:59 on the 5th there
    assert period_start(east, "day") == datetime(2026, 3, 4, tzinfo=UTC)
    assert period_start(AT.replace(tzinfo=None), "hour") == datetime(2026, 3, 4, 23, tzinfo=UTC)


@pytest.mark.parametrize("period", ["week", "Day", "", None, 1])
def test_unknown_periods_are_refused(period: Any) -> None:
    with pytest.raises(InvalidInput) as info:
        check_period(period)
    assert info.value.field == "period"
    with pytest.raises(InvalidInput):
        period_start(AT, period)


def test_percentiles_interpolate_between_ranks() -> None:
    assert percentiles([15.0, 30.0, 20.0], (50, 90)) == pytest.approx((20.0, 28.0))
    assert percentiles([7.0], (50, 90)) == (7.0, 7.0)
    assert percentiles([], (50,)) is None
