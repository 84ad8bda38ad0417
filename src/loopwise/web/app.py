"""The web UI's plumbing: templates, static files, who is signed in, and :func:`install`.

Pages are thin like the API's handlers: they load, authorize with the same policy table
(:mod:`loopwise.api.policies`), call a service and render. The review page and the dashboard
then talk to ``/v1`` from the browser with the session cookie.
"""

from __future__ import annotations

import contextlib
from pathlib import Path
from typing import Any
from urllib.parse import quote

from fastapi import FastAPI, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.exceptions import RequestValidationError
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from fastapi.staticfiles import StaticFiles
from fastapi.templating import Jinja2Templates

from loopwise import __version__
from loopwise.api.errors import domain_response, invalid_request, status_of, validation_response
from loopwise.api.policies import Action, may
from loopwise.errors import LoopwiseError, Unauthenticated
from loopwise.services import accounts
from loopwise.services.accounts import Principal
from loopwise.services.loop import Loopwise
from loopwise.web.session import SESSION_COOKIE, csrf_token

HERE = Path(__file__).parent
templates = Jinja2Templates(directory=HERE / "templates")
templates.env.globals["version"] = __version__


class SignInRequired(Exception):
    """The page needs a signed-in person; the handler sends the browser to the sign-in page."""

    def __init__(self, path: str, reason: str = "") -> None:
        super().__init__(path)
        self.path = path
        self.reason = reason


def loopwise_of(request: Request) -> Loopwise:
    lw: Loopwise = request.app.state.loopwise
    return lw


def signed_in(request: Request) -> Principal:
    """The person behind the session cookie, or :class:`SignInRequired`."""
    token = request.cookies.get(SESSION_COOKIE)
    if not token:
        raise SignInRequired(request.url.path)
    try:
        return accounts.authenticate(loopwise_of(request).ctx, token)
    except Unauthenticated:
        raise SignInRequired(request.url.path, "expired") from None


def render(
    request: Request, template: str, who: Principal | None, status_code: int = 200, **context: Any
) -> HTMLResponse:
    """A page, with what every page needs: the person, their CSRF token and what they may do."""
    token = request.cookies.get(SESSION_COOKIE, "")
    base: dict[str, Any] = {
        "who": who,
        "csrf": csrf_token(token) if token and who is not None else "",
        "may": (lambda action, project=None: who is not None and may(who, action, project)),
        "Action": Action,
    }
    return templates.TemplateResponse(
        request, template, {**base, **context}, status_code=status_code
    )


async def _sign_in(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, SignInRequired)
    target = f"/ui/login?next={quote(exc.path)}"
    if exc.reason:
        target += f"&reason={exc.reason}"
    return RedirectResponse(target, status_code=303)


async def _page_error(request: Request, exc: Exception) -> Response:
    """A domain error on a page (not an API call): the page says what went wrong."""
    assert isinstance(exc, LoopwiseError)
    if not request.url.path.startswith("/ui/"):
        return await domain_response(request, exc)
    who = None
    with contextlib.suppress(SignInRequired):
        # the page's header shows who is signed in; one read, off the event loop
        who = await run_in_threadpool(signed_in, request)
    return render(
        request, "error.html", who, status_code=status_of(exc), error=exc, back=request.url.path
    )


async def _page_validation(request: Request, exc: Exception) -> Response:
    """A form FastAPI could not validate (a hand-made one: a field too long, too many ticked)
    on a page: the error page names the field, as for a domain error; API paths keep their
    JSON answer."""
    assert isinstance(exc, RequestValidationError)
    if not request.url.path.startswith("/ui/"):
        return await validation_response(request, exc)
    return await _page_error(request, invalid_request(exc))


def install(app: FastAPI) -> None:
    """Serve the UI under ``/ui``: the pages, the static files, and the handlers that send a
    stranger to the sign-in page and show a domain error as a page (API paths keep their JSON
    errors)."""
    from loopwise.web import admin, admin_pool, pages

    app.mount("/ui/static", StaticFiles(directory=HERE / "static"), name="ui-static")
    app.include_router(pages.router)
    app.include_router(admin.router)
    app.include_router(admin_pool.router)
    app.add_exception_handler(SignInRequired, _sign_in)
    app.add_exception_handler(LoopwiseError, _page_error)
    app.add_exception_handler(RequestValidationError, _page_validation)
