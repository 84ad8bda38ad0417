"""The dashboard's data: every chart a manager looks at, as tables a chart library or a
spreadsheet can take.

``dashboard(ctx, project)`` reads one snapshot of the project (one read transaction) and
returns a :class:`Dashboard` of :class:`Chart` s, each a small table (``columns``, ``rows``)
with a title, a kind, axis labels and a note on how it is computed. ``Chart.to_csv`` is the
download; ``Chart.to_json`` is shaped for uPlot (one array per column). The numbers come from
:mod:`loopwise.services.dashboard_series`.
"""

from __future__ import annotations

import csv
import io
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Literal

from loopwise.core.entities import Project
from loopwise.core.periods import check_period
from loopwise.errors import NotFound
from loopwise.services import dashboard_series as series
from loopwise.services.context import Context, Tx
from loopwise.services.stats import snapshot
from loopwise.services.stats_review import LATENCY_WINDOW
from loopwise.store import mappers

ChartKind = Literal["line", "bar", "scatter"]
Cell = float | str | None


@dataclass(frozen=True)
class Chart:
    """One chart as a table.

    Attributes
    ----------
    key
        A slug naming the chart (``automation``); the CSV download is ``{key}.csv``.
    title, x_label, y_label
        What to print on it.
    kind
        ``line``, ``bar`` or ``scatter``.
    x_is_time
        The first column holds the start of an hour or day (ISO 8601, UTC).
    columns
        Column names; the first is x.
    rows
        One tuple per point, in the order of ``columns``; ``None`` where a figure is undefined
        (no data to compute it from).
    note
        What the chart shows and how it is computed.
    categorical
        The first column holds category names (model versions, priorities, reviewers, error
        categories): plotted at 0, 1, 2, ... with the names as labels.
    series
        The columns drawn against ``y_label``; the others (counts, verdicts, flags) are there
        for tooltips and the CSV.
    summary
        Single figures about the whole chart (``("ece", 0.04)``).
    """

    key: str
    title: str
    kind: ChartKind
    x_label: str
    y_label: str
    x_is_time: bool
    columns: tuple[str, ...]
    rows: tuple[tuple[Cell, ...], ...]
    note: str
    categorical: bool = False
    series: tuple[str, ...] = ()
    summary: tuple[tuple[str, float | None], ...] = ()

    def __post_init__(self) -> None:
        width = len(self.columns)
        assert all(len(row) == width for row in self.rows), f"{self.key}: rows of another width"
        assert set(self.series) <= set(self.columns[1:]), f"{self.key}: unknown series"

    def to_csv(self) -> str:
        """The table as CSV: a header of ``columns``, then the rows; empty cells for ``None``,
        times as ISO 8601."""
        out = io.StringIO()
        writer = csv.writer(out, lineterminator="\n")
        writer.writerow(self.columns)
        writer.writerows(self.rows)
        return out.getvalue()

    def to_json(self) -> dict[str, Any]:
        """uPlot-friendly: ``data`` holds one array per column (x first). Time x is in unix
        seconds; a categorical x is ``0 .. n-1``, its names in ``categories``."""
        xs: list[Any] = [row[0] for row in self.rows]
        if self.x_is_time:
            xs = [int(datetime.fromisoformat(str(x)).timestamp()) for x in xs]
        elif self.categorical:
            xs = list(range(len(self.rows)))
        data = [xs] + [[row[j] for row in self.rows] for j in range(1, len(self.columns))]
        out: dict[str, Any] = {
            "key": self.key,
            "title": self.title,
            "kind": self.kind,
            "x_label": self.x_label,
            "y_label": self.y_label,
            "x_is_time": self.x_is_time,
            "columns": list(self.columns),
            "data": data,
            "note": self.note,
            "series": list(self.series),
            "summary": dict(self.summary),
        }
        if self.categorical:
            out["categories"] = [str(row[0]) for row in self.rows]
        return out


@dataclass(frozen=True)
class Dashboard:
    """A project's charts as of ``as_of`` (ages and "past due" are measured against it)."""

    charts: tuple[Chart, ...]
    as_of: datetime
    period: str = "day"

    @property
    def keys(self) -> tuple[str, ...]:
        return tuple(c.key for c in self.charts)

    def chart(self, key: str) -> Chart:
        """The chart named ``key``; ``NotFound`` (field ``key``) if there is none."""
        for found in self.charts:
            if found.key == key:
                return found
        raise NotFound(f"no chart {key!r}; there are {', '.join(self.keys)}", field="key")

    def to_json(self) -> dict[str, Any]:
        return {
            "as_of": self.as_of.isoformat(),
            "period": self.period,
            "charts": [c.to_json() for c in self.charts],
        }


def _automation(tx: Tx, project: Project, period: str) -> Chart:
    return Chart(
        key="automation",
        title="Automation rate and decision accuracy",
        kind="line",
        x_label=f"{period} routed (UTC)",
        y_label="share",
        x_is_time=True,
        columns=(
            "period",
            "decisions",
            "automation_rate",
            "checked",
            "accuracy",
            "auto_checked",
            "auto_accuracy",
        ),
        rows=tuple(series.automation(tx, project.id, period)),
        series=("automation_rate", "accuracy", "auto_accuracy"),
        note=(
            f"Per {period} an item was routed (gold, imported and pool items left out): "
            "automation_rate is the share of decisions the model made alone; accuracy is, of "
            "the decisions whose true label is known (people resolved the item, or a label was "
            "imported or put in the golden set later), the share where the model's label (what "
            "an automatic decision delivered, what people were shown on a reviewed one) was "
            "right, so it is mostly the reviewed, uncertain items and understates automatic "
            "decisions, which auto_accuracy covers alone but only where people checked them "
            "afterwards; a decision without a prediction (no model yet) is never checked."
        ),
    )


def _model_accuracy(found: list[tuple[str, series.Row]]) -> Chart:
    return Chart(
        key="model_accuracy",
        title="Accuracy by model version",
        kind="bar",
        x_label="model version",
        y_label="accuracy",
        x_is_time=False,
        categorical=True,
        columns=(
            "version",
            "holdout_accuracy",
            "golden_accuracy",
            "holdout_n",
            "golden_n",
            "verdict",
        ),
        rows=tuple((name, *values[1:]) for name, values in found),
        series=("holdout_accuracy", "golden_accuracy"),
        note=(
            "Each version's accuracy on the held-out labels and on the golden set as recorded "
            "when it went through the promotion gate (empty if it never did or the set was "
            "empty), and the verdict: promoted, promoted (forced), refused, rolled back, or "
            "candidate (not judged yet)."
        ),
    )


def _queue(tx: Tx, project: Project) -> Chart:
    return Chart(
        key="queue",
        title="Review queue by priority",
        kind="bar",
        x_label="priority",
        y_label="tasks",
        x_is_time=False,
        categorical=True,
        columns=("priority", "open_tasks", "oldest_age_minutes", "past_due"),
        rows=tuple(series.queue(tx, project.id)),
        series=("open_tasks", "past_due"),
        note=(
            "Review and expert tasks waiting or held right now, by the level they are served "
            "at (gold tasks left out): how many, minutes since the oldest was made, and how "
            "many are past their SLA deadline."
        ),
    )


def _latency(tx: Tx, project: Project, period: str) -> Chart:
    return Chart(
        key="latency",
        title="Review latency",
        kind="line",
        x_label=f"{period} resolved (UTC)",
        y_label="minutes",
        x_is_time=True,
        columns=("period", "resolved", "median_minutes", "p90_minutes"),
        rows=tuple(series.latency(tx, project.id, period)),
        series=("median_minutes", "p90_minutes"),
        note=(
            f"Per {period} of resolution, the median and 90th percentile (linear interpolation) "
            "of the minutes from routing an item to people until they resolved it (through "
            "the expert when escalated), as the stats latency counts it (gold tasks and "
            f"imported labels left out), over the latest {LATENCY_WINDOW:,} resolutions."
        ),
    )


def _agreement(tx: Tx, project: Project, period: str) -> Chart:
    return Chart(
        key="agreement",
        title="Agreement between reviewers",
        kind="line",
        x_label=f"{period} of the last answer (UTC)",
        y_label="agreement",
        x_is_time=True,
        columns=("period", "items", "fleiss_kappa", "cohen_kappa", "alpha"),
        rows=tuple(series.agreement(tx, project, period)),
        series=("fleiss_kappa", "cohen_kappa", "alpha"),
        note=(
            f"Per {period} of an item's last answer, over items two or more people answered at "
            "the review stage (as the agreement report counts them): Fleiss' kappa on the "
            "items with the usual number of answers, Cohen's kappa of each reviewer pair "
            "averaged with the items they share as weights, and Krippendorff's alpha; higher "
            "= more agreement, 1 = perfect, 0 = chance."
        ),
    )


def _reviewers(tx: Tx, project: Project) -> Chart:
    gap = project.review.session_gap_minutes
    return Chart(
        key="reviewers",
        title="Reviewer throughput and gold accuracy",
        kind="bar",
        x_label="reviewer",
        y_label="verdicts per hour / accuracy",
        x_is_time=False,
        categorical=True,
        columns=(
            "reviewer",
            "verdicts",
            "per_hour",
            "gold_answers",
            "gold_accuracy",
            "gold_low",
            "gold_high",
            "flagged",
        ),
        rows=tuple(series.reviewers(tx, project)),
        series=("per_hour", "gold_accuracy"),
        note=(
            "Per reviewer, all verdicts given on this project (skips and escalations "
            "included); per_hour is the pace within sessions (a session ends after "
            f"{gap} minutes without a verdict): verdicts after each session's first, per hour "
            "from first to last verdict, empty when no session had two; gold accuracy with "
            "its 95% Wilson interval, and why the person was flagged, if they were."
        ),
    )


def _errors(tx: Tx, project: Project) -> Chart:
    return Chart(
        key="errors",
        title="Errors by category",
        kind="bar",
        x_label="error category",
        y_label="reviews",
        x_is_time=False,
        categorical=True,
        columns=("error_category", "reviews"),
        rows=tuple(series.errors(tx, project.id)),
        series=("reviews",),
        note=(
            "Reviews that named an error category, per category, the commonest first; "
            "reviews without one are not counted."
        ),
    )


def _learning_curve(found: list[tuple[str, series.Row]]) -> Chart:
    return Chart(
        key="learning_curve",
        title="Learning curve",
        kind="line",
        x_label="training labels",
        y_label="accuracy",
        x_is_time=False,
        columns=("labels", "holdout_accuracy", "golden_accuracy", "version"),
        rows=tuple((values[0], values[1], values[2], name) for name, values in found),
        series=("holdout_accuracy", "golden_accuracy"),
        note=(
            "Each model version in order: the number of labels it was trained on against its "
            "accuracy on the held-out labels and the golden set as its promotion recorded "
            "them (empty if never judged)."
        ),
    )


def _calibration(tx: Tx, project: Project) -> Chart:
    bins = series.calibration(tx, project.id)
    ece = bins.ece
    rows = tuple(
        (
            float(bins.confidence[b]),
            float(bins.accuracy[b]),
            int(bins.count[b]),
            float(bins.edges[b]),
            float(bins.edges[b + 1]),
        )
        for b in range(len(bins.count))
        if bins.count[b] > 0
    )
    measured = (
        f"expected calibration error {ece:.3f} over {bins.total} predictions"
        if ece is not None
        else "no prediction has a known label yet"
    )
    return Chart(
        key="calibration",
        title="Calibration (reliability diagram)",
        kind="line",
        x_label="mean confidence",
        y_label="observed accuracy",
        x_is_time=False,
        columns=("confidence", "accuracy", "count", "bin_low", "bin_high"),
        rows=rows,
        series=("accuracy",),
        summary=(("ece", ece), ("predictions", float(bins.total))),
        note=(
            f"Predictions whose true label is known (resolved by people or imported, golden "
            f"or gold items), in {series.CALIBRATION_BINS} equal confidence bins: the mean "
            "confidence each decision was routed at against how often the label was right; on "
            "the diagonal is calibrated, below it over-confident, and since people mostly "
            f"check uncertain items the upper bins are thin; {measured}."
        ),
    )


def dashboard(ctx: Context, project_name: str, *, period: str = "day") -> Dashboard:
    """Every chart of the project, read in one transaction (one snapshot on PostgreSQL).

    Parameters
    ----------
    period
        ``"day"`` or ``"hour"`` (UTC): the buckets of the charts over time.

    Raises
    ------
    InvalidInput
        ``period`` is neither (field ``period``).
    ProjectNotFound
        No project is named ``project_name``.
    """
    period = check_period(period)
    with ctx.read() as tx:
        snapshot(tx)
        project = mappers.project(tx.repo.project_by_name(project_name))
        models = series.models(tx, project.id)  # two charts, one read
        charts = (
            _automation(tx, project, period),
            _model_accuracy(models),
            _queue(tx, project),
            _latency(tx, project, period),
            _agreement(tx, project, period),
            _reviewers(tx, project),
            _errors(tx, project),
            _learning_curve(models),
            _calibration(tx, project),
        )
        return Dashboard(charts=charts, as_of=tx.now, period=period)


__all__ = ["Chart", "Dashboard", "dashboard"]
