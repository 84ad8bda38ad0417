"""The dashboard's charts: all of them as JSON (shaped for uPlot), or one as a CSV download."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from fastapi import APIRouter, Depends, Path, Query
from fastapi.responses import Response

from loopwise.api.deps import LoopwiseDep, ProjectName, allowed
from loopwise.api.policies import Action
from loopwise.api.schemas import READ_ERRORS
from loopwise.services.accounts import Principal

router = APIRouter(tags=["dashboard"], responses=READ_ERRORS)
Viewer = Annotated[Principal, Depends(allowed(Action.READ_STATS))]
Period = Annotated[Literal["day", "hour"], Query(description="Buckets of the charts over time")]
ChartKey = Annotated[
    str, Path(min_length=1, max_length=40, pattern=r"^[a-z0-9_]+$", description="Chart key")
]


@router.get("/projects/{project}/dashboard", response_model=dict[str, Any])
def dashboard(project: ProjectName, lw: LoopwiseDep, _: Viewer, period: Period = "day") -> Any:
    """Every chart: automation and decision accuracy, accuracy by model version, the queue by
    priority, review latency, agreement, reviewers, errors, the learning curve, calibration.
    Each has ``columns`` and ``data`` (one array per column, x first: unix seconds for time,
    ``0 .. n-1`` for ``categories``) and a ``note`` on how it is computed."""
    return lw.dashboard(project, period=period).to_json()


@router.get(
    "/projects/{project}/dashboard/{key}.csv",
    response_class=Response,
    responses={200: {"content": {"text/csv": {}}, "description": "The chart's table"}},
)
def dashboard_csv(
    project: ProjectName, key: ChartKey, lw: LoopwiseDep, _: Viewer, period: Period = "day"
) -> Response:
    """One chart's table as CSV (header = its columns; times in ISO 8601)."""
    chart = lw.dashboard(project, period=period).chart(key)
    return Response(
        chart.to_csv(),
        media_type="text/csv; charset=utf-8",
        headers={"Content-Disposition": f'attachment; filename="{key}.csv"'},
    )
