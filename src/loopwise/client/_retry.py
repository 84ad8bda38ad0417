"""When to send a request again, and after how long: pure functions of the attempt and answer.

Only answers that say "not now" are retried (429 Too Many Requests, 503 Service Unavailable),
for every method: the service did not act on the request. A network failure is retried when
sending twice is harmless: the connection was never made, or the request is idempotent (GET,
PUT, DELETE, and item submissions whose every item has an external id).
"""

from __future__ import annotations

import random
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime

import httpx

RETRY_STATUSES = frozenset({429, 503})
IDEMPOTENT_METHODS = frozenset({"GET", "HEAD", "OPTIONS", "PUT", "DELETE"})
NEVER_SENT: tuple[type[httpx.TransportError], ...] = (
    httpx.ConnectError,
    httpx.ConnectTimeout,
    httpx.PoolTimeout,
)
"""Failures before the request left: safe to retry whatever the method."""
MAX_RETRY_AFTER = 120.0
"""Seconds: a longer ``Retry-After`` is cut to this, so a client never hangs for hours."""


def retry_after(response: httpx.Response, *, now: datetime | None = None) -> float | None:
    """Seconds the service asked to wait (``Retry-After`` as seconds or an HTTP date).

    Returns
    -------
    float or None
        At least 0 and at most :data:`MAX_RETRY_AFTER`; ``None`` when absent or unreadable.
    """
    value = response.headers.get("retry-after")
    if value is None:
        return None
    try:
        seconds = float(value)
    except ValueError:
        try:
            when = parsedate_to_datetime(value)
        except (TypeError, ValueError):
            return None
        if when.tzinfo is None:
            when = when.replace(tzinfo=UTC)
        seconds = (when - (now or datetime.now(UTC))).total_seconds()
    if seconds != seconds:  # NaN
        return None
    return min(max(seconds, 0.0), MAX_RETRY_AFTER)


def backoff(attempt: int, base: float, rng: random.Random) -> float:
    """Exponential backoff with jitter: between half and all of ``base * 2**attempt`` seconds.

    Parameters
    ----------
    attempt:
        0 before the first retry, 1 before the second, ...
    base:
        Seconds before the first retry (at most).
    rng:
        Source of the jitter, which keeps many clients from retrying in step.
    """
    ceiling = base * 2.0**attempt
    return ceiling * rng.uniform(0.5, 1.0)


def delay(
    attempt: int, base: float, rng: random.Random, response: httpx.Response | None = None
) -> float:
    """Seconds before retry ``attempt``: the backoff, or longer if ``Retry-After`` says so."""
    wait = backoff(attempt, base, rng)
    asked = None if response is None else retry_after(response)
    return wait if asked is None else max(wait, asked)
