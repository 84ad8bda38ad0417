"""``Session``: one ``httpx.Client`` that retries what is safe to retry (see :mod:`._retry`)
and turns error answers into domain errors (see :mod:`._errors`)."""

from __future__ import annotations

import logging
import random
import time
from collections.abc import Callable, Collection, Mapping
from importlib.metadata import PackageNotFoundError, version
from typing import Any

import httpx

from loopwise.client import _retry
from loopwise.client._errors import ServiceUnavailable, error_from_response

log = logging.getLogger("loopwise.client")


def _agent() -> str:
    try:
        return f"loopwise-client/{version('loopwise')}"
    except PackageNotFoundError:  # running from a source tree without metadata
        return "loopwise-client"


class Session:
    """Sends requests to the service. Parameters as in :class:`~loopwise.client.Client`.

    ``sleep`` waits between attempts (tests replace it to record the waits instead).
    """

    def __init__(
        self,
        base_url: str,
        token: str | None,
        *,
        timeout: float,
        retries: int,
        backoff: float,
        transport: httpx.BaseTransport | None,
    ) -> None:
        if retries < 0 or backoff < 0 or timeout <= 0:
            raise ValueError("retries and backoff must be >= 0, timeout > 0")
        headers = {"User-Agent": _agent(), "Accept": "application/json"}
        if token:
            headers["Authorization"] = f"Bearer {token}"
        self.timeout = timeout
        self.retries = retries
        self.backoff = backoff
        self.http = httpx.Client(
            base_url=base_url, headers=headers, timeout=timeout, transport=transport
        )
        self.rng = random.Random()
        self.sleep: Callable[[float], None] = time.sleep

    def close(self) -> None:
        self.http.close()

    def send(
        self,
        method: str,
        path: str,
        *,
        params: Mapping[str, Any] | None = None,
        body: Any = None,
        idempotent: bool | None = None,
        stream: bool = False,
        accept: Collection[int] = (),
        timeout: float | None = None,
    ) -> httpx.Response:
        """Send a request, again after 429, 503 or a network failure when that is safe.

        Parameters
        ----------
        method, path:
            ``path`` is relative to the base URL.
        params:
            Query parameters; ``None`` values are left out.
        body:
            Sent as JSON, unless ``None``.
        idempotent:
            Whether sending twice is harmless, so network failures may be retried; by default
            true for GET, PUT and DELETE.
        stream:
            Return before reading the body (the caller closes the response).
        accept:
            Error statuses returned as they are (neither retried nor raised).
        timeout:
            Seconds for this request, instead of the session's.

        Raises
        ------
        ApiError
            An error answer, as its domain class (``ItemNotFound``, ...).
        ServiceUnavailable
            No usable answer after the retries, or a failure that was unsafe to retry.
        """
        if idempotent is None:
            idempotent = method in _retry.IDEMPOTENT_METHODS
        query = {k: v for k, v in (params or {}).items() if v is not None}
        request = self.http.build_request(
            method, path, params=query, json=body, timeout=timeout or self.timeout
        )
        attempt = 0
        while True:
            try:
                response = self.http.send(request, stream=stream)
            except httpx.TransportError as exc:
                safe = idempotent or isinstance(exc, _retry.NEVER_SENT)
                if not safe or attempt >= self.retries:
                    raise self._unavailable(request, attempt, exc, None, safe) from exc
                wait = _retry.delay(attempt, self.backoff, self.rng)
                reason = type(exc).__name__
            else:
                status = response.status_code
                if status in accept or (status < 400 and status not in _retry.RETRY_STATUSES):
                    return response
                if status not in _retry.RETRY_STATUSES:
                    response.read()
                    response.close()
                    raise error_from_response(response)
                response.close()
                if attempt >= self.retries:
                    raise self._unavailable(request, attempt, None, response, True)
                wait = _retry.delay(attempt, self.backoff, self.rng, response)
                reason = f"HTTP {status}"
            attempt += 1
            log.warning(
                "%s %s: %s; retry %d of %d in %.2fs",
                method,
                request.url.path,
                reason,
                attempt,
                self.retries,
                wait,
            )
            self.sleep(wait)

    @staticmethod
    def _unavailable(
        request: httpx.Request,
        attempt: int,
        exc: httpx.TransportError | None,
        response: httpx.Response | None,
        safe: bool,
    ) -> ServiceUnavailable:
        what = f"{request.method} {request.url.path}"
        attempts = attempt + 1
        last = f"HTTP {response.status_code}" if response is not None else f"{exc!r}"
        if not safe:
            message = (
                f"{what}: {last}; not retried, since sending it again might apply it twice "
                "(it may or may not have been applied)"
            )
        else:
            message = f"{what}: no answer after {attempts} attempt(s) (last: {last})"
        status = None if response is None else response.status_code
        return ServiceUnavailable(message, status=status, attempts=attempts)
