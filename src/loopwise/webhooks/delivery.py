"""One delivery attempt of a webhook, and the wait before the next one.

The outbox worker owns the loop: it calls :func:`deliver`, stores the :class:`DeliveryResult`, and
on failure schedules the next attempt after ``max(backoff_seconds(...), result.retry_after or 0)``
until :data:`MAX_ATTEMPTS`. Keeping this module free of the database lets it be tested against a
real HTTP server without one.
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass
from email.utils import parsedate_to_datetime
from importlib.metadata import PackageNotFoundError, version

import httpx

from loopwise.errors import InvalidInput
from loopwise.webhooks.signing import headers as signed_headers

MAX_ATTEMPTS = 10
"""Attempts per message, the first included; with the default backoff they span about a day."""

EVENT_HEADER = "loopwise-event"
"""Not part of Standard Webhooks: lets a receiver route on the event type before parsing."""

_RETRY_AFTER_STATUSES = frozenset({429, 503})
_MAX_ERROR_CHARS = 200


def backoff_seconds(
    attempt: int,
    *,
    jitter: float,
    base: float = 5.0,
    factor: float = 4.0,
    cap: float = 12 * 3600.0,
    spread: float = 0.5,
) -> float:
    """Seconds to wait after failed attempt number ``attempt`` before the next one.

    The ceiling grows exponentially, ``min(cap, base * factor ** (attempt - 1))``, and the wait is
    ``ceiling * (1 - spread * jitter)``. Jitter keeps receivers that come back after an outage
    from being hit by every queued message at the same instant; ``spread=1`` is "full jitter"
    (anything from 0 to the ceiling), the default 0.5 keeps at least half the ceiling so retries
    never bunch up right after a failure.

    With the defaults the ceilings after attempts 1 to 9 are 5 s, 20 s, 80 s, 5 min 20 s,
    21 min 20 s, 1 h 25 min, 5 h 41 min, 12 h and 12 h: 31 h 35 min in total when ``jitter`` is
    0, half that when it is 1, and about 23 h 40 min on average with uniform jitter, so the ten
    attempts of :data:`MAX_ATTEMPTS` cover about a day, as Standard Webhooks recommends.

    Parameters
    ----------
    attempt:
        The number of the attempt that just failed, from 1.
    jitter:
        A number in [0, 1], usually ``random.random()``; the caller draws it so this stays pure.
    base, factor, cap:
        First ceiling in seconds, growth per attempt, largest ceiling in seconds.
    spread:
        The share of the ceiling that jitter may take away, in [0, 1].

    Returns
    -------
    float
        Seconds, in ``[ceiling * (1 - spread), ceiling]``.
    """
    if isinstance(attempt, bool) or not isinstance(attempt, int) or attempt < 1:
        raise InvalidInput("must be an integer from 1", field="attempt")
    if not 0.0 <= jitter <= 1.0:
        raise InvalidInput("must be in [0, 1]", field="jitter")
    if not 0.0 <= spread <= 1.0:
        raise InvalidInput("must be in [0, 1]", field="spread")
    if not (base > 0 and factor >= 1 and cap >= base):
        raise InvalidInput("needs base > 0, factor >= 1 and cap >= base", field="backoff")
    ceiling = min(cap, base * factor ** min(attempt - 1, 64))
    return ceiling * (1.0 - spread * jitter)


@dataclass(frozen=True)
class DeliveryResult:
    """What one attempt did, for the outbox row and the delivery log.

    Attributes
    ----------
    ok:
        The receiver answered 2xx. Anything else, a redirect included, is a failure.
    status:
        The HTTP status, or ``None`` when no response came (timeout, refused connection).
    error:
        A short text for people when ``ok`` is false (``HTTP 500``, ``timeout: ...``); never
        holds the secret.
    duration_ms:
        Wall time of the attempt.
    retry_after:
        Seconds the receiver asked us to wait (``Retry-After`` on 429 or 503), else ``None``.
    """

    ok: bool
    status: int | None
    error: str | None
    duration_ms: float
    retry_after: float | None


def deliver(
    client: httpx.Client,
    url: str,
    secret: str,
    msg_id: str,
    event_type: str,
    body: bytes,
    timestamp: int,
    timeout: float = 5.0,
) -> DeliveryResult:
    """POST one signed webhook and report what happened, without raising.

    Parameters
    ----------
    client:
        A shared client, so connections are pooled across deliveries.
    url:
        The endpoint. Redirects are not followed: a moved endpoint should be updated, not chased.
    secret:
        The endpoint's ``whsec_`` secret.
    msg_id:
        The message id, the same on every attempt of one message.
    event_type:
        ``decision.made`` and the like, sent in the ``loopwise-event`` header.
    body:
        The JSON payload, as bytes, exactly as signed.
    timestamp:
        Unix seconds of this attempt: take a fresh one for each retry, or the receiver will
        refuse late retries as too old (and an immediate repeat as a replay).
    timeout:
        Seconds allowed for each of connecting, sending and waiting for the response.

    Returns
    -------
    DeliveryResult
        The response body is never read, so a receiver cannot stall or flood the worker with it.
        Network outcomes never raise; a closed ``client`` does, since that is a bug in the caller.
    """
    started = time.perf_counter()

    def result(
        status: int | None, error: str | None, retry_after: float | None = None
    ) -> DeliveryResult:
        duration_ms = (time.perf_counter() - started) * 1000.0
        return DeliveryResult(error is None, status, error, duration_ms, retry_after)

    try:
        if not (event_type.isascii() and event_type.isprintable() and event_type.strip()):
            raise InvalidInput("must be printable ASCII", field="event_type")
        request_headers = {
            "content-type": "application/json",
            "user-agent": user_agent(),
            EVENT_HEADER: event_type,
            **signed_headers(secret, msg_id, timestamp, body),
        }
    except InvalidInput as exc:
        return result(None, f"not sent: {exc}")
    try:
        with client.stream(
            "POST",
            url,
            content=body,
            headers=request_headers,
            timeout=timeout,
            follow_redirects=False,
        ) as response:
            status = response.status_code
            retry_after: float | None = None
            if status in _RETRY_AFTER_STATUSES:
                retry_after = parse_retry_after(response.headers.get("retry-after"), timestamp)
    except httpx.TimeoutException as exc:
        return result(None, _describe("timeout", exc, secret))
    except httpx.NetworkError as exc:
        return result(None, _describe("connection error", exc, secret))
    except (httpx.HTTPError, httpx.InvalidURL) as exc:
        return result(None, _describe("request failed", exc, secret))
    if 200 <= status < 300:
        return result(status, None)
    return result(status, f"HTTP {status}", retry_after)


def user_agent() -> str:
    """``loopwise-webhooks/<version>``, so receivers can tell our requests and versions apart.

    The installed distribution's version, read from its metadata: importing ``loopwise`` here
    would tie this pure module to the whole package (and to an import cycle).
    """
    try:
        return f"loopwise-webhooks/{version('loopwise')}"
    except PackageNotFoundError:  # running from a source tree that is not installed
        return "loopwise-webhooks/dev"


def parse_retry_after(value: str | None, now: float) -> float | None:
    """Seconds asked for by a ``Retry-After`` header, or ``None`` if absent or unreadable.

    Accepts both forms of RFC 9110: delay seconds (``120``) and an HTTP date, measured from
    ``now`` (Unix seconds). A date in the past gives 0.
    """
    if value is None:
        return None
    value = value.strip()
    if value.isascii() and value.isdigit():
        seconds = float(value)
        return seconds if math.isfinite(seconds) else None
    try:
        when = parsedate_to_datetime(value)
    except (TypeError, ValueError, IndexError):
        return None
    if when.tzinfo is None:
        return None
    return max(0.0, when.timestamp() - now)


def _describe(kind: str, exc: Exception, secret: str) -> str:
    detail = str(exc).replace(secret, "[secret]").strip() or type(exc).__name__
    return f"{kind}: {detail}"[:_MAX_ERROR_CHARS]
