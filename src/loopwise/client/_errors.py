"""Errors of the HTTP client: the library's domain errors, raised from the service's answers.

An error body ``{"error": {"code", "message", "field"}}`` becomes the domain class of its
``code`` (``item_not_found`` -> :class:`~loopwise.errors.ItemNotFound`), mixed with
:class:`ApiError`, so ``except ItemNotFound`` catches it exactly as with the in-process library,
and ``except ApiError`` catches every answer the service refused. An unknown code falls back to
the class of its HTTP status.

::

    LoopwiseError                      (loopwise.errors)
    ├── ApiError                       the service answered with an error: .status .code .field
    │   ├── ApiError + ItemNotFound    one class per domain error (ProjectNotFound, LeaseExpired..)
    │   ├── ApiError + NotFound        unknown code, by status: 404 (also 401 403 409 400/413/422)
    │   └── ServerError                5xx (never retried, except 503)
    └── ServiceUnavailable             no answer: network failures, or 429/503 after every retry
"""

from __future__ import annotations

from typing import Any, cast

import httpx

import loopwise.errors as domain
from loopwise.errors import (
    Conflict,
    InvalidInput,
    LoopwiseError,
    NotAllowed,
    NotFound,
    Unauthenticated,
)

MAX_MESSAGE = 500
"""Characters of a non-JSON error body kept in the message (a proxy's HTML page, say)."""


class ApiError(LoopwiseError):
    """The service answered with an error status.

    Raised as a subclass that is also the matching domain error (``ItemNotFound``, ...).

    Parameters
    ----------
    message:
        The service's explanation.
    field:
        Dotted path of the offending input, when the service named one.
    status:
        The HTTP status code.
    code:
        The service's error code (``item_not_found``, ``invalid_input``, ...).
    """

    def __init__(
        self, message: str, *, field: str | None = None, status: int, code: str | None = None
    ) -> None:
        super().__init__(message, field=field)
        self.status = status
        self.code = code or type(self).code


class ServerError(ApiError):
    """The service failed (5xx); its logs say why."""

    code = "internal_error"


class ServiceUnavailable(LoopwiseError):
    """No usable answer: the service could not be reached, or it kept answering 429 or 503.

    Parameters
    ----------
    message:
        What was tried and what happened last.
    status:
        The last HTTP status (429 or 503), or ``None`` after a network failure.
    attempts:
        How many times the request was sent.
    """

    code = "service_unavailable"

    def __init__(self, message: str, *, status: int | None, attempts: int) -> None:
        super().__init__(message)
        self.status = status
        self.attempts = attempts


def _domain_classes() -> dict[str, type[LoopwiseError]]:
    found: dict[str, type[LoopwiseError]] = {}
    for value in vars(domain).values():
        if isinstance(value, type) and issubclass(value, LoopwiseError):
            found[value.code] = value
    return found


CODES: dict[str, type[LoopwiseError]] = _domain_classes()
"""Domain error classes by their ``code`` (every class in :mod:`loopwise.errors`)."""

BY_STATUS: dict[int, type[LoopwiseError]] = {
    400: InvalidInput,
    401: Unauthenticated,
    403: NotAllowed,
    404: NotFound,
    409: Conflict,
    413: InvalidInput,
    422: InvalidInput,
}
"""The class of an error whose code this client does not know."""


_MIXED: dict[type[LoopwiseError], type[ApiError]] = {}


def api_class(kind: type[LoopwiseError]) -> type[ApiError]:
    """The class raised for the domain error ``kind``: a subclass of both ``ApiError`` and it
    (made once per kind, so ``type(a) is type(b)`` for two errors of one kind)."""
    if issubclass(kind, ApiError):
        return kind
    if kind not in _MIXED:
        namespace = {"__module__": __name__, "__doc__": kind.__doc__}
        _MIXED[kind] = cast(type[ApiError], type(kind.__name__, (ApiError, kind), namespace))
    return _MIXED[kind]


def error_from_response(response: httpx.Response) -> ApiError:
    """The exception for an error answer (the body must have been read).

    Parameters
    ----------
    response:
        An answer with a 4xx or 5xx status.

    Returns
    -------
    ApiError
        An instance of the domain class for the body's ``code`` (mixed with ``ApiError``), else
        of the class for the status, else ``ServerError`` (5xx) or plain ``ApiError``.
    """
    status = response.status_code
    code, message, field = _parse_body(response)
    kind: type[LoopwiseError] | None = CODES.get(code or "")
    if kind is None:
        kind = BY_STATUS.get(status)
    if kind is None:
        kind = ServerError if status >= 500 else ApiError
    return api_class(kind)(message, field=field, status=status, code=code)


def _parse_body(response: httpx.Response) -> tuple[str | None, str, str | None]:
    default = f"HTTP {response.status_code} {response.reason_phrase}".strip()
    try:
        body: Any = response.json()
    except ValueError:
        text = response.text.strip()[:MAX_MESSAGE]
        return None, f"{default}: {text}" if text else default, None
    error = body.get("error") if isinstance(body, dict) else None
    if not isinstance(error, dict):
        return None, default, None
    code = error.get("code")
    message = error.get("message")
    field = error.get("field")
    return (
        code if isinstance(code, str) else None,
        message if isinstance(message, str) and message else default,
        field if isinstance(field, str) else None,
    )
