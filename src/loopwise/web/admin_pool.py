"""The admin's page of a project's active-learning pool: its candidates listed a page at a
time to tick and remove, and candidates added from an uploaded CSV or JSONL file (what
``loopwise pool add`` reads). Admin only; every change needs the page's CSRF token, goes through
the same service as the CLI and the API with the admin as the audit event's actor, and is one
transaction: a file with a bad row adds nothing, and the page names the row's line."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, File, Form, Request, UploadFile
from fastapi.responses import HTMLResponse, Response

from loopwise.api.errors import body_fields, status_of
from loopwise.core.entities import Project
from loopwise.datasets.item_files import read_upload
from loopwise.errors import InvalidInput, LoopwiseError
from loopwise.services.accounts import Principal
from loopwise.services.pool_listing import PoolCandidate, PoolState
from loopwise.web.admin import Admin, Short, form_csrf, removed_message
from loopwise.web.app import loopwise_of, render

router = APIRouter(prefix="/ui", include_in_schema=False)
MAX_UPLOAD_BYTES = 50 * 1024 * 1024
"""The largest file the page takes (``loopwise pool add`` reads any size, a batch at a time)."""
POOL_PAGE = 50
"""Candidates the pool's page lists at once."""


def _preview(project: Project, candidate: PoolCandidate, width: int = 160) -> str:
    """What a candidate holds, in a line: its text, or its first features by name."""
    payload = candidate.payload
    if "text" in payload:
        text = " ".join(str(payload["text"]).split())
    else:
        pairs = zip(project.feature_names, payload.get("features", []), strict=False)
        text = ", ".join(f"{name} {value:g}" for name, value in pairs)
    return text if len(text) <= width else text[: width - 1] + "…"


def _pool_page(
    request: Request,
    who: Principal,
    project: str,
    *,
    state: str = "waiting",
    after: str = "",
    status_code: int = 200,
    message: str = "",
    error: LoopwiseError | None = None,
) -> HTMLResponse:
    lw = loopwise_of(request)
    found = lw.project(project)
    try:
        start = int(after) if after.strip() else None
    except ValueError:
        raise InvalidInput(f"must be a whole number, got {after!r}", field="after") from None
    page = lw.pool_candidates(project, state=state, after=start, limit=POOL_PAGE)
    return render(
        request,
        "admin_pool.html",
        who,
        status_code=status_code,
        project=found,
        pool=lw.pool_status(project),
        candidates=[(c, _preview(found, c)) for c in page],
        state=state,
        states=[s.value for s in PoolState],
        after=after,
        next_after=page[-1].id if len(page) == POOL_PAGE else None,
        message=message,
        error=error,
        max_rows=lw.settings.max_batch_items,
    )


@router.get("/projects/{project}/admin/pool", response_class=HTMLResponse)
def pool_candidates(
    request: Request, project: str, who: Admin, state: str = "waiting", after: str = ""
) -> HTMLResponse:
    """The pool's candidates (``waiting``, ``chosen`` or ``all``), oldest first, a page at a
    time (``after``: the last id of the page before), to tick and remove."""
    return _pool_page(request, who, project, state=state, after=after)


@router.post("/projects/{project}/admin/pool", response_class=HTMLResponse)
def remove_ticked(
    request: Request,
    project: str,
    who: Admin,
    picked: Annotated[list[str] | None, Form(max_length=POOL_PAGE)] = None,
    state: Short = "waiting",
    after: Short = "",
    csrf: Short = "",
) -> Response:
    """Remove the candidates ticked on the page (by external id); the page shows again."""
    form_csrf(request, csrf)
    lw = loopwise_of(request)
    try:
        with body_fields("candidates", "picked"):
            result = lw.remove_from_pool(project, picked or [], actor=who.name)
    except LoopwiseError as exc:
        return _pool_page(
            request, who, project, state=state, after=after, status_code=status_of(exc), error=exc
        )
    return _pool_page(
        request, who, project, state=state, after=after, message=removed_message(result)
    )


@router.post("/projects/{project}/admin/pool/add", response_class=HTMLResponse)
def add_file(
    request: Request,
    project: str,
    who: Admin,
    file: Annotated[UploadFile | None, File()] = None,
    csrf: Short = "",
) -> Response:
    """Add the candidates of an uploaded CSV or JSONL file, read as ``loopwise pool add`` reads
    one (a ``label`` column is ignored), in one transaction: up to the service's batch limit
    (``max_batch_items``, 10,000 by default) and :data:`MAX_UPLOAD_BYTES`; a larger file is
    refused, naming the CLI command that adds any number."""
    form_csrf(request, csrf)
    lw = loopwise_of(request)
    name = "" if file is None else file.filename or ""
    try:
        data = b"" if file is None else file.file.read(MAX_UPLOAD_BYTES + 1)
        if len(data) > MAX_UPLOAD_BYTES:
            raise InvalidInput(
                f"is larger than {MAX_UPLOAD_BYTES // 2**20} MB; add it with "
                f"loopwise pool add {project} FILE",
                field="file",
            )
        limit = lw.settings.max_batch_items
        uploaded = read_upload(lw.project(project), name, data, limit=limit)
        if len(uploaded.rows) > limit:
            raise InvalidInput(
                f"has more than {limit:,} rows, what the page adds at once (one transaction): "
                f"add it with loopwise pool add {project} FILE",
                field="file",
            )
        rows = [{k: v for k, v in r.items() if k != "label"} for r in uploaded.rows]
        try:
            added = lw.add_to_pool(project, rows, actor=who.name)
        except LoopwiseError as exc:
            raise uploaded.located(exc) from None
    except LoopwiseError as exc:
        return _pool_page(request, who, project, status_code=status_of(exc), error=exc)
    message = f"Added {added:,} new candidate(s) from {uploaded.path.name}"
    if added < len(rows):
        message += f"; the other {len(rows) - added:,} were in the pool already"
    return _pool_page(request, who, project, message=f"{message}.")
