"""Admin pages: a project's routing policy and review settings, its model versions and golden
set, its active-learning pool (settings, a query, removing candidates; the pool's own page is
:mod:`loopwise.web.admin_pool`), and the people with their tokens. Every change goes through
the same service as the CLI and the API, with the signed-in admin as the audit event's actor,
and needs the page's CSRF token. A change that fails validation leaves everything as it was and
the page says why."""

from __future__ import annotations

import json
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Form, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response

from loopwise.active_learning import STRATEGIES
from loopwise.api.errors import body_fields, status_of
from loopwise.api.policies import Action, authorize
from loopwise.core.enums import Role
from loopwise.core.policy import dump_policy, load_policy
from loopwise.errors import InvalidInput, LoopwiseError
from loopwise.services import accounts, labels
from loopwise.services.accounts import Principal
from loopwise.services.pool import QueryResult
from loopwise.services.pool_removal import PoolRemoval
from loopwise.web.app import loopwise_of, render, signed_in
from loopwise.web.session import SESSION_COOKIE, check_csrf

router = APIRouter(prefix="/ui", include_in_schema=False)
Text = Annotated[str, Form(max_length=100_000)]
Short = Annotated[str, Form(max_length=300)]


def admin(request: Request, who: Annotated[Principal, Depends(signed_in)]) -> Principal:
    """The signed-in person, if an admin; a state-changing request must carry the CSRF token
    (checked by each handler against its form field)."""
    authorize(who, Action.MANAGE, None)
    return who


Admin = Annotated[Principal, Depends(admin)]


def form_csrf(request: Request, sent: str) -> None:
    """Refuse a form without the page's CSRF token (:func:`check_csrf`)."""
    check_csrf(request.cookies.get(SESSION_COOKIE, ""), sent)


def _project_page(
    request: Request,
    who: Principal,
    project: str,
    *,
    status_code: int = 200,
    **extra: Any,
) -> HTMLResponse:
    lw = loopwise_of(request)
    found = lw.project(project)
    context: dict[str, Any] = {
        "project": found,
        "policy_text": dump_policy(found.routing),
        "review_text": json.dumps(found.review.to_json(), indent=2),
        "models": lw.models(project),
        "golden": labels.list_golden(lw.ctx, project),
        "audit": lw.audit_events(project, entity_type="project")[-10:][::-1],
        "pool": lw.pool_status(project),
        "strategies": sorted(STRATEGIES),
        "picks": None,
        "evaluation": None,
        "message": "",
        "error": None,
    }
    context.update(extra)
    return render(request, "admin_project.html", who, status_code=status_code, **context)


@router.get("/projects/{project}/admin", response_class=HTMLResponse)
def project_admin(request: Request, project: str, who: Admin, evaluate: int = 0) -> HTMLResponse:
    evaluation = None
    if evaluate:
        evaluation = loopwise_of(request).evaluate(project, evaluate).to_json()
    return _project_page(request, who, project, evaluation=evaluation)


@router.post("/projects/{project}/admin/policy", response_class=HTMLResponse)
def change_policy(
    request: Request,
    project: str,
    who: Admin,
    policy: Text = "",
    action: Short = "validate",
    csrf: Short = "",
) -> Response:
    """Validate the policy text, or save it (a new version, audited)."""
    form_csrf(request, csrf)
    lw = loopwise_of(request)
    try:
        if action == "save":
            saved = lw.set_policy(project, policy, actor=who.name)
            message = f"Saved as policy version {saved.version}."
        else:
            checked = load_policy(policy, lw.project(project).labels)
            message = f"Valid: {len(checked.rules)} rules. Nothing was saved."
    except InvalidInput as exc:
        return _project_page(request, who, project, status_code=422, policy_text=policy, error=exc)
    return _project_page(request, who, project, message=message, policy_text=policy)


@router.post("/projects/{project}/admin/review", response_class=HTMLResponse)
def change_review(
    request: Request, project: str, who: Admin, review: Text = "", csrf: Short = ""
) -> Response:
    """Replace the review settings (JSON), audited."""
    form_csrf(request, csrf)
    lw = loopwise_of(request)
    try:
        data = json.loads(review)
    except json.JSONDecodeError as exc:
        error = InvalidInput(f"not valid JSON: {exc.msg} (line {exc.lineno})", field="review")
        return _project_page(
            request, who, project, status_code=422, review_text=review, error=error
        )
    try:
        lw.set_review_config(project, data, actor=who.name)
    except InvalidInput as exc:
        return _project_page(request, who, project, status_code=422, review_text=review, error=exc)
    return _project_page(request, who, project, message="Review settings saved.")


@router.post("/projects/{project}/admin/models", response_class=HTMLResponse)
def change_model(
    request: Request,
    project: str,
    who: Admin,
    action: Short = "",
    version: Annotated[int, Form(ge=1, le=2**31 - 1)] = 1,
    csrf: Short = "",
) -> Response:
    """Promote a version (through the gate) or roll back to the previous production."""
    form_csrf(request, csrf)
    lw = loopwise_of(request)
    try:
        if action == "promote":
            result = lw.promote(project, version, actor=who.name)
            verdict = "promoted" if result.promoted else "refused by the gate"
            message = f"Version {version} {verdict}: " + "; ".join(result.report.gate.reasons)
            if result.query is not None:
                message += f". Active learning: {_queued(result.query)}"
            if result.query_error is not None:
                message += f". The pool query after it did not run: {result.query_error}"
            return _project_page(
                request, who, project, message=message, evaluation=result.report.to_json()
            )
        if action == "rollback":
            back = lw.rollback(project, actor=who.name)
            return _project_page(
                request, who, project, message=f"Rolled back: version {back.version} serves."
            )
        raise InvalidInput("must be promote or rollback", field="action")
    except LoopwiseError as exc:
        return _project_page(request, who, project, status_code=409, error=exc)


@router.post("/projects/{project}/admin/active-learning", response_class=HTMLResponse)
def change_active_learning(
    request: Request,
    project: str,
    who: Admin,
    strategy: Short = "",
    batch: Short = "",
    explore: Short = "",
    requery: Short = "",
    csrf: Short = "",
) -> Response:
    """Replace the active-learning settings (audited); a number that does not parse is passed on
    as given, so the error names the setting."""
    form_csrf(request, csrf)
    lw = loopwise_of(request)
    settings = {
        "strategy": strategy,
        "batch": _number(batch, int),
        "explore": _number(explore, float),
        "requery_after_promotion": requery == "on",
    }
    try:
        lw.set_active_learning(project, settings, actor=who.name)
    except LoopwiseError as exc:
        return _project_page(request, who, project, status_code=status_of(exc), error=exc)
    return _project_page(request, who, project, message="Active-learning settings saved.")


@router.post("/projects/{project}/admin/training", response_class=HTMLResponse)
def change_training(
    request: Request,
    project: str,
    who: Admin,
    holdout_share: Short = "",
    golden_share: Short = "",
    metric: Short = "",
    min_improvement: Short = "",
    split_seed: Short = "",
    csrf: Short = "",
) -> Response:
    """Replace the training settings (audited); an empty split seed is the project's id, and a
    number that does not parse is passed on as given, so the error names the setting."""
    form_csrf(request, csrf)
    lw = loopwise_of(request)
    settings = {
        "holdout_share": _number(holdout_share, float),
        "golden_share": _number(golden_share, float),
        "metric": metric,
        "min_improvement": _number(min_improvement, float),
        "split_seed": _number(split_seed, int) if split_seed.strip() else None,
    }
    try:
        lw.set_training_config(project, settings, actor=who.name)
    except LoopwiseError as exc:
        return _project_page(request, who, project, status_code=status_of(exc), error=exc)
    return _project_page(request, who, project, message="Training settings saved.")


@router.post("/projects/{project}/admin/pool/query", response_class=HTMLResponse)
def query_pool(
    request: Request,
    project: str,
    who: Admin,
    n: Short = "",
    strategy: Short = "",
    csrf: Short = "",
) -> Response:
    """Queue the pool's most informative candidates for review (``n`` empty: the batch)."""
    form_csrf(request, csrf)
    lw = loopwise_of(request)
    try:
        size = int(n) if n.strip() else None
    except ValueError:
        error = InvalidInput(f"must be a whole number, got {n!r}", field="n")
        return _project_page(request, who, project, status_code=422, error=error)
    try:
        found = lw.query(project, size, strategy=strategy or None, actor=who.name)
    except LoopwiseError as exc:
        return _project_page(request, who, project, status_code=status_of(exc), error=exc)
    return _project_page(request, who, project, message=f"{_queued(found)}.", picks=found.chosen)


@router.post("/projects/{project}/admin/pool/remove", response_class=HTMLResponse)
def remove_from_pool(
    request: Request,
    project: str,
    who: Admin,
    ids: Text = "",
    everything: Short = "",
    csrf: Short = "",
) -> Response:
    """Remove waiting candidates: the external ids given one a line, or every waiting one
    (``everything`` ticked); a chosen candidate stays."""
    form_csrf(request, csrf)
    lw = loopwise_of(request)
    named = [line.strip() for line in ids.splitlines() if line.strip()]
    try:
        with body_fields("candidates", "ids"):
            result = lw.remove_from_pool(
                project, named or None, everything=everything == "on", actor=who.name
            )
    except LoopwiseError as exc:
        return _project_page(request, who, project, status_code=status_of(exc), error=exc)
    return _project_page(request, who, project, message=removed_message(result))


def removed_message(result: PoolRemoval) -> str:
    """What a removal did, in words."""
    message = f"Removed {result.removed:,} waiting candidate(s) from the pool"
    if result.chosen:
        message += f"; {result.chosen:,} chosen by a query stay (items now, in review)"
    if result.not_found:
        message += f"; {result.not_found:,} not in the pool"
    return f"{message}."


def _queued(found: QueryResult) -> str:
    """What a query queued, in words (a query of the pool's, or a promotion's)."""
    model = "no model yet" if found.model_version is None else f"version {found.model_version}"
    return (
        f"{found.strategy} chose {len(found.chosen)} of {found.considered:,} pool candidates "
        f"with {model}{found.awaiting_note}; they wait for review"
    )


def _number(text: str, kind: type[int] | type[float]) -> int | float | str:
    try:
        return kind(text)
    except ValueError:
        return text


@router.post("/projects/{project}/admin/golden", response_class=HTMLResponse)
def add_golden(
    request: Request,
    project: str,
    who: Admin,
    external_id: Short = "",
    label: Short = "",
    reason: Short = "added by hand",
    csrf: Short = "",
) -> Response:
    form_csrf(request, csrf)
    lw = loopwise_of(request)
    try:
        lw.add_golden(project, external_id, label, reason=reason or "added by hand", actor=who.name)
    except LoopwiseError as exc:
        return _project_page(request, who, project, status_code=422, error=exc)
    return _project_page(request, who, project, message=f"{external_id!r} is in the golden set.")


def _people_page(
    request: Request, who: Principal, *, status_code: int = 200, **extra: Any
) -> HTMLResponse:
    lw = loopwise_of(request)
    context: dict[str, Any] = {
        "people": lw.reviewers(),
        "tokens": accounts.list_tokens(lw.ctx),
        "projects": lw.projects(),
        "roles": [r.value for r in Role],
        "new_token": None,
        "message": "",
        "error": None,
    }
    context.update(extra)
    return render(request, "admin_people.html", who, status_code=status_code, **context)


@router.get("/admin/people", response_class=HTMLResponse)
def people(request: Request, who: Admin) -> HTMLResponse:
    return _people_page(request, who)


@router.post("/admin/people", response_class=HTMLResponse)
def add_person(
    request: Request,
    who: Admin,
    name: Short = "",
    role: Short = "reviewer",
    tags: Short = "",
    projects: Short = "",
    csrf: Short = "",
) -> Response:
    form_csrf(request, csrf)
    lw = loopwise_of(request)
    try:
        lw.add_reviewer(
            name.strip(),
            role=role,
            tags=[t.strip() for t in tags.split(",") if t.strip()],
            projects=[p.strip() for p in projects.split(",") if p.strip()],
            actor=who.name,
        )
    except (LoopwiseError, ValueError) as exc:
        error = exc if isinstance(exc, LoopwiseError) else InvalidInput(str(exc), field="role")
        return _people_page(request, who, status_code=422, error=error)
    return _people_page(request, who, message=f"{name.strip()!r} added.")


@router.post("/admin/members", response_class=HTMLResponse)
def add_member(
    request: Request, who: Admin, user: Short = "", project: Short = "", csrf: Short = ""
) -> Response:
    """Make an existing person a member of a project (audited)."""
    form_csrf(request, csrf)
    try:
        loopwise_of(request).add_member(project, user.strip(), actor=who.name)
    except LoopwiseError as exc:
        return _people_page(request, who, status_code=422, error=exc)
    return _people_page(request, who, message=f"{user.strip()!r} is a member of {project!r}.")


@router.post("/admin/tokens", response_class=HTMLResponse)
def create_token(
    request: Request, who: Admin, user: Short = "", name: Short = "ui", csrf: Short = ""
) -> Response:
    """A new API token, shown once on this page and never again."""
    form_csrf(request, csrf)
    try:
        token, info = accounts.create_token(
            loopwise_of(request).ctx, user.strip(), name=name or "ui", actor=who.name
        )
    except LoopwiseError as exc:
        return _people_page(request, who, status_code=422, error=exc)
    return _people_page(request, who, new_token=token, message=f"Token for {info.user!r} created.")


@router.post("/admin/tokens/{token_id}/revoke")
def revoke(request: Request, token_id: int, who: Admin, csrf: Short = "") -> Response:
    form_csrf(request, csrf)
    accounts.revoke_token(loopwise_of(request).ctx, token_id, actor=who.name)
    return RedirectResponse("/ui/admin/people", status_code=303)
