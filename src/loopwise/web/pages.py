"""Sign-in and the pages every role uses: the project list, the review page, the dashboard."""

from __future__ import annotations

from datetime import timedelta
from typing import Annotated

from fastapi import APIRouter, Depends, Form, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response

from loopwise.api.policies import Action, authorize
from loopwise.core.enums import Role
from loopwise.errors import Unauthenticated
from loopwise.services import accounts, reviews
from loopwise.services.accounts import Principal
from loopwise.web.app import loopwise_of, render, signed_in
from loopwise.web.session import (
    SESSION_COOKIE,
    SESSION_HOURS,
    SESSION_TOKEN_NAME,
    check_csrf,
)

router = APIRouter(prefix="/ui", include_in_schema=False)
SignedIn = Annotated[Principal, Depends(signed_in)]

REASONS = {
    "expired": "Your session has ended. Sign in again to go on.",
    "signed_out": "You are signed out.",
}


def _safe_next(target: str | None) -> str:
    """Only a path of this UI: never another site (no open redirect)."""
    if target and target.startswith("/ui/") and not target.startswith("//"):
        return target
    return "/ui/"


@router.get("/login", response_class=HTMLResponse)
def login_page(request: Request, next: str = "/ui/", reason: str = "") -> HTMLResponse:
    return render(
        request, "login.html", None, next=_safe_next(next), notice=REASONS.get(reason, "")
    )


@router.post("/login")
def login(
    request: Request,
    token: Annotated[str, Form(max_length=300)] = "",
    next: Annotated[str, Form(max_length=2000)] = "/ui/",
) -> Response:
    """Exchange a pasted API token for a session of the same account."""
    lw = loopwise_of(request)
    try:
        who = accounts.authenticate(lw.ctx, token.strip())
    except Unauthenticated:
        return render(
            request,
            "login.html",
            None,
            status_code=401,
            next=_safe_next(next),
            error="That token was not accepted: it is unknown, revoked or expired.",
        )
    session, _ = accounts.create_token(
        lw.ctx,
        who.name,
        name=SESSION_TOKEN_NAME,
        expires_in=timedelta(hours=SESSION_HOURS),
        actor=who.name,
    )
    response = RedirectResponse(_safe_next(next), status_code=303)
    response.set_cookie(
        SESSION_COOKIE,
        session,
        max_age=SESSION_HOURS * 3600,
        httponly=True,
        samesite="strict",
        secure=request.url.scheme == "https",
        path="/",
    )
    return response


@router.post("/logout")
def logout(request: Request, who: SignedIn, csrf: Annotated[str, Form()] = "") -> Response:
    """End the session: its token is revoked, not only forgotten by the browser."""
    token = request.cookies.get(SESSION_COOKIE, "")
    check_csrf(token, csrf)
    accounts.revoke_token(loopwise_of(request).ctx, who.token_id, actor=who.name)
    response = RedirectResponse("/ui/login?reason=signed_out", status_code=303)
    response.delete_cookie(SESSION_COOKIE, path="/")
    return response


@router.get("/", response_class=HTMLResponse)
def home(request: Request, who: SignedIn) -> HTMLResponse:
    """The projects this person belongs to, with what they can do in each."""
    projects = [
        p
        for p in loopwise_of(request).projects()
        if who.role is Role.ADMIN or p.name in who.projects
    ]
    return render(request, "home.html", who, projects=projects)


@router.get("/projects/{project}/review", response_class=HTMLResponse)
def review_page(request: Request, project: str, who: SignedIn) -> HTMLResponse:
    """The review page; the browser claims, judges and releases through ``/v1``."""
    authorize(who, Action.REVIEW, project)
    lw = loopwise_of(request)
    found = lw.project(project)
    config = {
        "project": found.name,
        "labels": list(found.labels),
        "errorCategories": list(found.error_taxonomy),
        "inputKind": found.input_kind.value,
        "featureNames": list(found.feature_names),
        "leaseSeconds": reviews.lease_seconds(lw.ctx, found.review),
        "undoSeconds": found.review.undo_seconds,
        "breakAfterMinutes": found.review.break_after_minutes,
        "breakAfterTasks": found.review.break_after_tasks,
        "reviewer": who.name,
        "role": who.role.value,
    }
    return render(request, "review.html", who, project=found, config=config)


@router.get("/projects/{project}/dashboard", response_class=HTMLResponse)
def dashboard_page(request: Request, project: str, who: SignedIn) -> HTMLResponse:
    """Charts of the project; the browser reads them from ``/v1/.../dashboard``."""
    authorize(who, Action.READ_STATS, project)
    lw = loopwise_of(request)
    return render(
        request, "dashboard.html", who, project=lw.project(project), stats=lw.stats(project)
    )
