"""Labels out (streamed, with provenance) and in; the golden set; gold (honeypot) items."""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Iterator
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Depends, Query
from fastapi.responses import StreamingResponse

from loopwise.api.deps import LoopwiseDep, ProjectName, allowed
from loopwise.api.policies import Action
from loopwise.api.schemas import (
    READ_ERRORS,
    WRITE_ERRORS,
    CountPublic,
    GoldenIn,
    GoldenPublic,
    GoldIn,
    LabelsIn,
)
from loopwise.services import labels
from loopwise.services.accounts import Principal

router = APIRouter(tags=["labels"], responses=READ_ERRORS)
Manager = Annotated[Principal, Depends(allowed(Action.MANAGE))]
CSV_COLUMNS = (
    "external_id",
    "label",
    "source",
    "split",
    "weight",
    "agreement",
    "created_by",
    "created_at",
    "review_task_id",
    "model_prediction",
    "model_version",
    "golden",
    "origin",
    "reasons",
    "payload",
    "metadata",
)


def _jsonl(rows: Iterator[dict[str, Any]]) -> Iterator[bytes]:
    for row in rows:
        yield (json.dumps(row, ensure_ascii=False, default=str) + "\n").encode()


def _csv(rows: Iterator[dict[str, Any]]) -> Iterator[bytes]:
    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, fieldnames=CSV_COLUMNS, extrasaction="ignore")
    writer.writeheader()
    for row in rows:
        flat = dict(row)
        flat["payload"] = json.dumps(row.get("payload"), ensure_ascii=False)
        flat["metadata"] = json.dumps(row.get("metadata"), ensure_ascii=False)
        flat["reasons"] = json.dumps(row.get("reasons"), ensure_ascii=False)
        writer.writerow(flat)
        if buffer.tell() > 64 * 1024:
            yield buffer.getvalue().encode()
            buffer.seek(0)
            buffer.truncate()
    yield buffer.getvalue().encode()


@router.get(
    "/projects/{project}/labels",
    response_class=StreamingResponse,
    responses={
        200: {
            "content": {"application/x-ndjson": {}, "text/csv": {}},
            "description": "Every resolved label with its provenance, oldest first",
        }
    },
)
def export_labels(
    project: ProjectName,
    lw: LoopwiseDep,
    _: Annotated[Principal, Depends(allowed(Action.EXPORT_LABELS))],
    format: Annotated[Literal["jsonl", "csv"], Query()] = "jsonl",
) -> StreamingResponse:
    """Streamed as it is read (pages of 1,000), so any size exports in constant memory."""
    lw.project(project)  # a missing project is a 404 before the stream starts
    rows = lw.export_labels(project)
    if format == "csv":
        return StreamingResponse(
            _csv(rows),
            media_type="text/csv",
            headers={"content-disposition": f'attachment; filename="{project}-labels.csv"'},
        )
    return StreamingResponse(_jsonl(rows), media_type="application/x-ndjson")


@router.post("/projects/{project}/labels", responses=WRITE_ERRORS, response_model=CountPublic)
def import_labels(
    project: ProjectName, body: LabelsIn, lw: LoopwiseDep, who: Manager
) -> CountPublic:
    """Bring in ground truth; all rows or none."""
    rows = [r.model_dump(exclude_none=True) for r in body.rows]
    return CountPublic(count=lw.import_labels(project, rows, actor=who.name))


@router.post("/projects/{project}/golden", responses=WRITE_ERRORS, response_model=CountPublic)
def add_golden(project: ProjectName, body: GoldenIn, lw: LoopwiseDep, who: Manager) -> CountPublic:
    """Put a labelled item in the golden set, which every candidate model is judged on."""
    lw.add_golden(project, body.external_id, body.label, reason=body.reason, actor=who.name)
    return CountPublic(count=1)


@router.get("/projects/{project}/golden", response_model=list[GoldenPublic])
def list_golden(
    project: ProjectName,
    lw: LoopwiseDep,
    _: Annotated[Principal, Depends(allowed(Action.READ_STATS))],
) -> list[GoldenPublic]:
    """The golden set: items every candidate model must not regress on."""
    return [GoldenPublic.model_validate(g) for g in labels.list_golden(lw.ctx, project)]


@router.post("/projects/{project}/gold", responses=WRITE_ERRORS, response_model=CountPublic)
def add_gold(project: ProjectName, body: GoldIn, lw: LoopwiseDep, who: Manager) -> CountPublic:
    """Add gold (honeypot) items with known labels, served to reviewers at ``gold_rate``."""
    rows = [r.model_dump(exclude_none=True) for r in body.items]
    return CountPublic(count=lw.add_gold_items(project, rows, actor=who.name))
