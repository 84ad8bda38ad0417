"""The retry schedule and ``Retry-After`` parsing (``loopwise.webhooks.delivery``)."""

from __future__ import annotations

import pytest

from loopwise.errors import InvalidInput
from loopwise.webhooks import MAX_ATTEMPTS, backoff_seconds, parse_retry_after

HOUR = 3600.0
CEILINGS = [5.0, 20.0, 80.0, 320.0, 1280.0, 5120.0, 20480.0, 12 * HOUR, 12 * HOUR]


def test_the_ceilings_grow_fourfold_up_to_twelve_hours() -> None:
    assert [backoff_seconds(n, jitter=0.0) for n in range(1, MAX_ATTEMPTS)] == CEILINGS
    assert backoff_seconds(50, jitter=0.0) == 12 * HOUR
    assert backoff_seconds(10_000, jitter=0.0) == 12 * HOUR


def test_the_schedule_spans_about_a_day() -> None:
    def total(jitter: float) -> float:
        return sum(backoff_seconds(n, jitter=jitter) for n in range(1, MAX_ATTEMPTS))

    assert MAX_ATTEMPTS == 10
    assert total(0.0) == sum(CEILINGS) == 113_705.0
    assert total(1.0) == 113_705.0 / 2
    assert 22 * HOUR < total(0.5) < 26 * HOUR


@pytest.mark.parametrize(
    ("jitter", "spread", "expected"),
    [(0.0, 0.5, 80.0), (1.0, 0.5, 40.0), (0.5, 0.5, 60.0), (1.0, 1.0, 0.0), (0.25, 1.0, 60.0)],
)
def test_jitter_takes_away_up_to_spread_of_the_ceiling(
    jitter: float, spread: float, expected: float
) -> None:
    assert backoff_seconds(3, jitter=jitter, spread=spread) == pytest.approx(expected)


def test_base_factor_and_cap_shape_the_schedule() -> None:
    delays = [backoff_seconds(n, jitter=0.0, base=1.0, factor=2.0, cap=10.0) for n in range(1, 7)]
    assert delays == [1.0, 2.0, 4.0, 8.0, 10.0, 10.0]


@pytest.mark.parametrize(
    ("kwargs", "field"),
    [
        ({"attempt": 0, "jitter": 0.5}, "attempt"),
        ({"attempt": 1, "jitter": 1.5}, "jitter"),
        ({"attempt": 1, "jitter": -0.1}, "jitter"),
        ({"attempt": 1, "jitter": 0.5, "spread": 2.0}, "spread"),
        ({"attempt": 1, "jitter": 0.5, "base": 0.0}, "backoff"),
        ({"attempt": 1, "jitter": 0.5, "cap": 1.0}, "backoff"),
    ],
)
def test_bad_arguments_are_refused(kwargs: dict[str, float], field: str) -> None:
    attempt = int(kwargs.pop("attempt"))
    with pytest.raises(InvalidInput) as caught:
        backoff_seconds(attempt, **kwargs)
    assert caught.value.field == field


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("120", 120.0),
        (" 0 ", 0.0),
        ("Wed, 21 Oct 2015 07:28:00 GMT", 60.0),
        ("Wed, 21 Oct 2015 07:26:00 GMT", 0.0),
        (None, None),
        ("soon", None),
        ("-5", None),
        ("1.5", None),
        ("9" * 400, None),
    ],
)
def test_retry_after_takes_seconds_or_an_http_date(
    value: str | None, expected: float | None
) -> None:
    now = 1445412420.0  # Wed, 21 Oct 2015 07:27:00 GMT
    assert parse_retry_after(value, now) == expected
