"""``loopwise simulate``: replay a labelled file as the oracle to compare query strategies.

The file is a CSV or JSONL of texts or of a table (:func:`loopwise.datasets.load_labelled`):
what ``items import --labelled`` reads, or what ``labels export`` writes.

Per seed: a stratified pool / test split, features fitted on the pool (TF-IDF of the texts as
``tfidf_logreg`` computes it, or a table's numeric columns standardised), loopwise's default
model for them trained on the whole pool (the full-data accuracy), then every
strategy from the same initial set (:mod:`loopwise.active_learning.simulate`). The table gives
the normalised area under the learning curve (mean accuracy over the budget, mean ± sd over
seeds), the labels at which the mean curve reaches 95% and 98% of the full-data accuracy, and
how many times fewer labels that is than random sampling needs.

BLAS runs single-threaded meanwhile: a simulation fits hundreds of small models, whose solver
steps a second BLAS thread only slows down (five to ten times on a 2-core machine).
"""

from __future__ import annotations

import json
import time
from collections.abc import Mapping, Sequence
from functools import partial
from pathlib import Path
from typing import Annotated, Any

import numpy as np
import typer
from rich import box
from rich.table import Table
from threadpoolctl import threadpool_limits

from loopwise.active_learning import STRATEGIES
from loopwise.active_learning.simulate import (
    LearningCurve,
    StrategyReport,
    compare,
    default_estimator,
    fit,
    mean_sd,
    stratified_split,
    tabular_features,
    text_features,
)
from loopwise.active_learning.simulate import simulate as simulate_strategy
from loopwise.cli.common import check_output, console, handle_errors, progress_bar, writing
from loopwise.datasets import TextDataset, load_labelled
from loopwise.errors import InvalidInput, UnknownStrategy

FRACTIONS = (0.95, 0.98)
BASELINE = "random"
DEFAULT_BUDGET = 500
"""Labels to spend when ``--budget`` is not given, or the whole pool if it is smaller."""


def split_names(value: str) -> list[str]:
    """Comma-separated names, stripped; empty ones dropped."""
    return [name.strip() for name in value.split(",") if name.strip()]


def parse_strategies(value: str | None) -> list[str]:
    """The strategies to run, the baseline (random) first; every registered one by default.

    Raises
    ------
    UnknownStrategy
        ``field="strategies"``: a name nobody registered.
    InvalidInput
        ``field="strategies"``: ``value`` names none (``--strategies ""`` ran random alone).
    """
    names = sorted(STRATEGIES) if value is None else split_names(value)
    if not names:
        raise InvalidInput(
            f"names no strategy; choose from {', '.join(sorted(STRATEGIES))}", field="strategies"
        )
    unknown = [n for n in names if n not in STRATEGIES]
    if unknown:
        raise UnknownStrategy(
            f"{unknown[0]!r} is not a strategy; choose from {', '.join(sorted(STRATEGIES))}",
            field="strategies",
        )
    return [BASELINE, *dict.fromkeys(n for n in names if n != BASELINE)]


@handle_errors
def simulate(
    data: Annotated[
        Path,
        typer.Argument(
            help="CSV or JSONL: label and text, or label and numeric features (as "
            "`items import --labelled` reads and `labels export` writes).",
            dir_okay=False,
        ),
    ],
    features: Annotated[
        str | None,
        typer.Option(
            help="A table's feature columns, comma-separated (default: all but label and "
            "external_id)."
        ),
    ] = None,
    strategies: Annotated[
        str | None,
        typer.Option(help="Comma-separated strategies (default: all); random always runs."),
    ] = None,
    fmt: Annotated[
        str | None,
        typer.Option("--format", help="csv or jsonl (default: jsonl for a .jsonl name, else csv)."),
    ] = None,
    seeds: Annotated[int, typer.Option(min=1, help="Seeds (splits and initial sets).")] = 5,
    initial: Annotated[int, typer.Option(min=1, help="Labels to start from.")] = 10,
    batch: Annotated[int, typer.Option(min=1, help="Labels per step.")] = 10,
    budget: Annotated[
        int | None,
        typer.Option(
            min=1,
            help=f"Labels to spend, initial included (default: {DEFAULT_BUDGET}, or the whole "
            "pool if it is smaller).",
        ),
    ] = None,
    test_size: Annotated[
        float, typer.Option(min=0.05, max=0.9, help="Share of each class held out for testing.")
    ] = 0.25,
    seed: Annotated[int, typer.Option(help="First seed; seeds are seed, seed+1, ...")] = 0,
    label_delay: Annotated[
        int,
        typer.Option(
            min=0,
            help="Batches chosen before the labels of the first come back, as when reviewers "
            "lag behind queries (the strategies see the waiting items; 0: none wait).",
        ),
    ] = 0,
    png: Annotated[Path | None, typer.Option(help="Write the learning curves as a PNG.")] = None,
    json_path: Annotated[
        Path | None, typer.Option("--json", help="Also write the figures as JSON.")
    ] = None,
) -> None:
    """Compare active-learning strategies by replaying a labelled data set as the oracle."""
    names = parse_strategies(strategies)
    check_output(png, "png")
    check_output(json_path, "json")
    if budget is not None and budget < initial:
        raise InvalidInput(f"must be at least --initial ({initial}), got {budget}", field="budget")
    named = None if features is None else split_names(features)
    dataset = load_labelled(data, features=named, fmt=fmt)
    if isinstance(dataset, TextDataset):
        kind, unit = "text", "texts"
        make_features = partial(text_features, list(dataset.texts))
        shape = f"{len(dataset)} texts"
    else:
        kind, unit = "tabular", "rows"
        make_features = partial(tabular_features, dataset.values)
        shape = f"{len(dataset)} rows x {len(dataset.feature_names)} features"
    targets = np.asarray(dataset.labels)
    if min(np.unique(targets, return_counts=True)[1]) < 2:
        raise InvalidInput(f"needs at least two {unit} of each label to split", field=str(data))
    # Every seed's split has the same size: the test split takes ceil(test_size * items).
    pool_size = len(stratified_split(targets, test_size, seed)[0])
    held_out = f"{pool_size} {unit} after holding out {len(targets) - pool_size} for testing"
    if budget is None:
        budget = min(DEFAULT_BUDGET, pool_size)
        if budget < initial:
            raise InvalidInput(f"is larger than the pool ({held_out})", field="initial")
    elif budget > pool_size:
        raise InvalidInput(f"is larger than the pool ({held_out})", field="budget")
    started = time.perf_counter()
    curves: dict[str, list[LearningCurve]] = {name: [] for name in names}
    skipped: dict[str, str] = {}
    full: list[float] = []
    with (
        threadpool_limits(1),
        progress_bar() as progress,
    ):
        task = progress.add_task("seeds x strategies", total=seeds * len(names))
        for run in range(seed, seed + seeds):
            pool, test = stratified_split(targets, test_size, run)
            matrix = make_features(pool)
            make = partial(default_estimator, matrix)
            whole = fit(make, matrix[pool], targets[pool])
            full.append(0.0 if whole is None else _accuracy(whole, matrix[test], targets[test]))
            for name in names:
                progress.update(task, description=f"seed {run}: {name}")
                if name in skipped:
                    progress.advance(task)
                    continue
                try:
                    curve = simulate_strategy(
                        matrix,
                        targets,
                        test=test,
                        strategy=name,
                        budget=budget,
                        initial=initial,
                        batch=batch,
                        seed=run,
                        label_delay=label_delay,
                    )
                except InvalidInput as exc:
                    # Every strategy by default: one that cannot take these features (bait on
                    # TF-IDF's tens of thousands of columns) is left out, not the whole run.
                    if strategies is not None or exc.field != "pool.features":
                        raise
                    skipped[name] = exc.message
                    del curves[name]
                else:
                    curves[name].append(curve)
                progress.advance(task)
    full_accuracy, full_sd = mean_sd(full)
    reports = compare(curves, full_accuracy=full_accuracy, budget=budget, fractions=FRACTIONS)
    seconds = time.perf_counter() - started
    late = f", labels back {label_delay} batch(es) late" if label_delay else ""
    console.print(
        f"[bold]{dataset.name}[/]: {shape}, labels {', '.join(dataset.label_set)}; "
        f"pool {pool_size}, test {len(targets) - pool_size}; {seeds} seed(s), {initial} initial "
        f"labels, {batch} per step, budget {budget}{late}. Full-data accuracy "
        f"{full_accuracy:.4f} ± {full_sd:.4f}.",
        soft_wrap=True,
    )
    console.print(report_table(reports, budget))
    console.print(
        "AULC: mean test accuracy over the budget (higher = better), mean ± sd over seeds. "
        "to 95%/98%: labels at which the mean curve first reaches that share of the full-data "
        "accuracy. accel: random's labels over the strategy's (>=: random never got there).",
        soft_wrap=True,
        style="dim",
    )
    for name, reason in skipped.items():
        console.print(f"[yellow]note[/] {name} left out: {reason}", soft_wrap=True)
    if png is not None:
        with writing(png, "png"):
            plot_curves(
                reports,
                png,
                title=f"{dataset.name}: {seeds} seed(s)",
                full_accuracy=full_accuracy,
            )
        console.print(f"wrote {png}")
    if json_path is not None:
        out = {
            "data": str(data),
            "kind": kind,
            "items": len(dataset),
            "features": None if isinstance(dataset, TextDataset) else list(dataset.feature_names),
            "labels": list(dataset.label_set),
            "seeds": list(range(seed, seed + seeds)),
            "initial": initial,
            "batch": batch,
            "label_delay": label_delay,
            "budget": budget,
            "test_size": test_size,
            "pool": pool_size,
            "full_accuracy": full_accuracy,
            "full_accuracy_sd": full_sd,
            "strategies": {name: r.to_json() for name, r in reports.items()},
            "skipped": skipped,
            "seconds": round(seconds, 2),
        }
        with writing(json_path, "json"):
            json_path.write_text(json.dumps(out, indent=2) + "\n", encoding="utf-8")
        console.print(f"wrote {json_path}")


def _accuracy(model: Any, features: Any, targets: Any) -> float:
    return float(np.mean(np.asarray(model.predict(features)) == targets))


def _labels(value: int | None, budget: int) -> str:
    return f">{budget}" if value is None else str(value)


def _speedup(report: StrategyReport, fraction: float) -> str:
    value = report.acceleration[fraction]
    if value is None:
        return "-"
    return f"{'>=' if report.lower_bound[fraction] else ''}{value:.1f}x"


def report_table(reports: Mapping[str, StrategyReport], budget: int) -> Table:
    """One row per strategy, best AULC first."""
    table = Table(box=box.SIMPLE_HEAD, pad_edge=False, collapse_padding=True)
    for column in ("strategy", "AULC", "to 95%", "to 98%", "accel 95%", "accel 98%"):
        table.add_column(column, justify="left" if column == "strategy" else "right")
    for report in sorted(reports.values(), key=lambda r: -r.aulc):
        table.add_row(
            report.strategy,
            f"{report.aulc:.4f} ± {report.aulc_sd:.4f}",
            *(_labels(report.labels_to[f], budget) for f in FRACTIONS),
            *(_speedup(report, f) for f in FRACTIONS),
        )
    return table


def plot_curves(
    reports: Mapping[str, StrategyReport],
    path: Path,
    *,
    title: str,
    full_accuracy: float | None = None,
    highlight: Sequence[str] = (BASELINE, "default"),
    dpi: int = 110,
) -> None:
    """Accuracy against labels, one mean line per strategy with its min-max band over seeds;
    dotted lines at 95% and 98% of ``full_accuracy``; the legend to the right. Drawn
    off-screen (Agg), never shown; 11 x 5.5 inches at ``dpi``."""
    from matplotlib import colormaps
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    figure = Figure(figsize=(11, 5.5), dpi=dpi)
    FigureCanvasAgg(figure)
    axes = figure.add_subplot()
    colours = colormaps["tab20"]
    for i, report in enumerate(sorted(reports.values(), key=lambda r: -r.aulc)):
        summary = report.curve
        bold = report.strategy in highlight
        (line,) = axes.plot(
            summary.labels,
            summary.mean,
            color=colours(i % 20),
            linewidth=2.2 if bold else 1.2,
            linestyle="--" if report.strategy == BASELINE else "-",
            label=f"{report.strategy} ({report.aulc:.3f})",
        )
        axes.fill_between(
            summary.labels, summary.low, summary.high, color=line.get_color(), alpha=0.12
        )
    if full_accuracy:
        for fraction in FRACTIONS:
            axes.axhline(fraction * full_accuracy, color="grey", linestyle=":", linewidth=1)
    axes.set_xlabel("labels")
    axes.set_ylabel("test accuracy")
    axes.set_title(title)
    axes.grid(alpha=0.3)
    # Beside the axes, not on them: with every strategy the legend covered the lower curves.
    axes.legend(
        title="strategy (AULC)", fontsize="small", loc="upper left", bbox_to_anchor=(1.01, 1.0)
    )
    figure.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    figure.savefig(path, format="png")
