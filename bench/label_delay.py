"""Queries made before people answer the last ones: do strategies that are told which items
wait for a label learn faster than the same strategies not told?

Run ``.venv/bin/python bench/label_delay.py [--seeds 5] [--first-seed 0] [--delays 1,3]
[--datasets sms_spam,trec_questions,digits,breast_cancer] [--strategies default,coreset,kmeans]
[--jobs 2] [--json PATH]``.

Protocol
--------
The data sets, splits, features, model, initial sets, batch schedules and budgets of
``bench/active_learning.py`` (loaded from that file, so the two cannot drift apart), seeds
``first .. first+seeds-1`` (``--first-seed``, 0 by default; a later first seed gives held-out
seeds to check a figure chosen on the first ones). The loop is
:func:`~loopwise.active_learning.simulate.replay` with a ``label_delay``: each step the model
is refitted on the labels back so far and one more batch is chosen while ``delay`` batches
still wait for their labels (a project whose reviewers are ``delay`` batches behind its
queries; in the service, a promotion's query made while the last query's discovery tasks
wait). Two variants per strategy and delay, on the same seeds:

- ``told``: the strategy gets the waiting items as ``Pool.pending`` (what the service does);
- ``not_told``: it does not (what every query did before): the waiting items are simply not
  candidates.

and ``delay 0`` (every label back before the next query) as the reference. Figures per data set,
strategy and variant: the normalised area under the learning curve against the labels back
(mean ± sd over seeds), the labels back at which the mean curve first reaches 98% of the
full-data accuracy, and per delay the paired difference ``told - not_told`` of the AULC
(mean and standard error over seeds: the same split and initial set on both sides).

**What telling costs** (``--only speed``, or after the above): one query of 100 from a synthetic
Gaussian pool of 100,000 x 50 (``bench/active_learning.py``'s ``synthetic``), 1,000 labelled, the
default logistic regression, timed from the pool to the indices with the model's probabilities
(the pending items' too) computed in the timing, with 0, 1,000 and 5,000 items pending (the
service passes at most 5,000); seconds are the median of 3 runs after a warm-up, and ``extra_mb``
the peak allocated during one (``tracemalloc``). Strategies: ``default`` (``bait`` here),
``coreset``, ``kmeans`` and ``badge`` on the dense pool, ``margin_diverse`` and ``badge`` (as
``badge_sparse``) on a sparse one (the same rows with 90% of the values zeroed, non-negative:
TF-IDF-like).

``--json PATH`` writes ``datasets -> name -> strategy -> "delay_<d>" -> told / not_told ->
{aulc, aulc_sd, labels98}`` with ``paired -> {difference, difference_se}``, and ``delay_0``;
and ``speed -> strategy -> "pending_<p>" -> {seconds, extra_mb}``.
"""

from __future__ import annotations

import os
import sys

if sys.path and os.path.abspath(sys.path[0]) == os.path.dirname(os.path.abspath(__file__)):
    sys.path.remove(sys.path[0])  # bench/queue.py would shadow the standard library's queue
os.environ["OMP_NUM_THREADS"] = "1"
os.environ["OPENBLAS_NUM_THREADS"] = "1"
os.environ["MKL_NUM_THREADS"] = "1"

import argparse
import importlib.util
import json
import multiprocessing
import platform
import shlex
import time
import warnings
from collections.abc import Sequence
from concurrent.futures import Future, ProcessPoolExecutor, as_completed
from datetime import UTC, datetime
from functools import partial
from pathlib import Path
from types import ModuleType
from typing import Any

import numpy as np
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table
from threadpoolctl import threadpool_limits

from loopwise.active_learning.simulate import (
    LearningCurve,
    labels_to_reach,
    mean_sd,
    normalised_aulc,
    replay,
    strategy_chooser,
)


def _protocol() -> ModuleType:
    """``bench/active_learning.py``, whose data sets and protocol this benchmark shares."""
    path = Path(__file__).with_name("active_learning.py")
    spec = importlib.util.spec_from_file_location("bench_active_learning", path)
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)
    return module


AL = _protocol()
STRATEGIES = ("default", "coreset", "kmeans")
VARIANTS = ("told", "not_told")


def run_task(
    name: str, seed: int, strategy: str, delay: int, told: bool
) -> tuple[LearningCurve, float]:
    """One curve: ``strategy`` on ``name`` under ``seed`` with labels ``delay`` batches late."""
    ctx = AL.context(name, seed)
    chooser = strategy_chooser(strategy, show_pending=told)
    curve = replay(
        ctx.features,
        ctx.targets,
        test=ctx.test,
        choose=chooser,
        budget=AL.BUDGETS[name],
        initial=ctx.initial,
        batch=AL.SCHEDULES[name],
        seed=seed,
        name=strategy,
        label_delay=delay,
    )
    return curve, ctx.full_accuracy


def _worker_init() -> None:
    threadpool_limits(1)
    warnings.simplefilter("ignore")


Key = tuple[str, str, int, str]
"""(data set, strategy, delay, variant); delay 0 has the variant ``told`` only (nothing waits)."""


def run_all(
    names: Sequence[str],
    strategies: Sequence[str],
    delays: Sequence[int],
    seeds: Sequence[int],
    jobs: int,
    console: Console,
) -> tuple[dict[Key, list[LearningCurve]], dict[str, list[float]]]:
    tasks: list[tuple[str, int, str, int, str]] = []
    for name in names:
        for seed in seeds:
            for strategy in strategies:
                tasks.append((name, seed, strategy, 0, "told"))
                for delay in delays:
                    tasks.extend((name, seed, strategy, delay, v) for v in VARIANTS)
    curves: dict[Key, list[LearningCurve]] = {}
    full: dict[str, dict[int, float]] = {n: {} for n in names}
    spawn = multiprocessing.get_context("spawn")
    with (
        ProcessPoolExecutor(jobs, mp_context=spawn, initializer=_worker_init) as executor,
        Progress(
            TextColumn("{task.description:<16}"),
            BarColumn(),
            MofNCompleteColumn(),
            TimeElapsedColumn(),
            console=console,
        ) as progress,
    ):
        bar = progress.add_task("curves", total=len(tasks))
        futures: dict[Future[tuple[LearningCurve, float]], tuple[str, int, str, int, str]] = {}
        for task in tasks:
            name, seed, strategy, delay, variant = task
            job = executor.submit(run_task, name, seed, strategy, delay, variant == "told")
            futures[job] = task
        for job in as_completed(futures):
            name, seed, strategy, delay, variant = futures[job]
            curve, accuracy = job.result()
            curves.setdefault((name, strategy, delay, variant), []).append(curve)
            full[name][seed] = accuracy
            progress.advance(bar)
    for found in curves.values():
        found.sort(key=lambda c: c.seed)
    return curves, {n: [full[n][s] for s in sorted(full[n])] for n in names}


def summary(curves: list[LearningCurve], budget: int, target: float) -> dict[str, Any]:
    """AULC mean ± sd over seeds and the labels at which the mean curve reaches ``target``."""
    aulc, aulc_sd = mean_sd([normalised_aulc(c, budget) for c in curves])
    mean = np.mean([c.accuracy for c in curves], axis=0)
    reached = labels_to_reach(
        list(zip(curves[0].labels.tolist(), mean.tolist(), strict=True)), target
    )
    return {"aulc": round(aulc, 5), "aulc_sd": round(aulc_sd, 5), "labels98": reached}


def paired(told: list[LearningCurve], not_told: list[LearningCurve], budget: int) -> dict[str, Any]:
    """``told - not_told`` AULC on the same seeds: mean and standard error."""
    gaps = np.array(
        [
            normalised_aulc(a, budget) - normalised_aulc(b, budget)
            for a, b in zip(told, not_told, strict=True)
        ]
    )
    se = float(gaps.std(ddof=1) / np.sqrt(len(gaps))) if len(gaps) > 1 else float("nan")
    better = int((gaps > 0).sum())
    return {
        "difference": round(float(gaps.mean()), 5),
        "difference_se": round(se, 5),
        "told_ahead_in": f"{better} of {len(gaps)}",
    }


PENDING_SIZES = (0, 1_000, 5_000)


def query_once(strategy: Any, model: Any, rows: Any, known_rows: Any, pending_rows: Any) -> Any:
    """100 from ``rows``, the model's probabilities (the labelled and pending items' too)
    computed here, as a query computes them."""
    from loopwise.active_learning import Pool
    from loopwise.training.models import validated_inputs

    with validated_inputs():
        probabilities = model.predict_proba(rows)
        known = model.predict_proba(known_rows)
        pending = pending_rows if pending_rows.shape[0] else None
        waiting = None if pending is None else model.predict_proba(pending)
    pool = Pool(rows, probabilities, known_rows, None, known, pending, waiting)
    return strategy.query(pool, 100, seed=0)


def speed(console: Console) -> dict[str, Any]:
    """Seconds and extra MB of one query of 100 with 0, 1,000 and 5,000 items pending."""
    from scipy import sparse

    from loopwise.active_learning import make_strategy

    pool, train, labels = AL.synthetic(100_000, 50, 2, seed=7)
    labelled, labelled_y = train[:1000], labels[:1000]
    waiting = np.random.default_rng(11).standard_normal((max(PENDING_SIZES), pool.shape[1]))
    model = AL.default_estimator(pool).fit(labelled, labelled_y)
    rng = np.random.default_rng(3)
    mask = rng.random(pool.shape) < 0.1
    thin = sparse.csr_matrix(np.abs(pool) * mask)
    thin_waiting = sparse.csr_matrix(np.abs(waiting) * (rng.random(waiting.shape) < 0.1))
    thin_labelled = sparse.csr_matrix(np.abs(labelled) * (rng.random(labelled.shape) < 0.1))
    thin_model = AL.default_estimator(thin).fit(thin_labelled, labelled_y)
    out: dict[str, Any] = {}
    cases = (
        ("default", pool, labelled, waiting, model),
        ("coreset", pool, labelled, waiting, model),
        ("kmeans", pool, labelled, waiting, model),
        ("margin_diverse", thin, thin_labelled, thin_waiting, thin_model),
        ("badge", pool, labelled, waiting, model),
        ("badge_sparse", thin, thin_labelled, thin_waiting, thin_model),
    )
    for name, rows, known_rows, pending_rows, fitted in cases:
        strategy = make_strategy(name.removesuffix("_sparse"))
        out[name] = {}
        for size in PENDING_SIZES:
            run = partial(query_once, strategy, fitted, rows, known_rows, pending_rows[:size])
            seconds, extra = AL.timed(run)
            out[name][f"pending_{size}"] = {
                "seconds": round(seconds, 4),
                "extra_mb": round(extra, 1),
            }
            console.print(f"{name}, {size:,} pending: {seconds:.3f} s, {extra:.1f} MB")
    return out


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--seeds", type=int, default=5)
    parser.add_argument(
        "--first-seed", type=int, default=0, help="seeds FIRST .. FIRST+seeds-1 (held-out checks)"
    )
    parser.add_argument("--delays", default="1,3", help="comma-separated batches of delay")
    parser.add_argument("--datasets", default=",".join(AL.DATASETS))
    parser.add_argument("--strategies", default=",".join(STRATEGIES))
    parser.add_argument("--jobs", type=int, default=os.cpu_count() or 1)
    parser.add_argument("--json", type=Path, default=None, help="write the figures here")
    parser.add_argument("--only", choices=("efficiency", "speed"), default=None)
    args = parser.parse_args(argv)
    names = [n.strip() for n in args.datasets.split(",")]
    if unknown := sorted(set(names) - set(AL.DATASETS)):
        parser.error(f"unknown data sets {unknown}; choose from {list(AL.DATASETS)}")
    strategies = [s.strip() for s in args.strategies.split(",")]
    delays = [int(d) for d in args.delays.split(",")]
    if any(d < 1 for d in delays):
        parser.error("delays must be at least 1 (delay 0 is always run as the reference)")
    console = Console(width=130)
    started = time.perf_counter()
    if args.only == "speed":
        names = []
    curves, full = (
        run_all(
            names,
            strategies,
            delays,
            range(args.first_seed, args.first_seed + args.seeds),
            args.jobs,
            console,
        )
        if names
        else ({}, {})
    )
    out: dict[str, Any] = {}
    for name in names:
        budget = AL.BUDGETS[name]
        accuracy = float(np.mean(full[name]))
        target = 0.98 * accuracy
        table = Table(
            title=f"{name}: budget {budget}, full-data accuracy {accuracy:.4f}, {args.seeds} seeds",
            title_justify="left",
        )
        for column in ("strategy", "delay", "variant", "AULC", "to 98%", "told - not told"):
            table.add_column(
                column, justify="left" if column in ("strategy", "variant") else "right"
            )
        per: dict[str, Any] = {}
        for strategy in strategies:
            reference = summary(curves[(name, strategy, 0, "told")], budget, target)
            per[strategy] = {"delay_0": reference}
            table.add_row(
                strategy,
                "0",
                "-",
                f"{reference['aulc']:.4f} ± {reference['aulc_sd']:.4f}",
                str(reference["labels98"] or f">{budget}"),
                "",
            )
            for delay in delays:
                told = curves[(name, strategy, delay, "told")]
                not_told = curves[(name, strategy, delay, "not_told")]
                entry = {
                    v: summary(curves[(name, strategy, delay, v)], budget, target) for v in VARIANTS
                }
                entry["paired"] = paired(told, not_told, budget)
                per[strategy][f"delay_{delay}"] = entry
                for variant in VARIANTS:
                    figures = entry[variant]
                    gap = entry["paired"]
                    table.add_row(
                        strategy,
                        str(delay),
                        variant,
                        f"{figures['aulc']:.4f} ± {figures['aulc_sd']:.4f}",
                        str(figures["labels98"] or f">{budget}"),
                        f"{gap['difference']:+.4f} ± {gap['difference_se']:.4f} "
                        f"({gap['told_ahead_in']})"
                        if variant == "told"
                        else "",
                    )
        out[name] = {"budget": budget, "full_accuracy": round(accuracy, 5), "strategies": per}
        console.print(table)
    timing = None if args.only == "efficiency" else speed(console)
    seconds = time.perf_counter() - started
    console.print(f"{seconds:.0f} s on {os.cpu_count()} cores")
    if args.json is not None:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        record = {
            "command": shlex.join(
                [".venv/bin/python", "bench/label_delay.py", *(argv or sys.argv[1:])]
            ),
            "when": datetime.now(UTC).isoformat(timespec="seconds"),
            "machine": {"cores": os.cpu_count(), "python": platform.python_version()},
            "seconds": round(seconds, 1),
            "seeds": args.seeds,
            "first_seed": args.first_seed,
            "delays": delays,
            "datasets": out,
            "speed": timing,
        }
        args.json.write_text(json.dumps(record, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
