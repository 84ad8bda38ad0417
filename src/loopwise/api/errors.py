"""Domain errors to HTTP, in one place. Every error body is ``{"error": {code, message, field}}``.

=====================================  ======
domain error                           status
=====================================  ======
Unauthenticated                        401
NotAllowed                             403
NotFound and its kinds                 404
Conflict and its kinds                 409
InvalidInput and its kinds             422
NotEnoughLabels, NoProductionModel     409 (the request is fine; the project's state is not)
ArtifactIntegrityError                 500 (stored data is damaged: an operator must look)
request validation (FastAPI)           422, ``field`` from the location of the first problem
body over the size limit               413
=====================================  ======
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable, Iterator, MutableMapping
from contextlib import contextmanager
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException

from loopwise.errors import (
    ArtifactIntegrityError,
    Conflict,
    InvalidInput,
    LoopwiseError,
    NoProductionModel,
    NotAllowed,
    NotEnoughLabels,
    NotFound,
    Unauthenticated,
)

log = logging.getLogger(__name__)

STATUS: tuple[tuple[type[LoopwiseError], int], ...] = (
    (Unauthenticated, 401),
    (NotAllowed, 403),
    (NotFound, 404),
    (Conflict, 409),
    (NotEnoughLabels, 409),
    (NoProductionModel, 409),
    (InvalidInput, 422),
    (ArtifactIntegrityError, 500),
)


def status_of(error: LoopwiseError) -> int:
    """The HTTP status of a domain error (the first matching kind in :data:`STATUS`)."""
    for kind, status in STATUS:
        if isinstance(error, kind):
            return status
    return 400


@contextmanager
def body_fields(service: str, body: str = "") -> Iterator[None]:
    """Errors raised inside name the request's fields rather than the service's: a ``field``
    that starts with ``service`` (its argument, ``rows[3].payload``, or a project setting,
    ``review.overlap``) starts with ``body`` instead (``items[3].payload``); with no ``body``,
    the settings are the request body itself (``overlap``; the whole of it: ``body``). A row the
    message names (``is in rows[1] with another payload``) is renamed alike."""
    try:
        yield
    except LoopwiseError as exc:
        if exc.field is not None and exc.field.startswith(service):
            rest = exc.field.removeprefix(service)
            exc.field = body + rest if body else rest.removeprefix(".") or "body"
        if body and f"{service}[" in exc.message:
            exc.message = exc.message.replace(f"{service}[", f"{body}[")
            exc.args = (exc.message,)
        raise


def error_body(code: str, message: str, field: str | None = None) -> dict[str, Any]:
    return {"error": {"code": code, "message": message, "field": field}}


def _field(loc: Any) -> str | None:
    """``("body", "items", 3, "payload")`` -> ``items[3].payload``."""
    parts = [p for p in loc if p not in ("body", "query", "path", "header")]
    out = ""
    for part in parts:
        if isinstance(part, int):
            out += f"[{part}]"
        else:
            out += f".{part}" if out else str(part)
    return out or None


async def domain_response(_: Request, exc: Exception) -> JSONResponse:
    """The JSON answer to a domain error (the web UI renders a page instead for its own
    paths and calls this for the rest)."""
    assert isinstance(exc, LoopwiseError)
    status = status_of(exc)
    if status == 500:
        log.error("stored data damaged: %s", exc)
    headers = {"WWW-Authenticate": "Bearer"} if status == 401 else None
    return JSONResponse(error_body(exc.code, exc.message, exc.field), status, headers=headers)


def invalid_request(exc: RequestValidationError) -> InvalidInput:
    """What FastAPI's validation of a request found, as the domain error that names the
    field: the first problem (``items[3].payload``; the body itself: ``body``), with how many
    more there are."""
    errors = exc.errors()
    first: dict[str, Any] = dict(errors[0]) if errors else {"loc": (), "msg": "invalid request"}
    if first.get("type") == "json_invalid":
        context: dict[str, Any] = first.get("ctx") or {}
        reason = context.get("error", "")
        return InvalidInput(f"the body is not valid JSON {reason}".strip(), field="body")
    message = str(first.get("msg", "invalid request"))
    if len(errors) > 1:
        message += f" (and {len(errors) - 1} more problems)"
    loc = tuple(first.get("loc", ()))
    return InvalidInput(message, field="body" if loc == ("body",) else _field(loc))


async def validation_response(_: Request, exc: Exception) -> JSONResponse:
    """The JSON answer to a request FastAPI could not validate (the web UI renders a page
    instead for its own paths and calls this for the rest)."""
    assert isinstance(exc, RequestValidationError)
    found = invalid_request(exc)
    return JSONResponse(error_body("invalid_input", found.message, found.field), 422)


async def _http(_: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, StarletteHTTPException)
    if exc.status_code == 400:
        # FastAPI's answer to a body it cannot read at all (not UTF-8, nested too deep)
        return JSONResponse(
            error_body("invalid_input", f"the body is not valid JSON: {exc.detail}", "body"), 422
        )
    codes = {404: "not_found", 405: "method_not_allowed", 413: "too_large", 401: "unauthenticated"}
    code = codes.get(exc.status_code, "http_error")
    return JSONResponse(
        error_body(code, str(exc.detail)), exc.status_code, headers=getattr(exc, "headers", None)
    )


async def _unexpected(_: Request, exc: Exception) -> JSONResponse:
    log.exception("unexpected error", exc_info=exc)
    return JSONResponse(error_body("internal_error", "an unexpected error; it was logged"), 500)


def install(app: FastAPI) -> None:
    """Register the handlers on ``app``."""
    app.add_exception_handler(LoopwiseError, domain_response)
    app.add_exception_handler(RequestValidationError, validation_response)
    app.add_exception_handler(StarletteHTTPException, _http)
    app.add_exception_handler(Exception, _unexpected)


Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]


class BodyLimit:
    """Refuse request bodies over ``limit`` bytes with 413: by ``Content-Length`` before
    reading, and for a body without one (chunked) by reading it here up to the limit before
    the application sees it, so a huge body never sits in memory and the answer is 413
    whatever the route would have done with a half-read body."""

    def __init__(self, app: ASGIApp, limit: int) -> None:
        self.app = app
        self.limit = limit

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        length = None
        for name, value in scope.get("headers", []):
            if name == b"content-length":
                try:
                    length = int(value)
                except ValueError:
                    length = None
        if length is not None:
            if length > self.limit:
                await self._refuse(send)
                return
            await self.app(scope, receive, send)  # the server holds the body to its length
            return
        chunks: list[bytes] = []
        seen = 0
        while True:
            message = await receive()
            if message["type"] != "http.request":
                break
            chunk = message.get("body", b"")
            seen += len(chunk)
            if seen > self.limit:
                await self._refuse(send)
                return
            chunks.append(chunk)
            if not message.get("more_body", False):
                break
        body = b"".join(chunks)
        replayed = False

        async def replay() -> Message:
            nonlocal replayed
            if not replayed:
                replayed = True
                return {"type": "http.request", "body": body, "more_body": False}
            return await receive()

        await self.app(scope, replay, send)

    async def _refuse(self, send: Send) -> None:
        response = JSONResponse(
            error_body("too_large", f"the request body is over {self.limit:,} bytes"), 413
        )
        await send(
            {
                "type": "http.response.start",
                "status": 413,
                "headers": [(k.encode(), v.encode()) for k, v in response.headers.items()],
            }
        )
        await send({"type": "http.response.body", "body": response.body})
