"""Dependencies that make routes read like prose: ``lw: LoopwiseDep``, ``who: Who``.

Every route declares the action it performs with :func:`allowed` (project routes) or
:func:`allowed_anywhere`; the dependency authenticates the bearer token and applies
:mod:`loopwise.api.policies`. A test checks that no route goes without one.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Annotated

from fastapi import Depends, Path, Request
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer

from loopwise.api.policies import Action, authorize
from loopwise.errors import Unauthenticated
from loopwise.services import accounts
from loopwise.services.accounts import Principal
from loopwise.services.loop import Loopwise
from loopwise.web.session import CSRF_HEADER, SAFE_METHODS, SESSION_COOKIE, check_csrf

bearer = HTTPBearer(auto_error=False, description="An API token from `loopwise tokens create`")


async def get_loopwise(request: Request) -> Loopwise:
    """The application's ``Loopwise`` (``async``: FastAPI runs a plain ``def`` dependency in
    a worker thread, a hop that costs more than this does)."""
    lw: Loopwise = request.app.state.loopwise
    return lw


LoopwiseDep = Annotated[Loopwise, Depends(get_loopwise)]
NO_NUL = r"^[^\x00]+$"
ProjectName = Annotated[
    str, Path(min_length=1, max_length=100, pattern=NO_NUL, description="Project name")
]
ExternalId = Annotated[
    str, Path(min_length=1, max_length=200, pattern=NO_NUL, description="Your id of the item")
]
MAX_ID = 2**63 - 1
TaskId = Annotated[int, Path(ge=1, le=MAX_ID, description="Review task id (the ticket)")]
WebhookId = Annotated[int, Path(ge=1, le=MAX_ID, description="Webhook id")]
Version = Annotated[int, Path(ge=1, le=2**31 - 1, description="Model version number")]


def current_principal(
    request: Request,
    lw: LoopwiseDep,
    credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(bearer)],
) -> Principal:
    """The caller, from ``Authorization: Bearer <token>`` or, for the web UI, its session
    cookie (see :mod:`loopwise.web.session`: a state-changing request with the cookie must
    also carry the page's CSRF token); 401 otherwise."""
    if credentials is not None and credentials.scheme.lower() == "bearer":
        return accounts.authenticate(lw.ctx, credentials.credentials)
    cookie = request.cookies.get(SESSION_COOKIE)
    if cookie:
        if request.method not in SAFE_METHODS:
            check_csrf(cookie, request.headers.get(CSRF_HEADER))
        return accounts.authenticate(lw.ctx, cookie)
    raise Unauthenticated("a valid API token is required (Authorization: Bearer <token>)")


CurrentPrincipal = Annotated[Principal, Depends(current_principal)]


def allowed(action: Action) -> Callable[..., Awaitable[Principal]]:
    """A dependency: the caller, if they may do ``action`` on the path's ``project``."""

    async def check(project: ProjectName, principal: CurrentPrincipal) -> Principal:
        authorize(principal, action, project)  # no I/O: no worker thread
        return principal

    check.action = action  # type: ignore[attr-defined]
    return check


def allowed_anywhere(action: Action) -> Callable[..., Awaitable[Principal]]:
    """A dependency: the caller, if their role may do ``action`` (routes without a project)."""

    async def check(principal: CurrentPrincipal) -> Principal:
        authorize(principal, action, None)
        return principal

    check.action = action  # type: ignore[attr-defined]
    return check


def public() -> None:
    """Marks a route that needs no token (health, readiness, metrics)."""


public.action = None  # type: ignore[attr-defined]
