"""Active-learning benchmark: sample efficiency against scikit-activeml, then query speed.

Run ``.venv/bin/python bench/active_learning.py [--seeds 5] [--first-seed 0]
[--datasets sms_spam,trec_questions,digits,breast_cancer] [--strategies NAMES] [--jobs 2]
[--quick] [--only efficiency|speed] [--json PATH] [--png-dir DIR]``.

Protocol
--------
1. **Data.** The bundled SMS spam (5,160 texts, 2 labels) and TREC questions (5,381, 6 coarse
   labels), and scikit-learn's bundled digits (1,797 x 64, 10 classes) and breast cancer
   (569 x 30, 2 classes); nothing is downloaded.
2. **Splits, features, model.** Per seed (``0 .. seeds-1``; ``--first-seed`` moves the range,
   for seeds outside the benchmark's) and data set: a stratified split,
   30% test, the rest the pool; features fitted on the pool only: TF-IDF exactly as
   ``tfidf_logreg`` computes it (sparse) for text, standardised columns for tables. The model is
   loopwise's default logistic regression for those features
   (:func:`~loopwise.active_learning.simulate.default_estimator`: ``C=10``, balanced classes on
   TF-IDF; ``C=1`` on tables), the same for both libraries. The full-data accuracy is that model
   trained on the whole pool, scored on the test split (mean over seeds).
3. **The loop** (:func:`~loopwise.active_learning.simulate.replay`). Every strategy of both
   libraries starts from the same 10 items drawn uniformly from the pool (the seed's
   ``draw_initial``: they may be of one class), follows the same batch schedule (``SCHEDULES``:
   10 labels a step up to 200, larger steps after) up to the data set's budget (``BUDGETS``:
   about where random sampling reaches 98% of the full-data accuracy), and is scored by the same
   code: after each step the model is refitted on the labelled items and its test accuracy
   recorded. Ours: every strategy in ``STRATEGIES`` through ``simulate`` (committee ones get 5
   bootstrap members; a step with a single labelled class is chosen by the strategy if it starts
   cold, else by random sampling); ``default`` is reported as ``default_strategy``.
   scikit-activeml 1.0 (``skactiveml:`` keys): ``UncertaintySampling`` (margin and
   least-confident), ``Badge``, ``Falcun`` and ``CoreSet``, each query given the pool's features
   with the labelled items' classes and ``-1`` for the others, and (but for CoreSet, which has no
   model) a ``SklearnClassifier`` around the same logistic regression (``fit_clf=True``: it
   fits it itself), queried by the library's ``query``. scikit-activeml takes dense arrays
   only, so on text it gets the dense form of the same TF-IDF (38,000 and 25,000 columns), and
   its classifier is :class:`CsrLogisticRegression`: the same logistic regression, fitted on the
   CSR form of those rows (the same solution, ten times sooner). On text ``Badge`` (an
   ``n x k x d`` gradient embedding: 2.2 GB for SMS, 4.5 GB for TREC; about 20 s and 40 s a
   query measured) and ``CoreSet`` (dense distances to every labelled item in 38,000 dimensions:
   5-10 s a query) do not fit in the run and are skipped unless ``--library-text-geometry``.
   Our ``bait`` refuses TF-IDF (a ``d x d`` Fisher block per class) and is skipped on text.
   scikit-activeml's NaN checks are skipped in this part (``assume_finite``), which changes
   nothing but its speed.
4. **Figures**, per data set and strategy: the normalised area under the learning curve (mean
   test accuracy over ``[10, budget]``, trapezoid rule; mean ± sd over seeds), and on the mean
   curve over seeds the labels at which it first reaches 95% and 98% of the full-data accuracy
   and the acceleration: random sampling's labels over the strategy's (``>=``: random never got
   there within the budget, and the budget is used for it: a lower bound).
5. **Speed and memory**, after the above, the machine otherwise idle, BLAS single-threaded as
   in the whole run (``OPENBLAS_NUM_THREADS=1``, set before NumPy loads: on this 2-core machine
   two OpenBLAS threads made the many small solver steps of fitting 5-10 times slower);
   synthetic Gaussian pools, labels from a random linear model, loopwise's default logistic
   regression trained on 2,000 other rows. *Uncertainty*: the top
   100 by margin of a 1,000,000 x 50 pool, timed from the pool to the indices, the model's
   scoring included (ours scores under ``validated_inputs`` as loopwise's scoring does;
   ``check_pool`` still checks every feature); scikit-activeml's ``UncertaintySampling``
   (margin) with the fitted classifier, ``fit_clf=False``. Also with 10 classes
   (``*_10_classes``). *Hybrid*: 100 from 100,000 with 1,000 labelled, scoring included (with
   the labelled items' probabilities, which ``bait`` weighs them by): ours ``default`` (``bait``
   on these features), scikit-activeml's ``Falcun`` (``Badge`` if Falcun fails); and
   ``falcun_1e5``, FALCUN in both. *Core-set*: 100 from
   100,000 with 1,000 labelled: ours ``coreset``, scikit-activeml's ``CoreSet``. Seconds are
   the median of 3 runs after a warm-up; ``extra_mb`` is the peak of memory allocated during one
   run (``tracemalloc``, 10^6 bytes) beyond what was allocated before it: the pool itself is
   not counted. Ratios are scikit-activeml's over ours.

The issue's goals: our default strategy's AULC at least the best library strategy's on every
data set; acceleration at 98% at least 2x on digits and 8x on SMS spam; uncertainty on 1e6 x 50
under 0.25 s and 100 MB; the hybrid on 1e5 under 0.5 s; core-set on 1e5 under 1 s.
"""

from __future__ import annotations

import os
import sys

# Run as ``python bench/active_learning.py``, this file's directory comes first on ``sys.path``,
# where ``bench/queue.py`` would shadow the standard library's ``queue``.
if sys.path and os.path.abspath(sys.path[0]) == os.path.dirname(os.path.abspath(__file__)):
    sys.path.remove(sys.path[0])
os.environ["OMP_NUM_THREADS"] = "1"
os.environ["OPENBLAS_NUM_THREADS"] = "1"
os.environ["MKL_NUM_THREADS"] = "1"

import argparse
import json
import multiprocessing
import platform
import shlex
import statistics
import time
import tracemalloc
import warnings
from collections.abc import Callable, Sequence
from concurrent.futures import Future, ProcessPoolExecutor, as_completed
from dataclasses import dataclass
from datetime import UTC, datetime
from functools import partial
from pathlib import Path
from typing import Any

import numpy as np
import scipy
import sklearn
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table
from scipy import sparse
from sklearn.datasets import load_breast_cancer, load_digits
from sklearn.linear_model import LogisticRegression
from threadpoolctl import threadpool_info, threadpool_limits

from loopwise.active_learning import (
    DEFAULT_COLD,
    DEFAULT_DENSE,
    DEFAULT_EXPLORE,
    DEFAULT_HYBRID,
    DEFAULT_WIDE,
    STRATEGIES,
    Pool,
    make_strategy,
)
from loopwise.active_learning.simulate import (
    LearningCurve,
    Step,
    StrategyReport,
    compare,
    default_estimator,
    draw_initial,
    fit,
    mean_sd,
    normalised_aulc,
    replay,
    simulate,
    stratified_split,
    tabular_features,
    text_features,
)
from loopwise.datasets import load_sms_spam, load_trec_questions
from loopwise.training.models import validated_inputs

LIB = "skactiveml:"
LIBRARY = (
    "uncertainty_margin",
    "uncertainty_least_confident",
    "badge",
    "falcun",
    "coreset",
)
GEOMETRY = ("badge", "coreset")
"""Library strategies that work on the features themselves (skipped on dense text)."""
DENSE_ONLY = ("bait",)
"""Our strategies that refuse TF-IDF (a ``d x d`` Fisher block per class; skipped on text)."""
TEXT = ("sms_spam", "trec_questions")
DATASETS = ("sms_spam", "trec_questions", "digits", "breast_cancer")
BIG = 10**9
BUDGETS = {"sms_spam": 1000, "trec_questions": 2800, "digits": 600, "breast_cancer": 200}
SCHEDULES: dict[str, tuple[tuple[int, int], ...]] = {
    "sms_spam": ((200, 10), (500, 25), (BIG, 50)),
    "trec_questions": ((200, 10), (500, 25), (1000, 50), (BIG, 200)),
    "digits": ((200, 10), (BIG, 25)),
    "breast_cancer": ((100, 5), (BIG, 10)),
}
QUICK_BUDGETS = {"sms_spam": 150, "trec_questions": 150, "digits": 150, "breast_cancer": 60}
QUICK_DATASETS = ("breast_cancer", "digits")
INITIAL = 10
TEST_SIZE = 0.3
FRACTIONS = (0.95, 0.98)
MB = 1e6


class CsrLogisticRegression(LogisticRegression):  # type: ignore[misc]
    """loopwise's logistic regression for scikit-activeml's dense copy of TF-IDF: fitted on the
    CSR form of its rows, on the columns they use (``simulate.fit``): the same solution as on the
    dense array, found in a tenth of the time. Predicts from the dense array as given. (``X``:
    scikit-activeml passes it by that name.)"""

    coef_: Any

    def fit(self, X: Any, y: Any, sample_weight: Any = None) -> CsrLogisticRegression:  # noqa: N803
        rows = sparse.csr_matrix(X)
        columns = np.unique(rows.indices)
        super().fit(rows[:, columns], y, sample_weight)
        coef = np.zeros((self.coef_.shape[0], rows.shape[1]), dtype=self.coef_.dtype)
        coef[:, columns] = self.coef_
        self.coef_ = coef
        self.n_features_in_ = rows.shape[1]
        return self


@dataclass
class Context:
    """One data set and seed, as a worker holds it."""

    name: str
    seed: int
    features: Any
    targets: Any
    pool: Any
    test: Any
    initial: Any
    full_accuracy: float
    dense_pool: Any = None


_RAW: dict[str, tuple[Any, Any]] = {}
_CONTEXT: dict[tuple[str, int], Context] = {}


def raw_data(name: str) -> tuple[Any, Any]:
    """``(texts or matrix, labels)`` of a data set, loaded once per process."""
    if name not in _RAW:
        if name in TEXT:
            data = load_sms_spam() if name == "sms_spam" else load_trec_questions()
            _RAW[name] = (list(data.texts), np.asarray(data.labels))
        else:
            bunch = load_digits() if name == "digits" else load_breast_cancer()
            _RAW[name] = (np.asarray(bunch.data, dtype=np.float64), np.asarray(bunch.target))
    return _RAW[name]


def context(name: str, seed: int) -> Context:
    """Split, features, initial set and full-data accuracy of ``name`` under ``seed`` (the last
    one asked for is kept: a worker runs the strategies of one seed in a row)."""
    key = (name, seed)
    if key not in _CONTEXT:
        _CONTEXT.clear()
        raw, targets = raw_data(name)
        pool, test = stratified_split(targets, TEST_SIZE, seed)
        features = text_features(raw, pool) if name in TEXT else tabular_features(raw, pool)
        whole = fit(partial(default_estimator, features), features[pool], targets[pool])
        assert whole is not None
        accuracy = float(np.mean(whole.predict(features[test]) == targets[test]))
        initial = draw_initial(pool, INITIAL, seed)
        _CONTEXT[key] = Context(name, seed, features, targets, pool, test, initial, accuracy)
    return _CONTEXT[key]


class LibraryChooser:
    """A scikit-activeml strategy asked for each batch of a replay (see the protocol)."""

    def __init__(self, key: str, ctx: Context) -> None:
        from skactiveml.classifier import SklearnClassifier
        from skactiveml.pool import Badge, CoreSet, Falcun, UncertaintySampling

        self.ctx = ctx
        if ctx.dense_pool is None:
            pool_rows = ctx.features[ctx.pool]
            ctx.dense_pool = pool_rows.toarray() if sparse.issparse(pool_rows) else pool_rows
        classes = np.unique(ctx.targets)
        self.codes = np.searchsorted(classes, ctx.targets)
        common = {"missing_label": -1, "random_state": ctx.seed}
        made: dict[str, Callable[[], Any]] = {
            "uncertainty_margin": lambda: UncertaintySampling(method="margin_sampling", **common),
            "uncertainty_least_confident": lambda: UncertaintySampling(
                method="least_confident", **common
            ),
            "badge": lambda: Badge(**common),
            "falcun": lambda: Falcun(**common),
            "coreset": lambda: CoreSet(**common),
        }
        self.strategy = made[key]()
        self.uses_model = key != "coreset"
        base = default_estimator(ctx.features)
        estimator = (
            CsrLogisticRegression(**base.get_params()) if sparse.issparse(ctx.features) else base
        )
        self.classifier = SklearnClassifier(estimator, classes=np.arange(len(classes)), **common)

    def __call__(self, step: Step) -> Any:
        ctx = self.ctx
        partial_labels = np.full(len(ctx.pool), -1, dtype=np.int64)
        partial_labels[np.searchsorted(ctx.pool, step.labelled)] = self.codes[step.labelled]
        with warnings.catch_warnings(), sklearn.config_context(assume_finite=True):
            warnings.simplefilter("ignore")
            if self.uses_model:
                chosen = self.strategy.query(
                    ctx.dense_pool, partial_labels, self.classifier, batch_size=step.n
                )
            else:
                chosen = self.strategy.query(ctx.dense_pool, partial_labels, batch_size=step.n)
        rows = ctx.pool[np.asarray(chosen, dtype=np.int64)]
        return np.searchsorted(step.unlabelled, rows)


def run_task(name: str, seed: int, key: str, budget: int) -> tuple[LearningCurve, float, float]:
    """One strategy's curve on one data set and seed; with the full-data accuracy and seconds."""
    began = time.perf_counter()
    ctx = context(name, seed)
    common: dict[str, Any] = {
        "test": ctx.test,
        "budget": budget,
        "initial": ctx.initial,
        "batch": SCHEDULES[name],
        "seed": seed,
    }
    if key.startswith(LIB):
        chooser = LibraryChooser(key.removeprefix(LIB), ctx)
        curve = replay(ctx.features, ctx.targets, choose=chooser, name=key, **common)
    else:
        curve = simulate(ctx.features, ctx.targets, strategy=key, **common)
    return curve, ctx.full_accuracy, time.perf_counter() - began


def _worker_init() -> None:
    threadpool_limits(1)
    warnings.simplefilter("ignore")


def sample_efficiency(
    names: Sequence[str],
    keys: dict[str, list[str]],
    seeds: Sequence[int],
    budgets: dict[str, int],
    jobs: int,
    console: Console,
) -> tuple[dict[str, dict[str, list[LearningCurve]]], dict[str, list[float]], dict[str, str]]:
    """Every (data set, seed, strategy) in ``jobs`` processes; curves by data set and strategy,
    full-data accuracies by data set, and errors by ``data set/strategy``."""
    curves: dict[str, dict[str, list[LearningCurve]]] = {n: {} for n in names}
    full: dict[str, dict[int, float]] = {n: {} for n in names}
    errors: dict[str, str] = {}
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
        bars = {n: progress.add_task(n, total=len(seeds) * len(keys[n])) for n in names}
        futures: dict[Future[tuple[LearningCurve, float, float]], tuple[str, int, str]] = {}
        for name in names:
            for seed in seeds:
                for key in keys[name]:
                    job = executor.submit(run_task, name, seed, key, budgets[name])
                    futures[job] = (name, seed, key)
        for job in as_completed(futures):
            name, seed, key = futures[job]
            progress.advance(bars[name])
            try:
                curve, accuracy, _ = job.result()
            except Exception as exc:  # a strategy that fails is reported, not fatal
                errors[f"{name}/{key}"] = f"{type(exc).__name__}: {exc}"
                progress.console.print(f"[red]{name} {key} seed {seed}: {exc!r}[/]")
                continue
            curves[name].setdefault(key, []).append(curve)
            full[name][seed] = accuracy
    for name in names:
        for key in list(curves[name]):
            if f"{name}/{key}" in errors or len(curves[name][key]) != len(seeds):
                del curves[name][key]
            else:
                curves[name][key].sort(key=lambda c: c.seed)
    return curves, {n: [full[n][s] for s in sorted(full[n])] for n in names}, errors


def paired(ours: list[LearningCurve], theirs: list[LearningCurve], budget: int) -> dict[str, float]:
    """The mean over seeds of ``ours``'s AULC minus ``theirs``'s on the same seed (the same split
    and initial set), and its standard error: how far apart two strategies are beyond what the
    splits do to both."""
    by_seed = {c.seed: normalised_aulc(c, budget) for c in theirs}
    gaps = np.array(
        [normalised_aulc(c, budget) - by_seed[c.seed] for c in ours if c.seed in by_seed]
    )
    se = float(gaps.std(ddof=1) / np.sqrt(len(gaps))) if len(gaps) > 1 else float("nan")
    return {"difference": float(gaps.mean()), "difference_se": se, "paired_seeds": len(gaps)}


def figures(report: StrategyReport) -> dict[str, Any]:
    """The report's JSON with the query time per run and the mean curve to 5 places."""
    out = report.to_json()
    out["query_seconds_per_run"] = out.pop("query_seconds")
    curve = out.pop("curve")
    out["curve"] = {
        "labels": curve["labels"],
        "mean": [round(v, 5) for v in curve["mean"]],
        "sd": [round(v, 5) for v in curve["sd"]],
    }
    return out


def efficiency_table(name: str, reports: dict[str, StrategyReport], info: dict[str, Any]) -> Table:
    title = (
        f"{name}: pool {info['pool']}, test {info['test']}, budget {info['budget']}, "
        f"full-data accuracy {info['full_accuracy']:.4f} ± {info['full_accuracy_sd']:.4f}"
    )
    table = Table(title=title, title_justify="left")
    for column in ("strategy", "AULC", "to 95%", "to 98%", "accel 95%", "accel 98%", "s/run"):
        table.add_column(column, justify="left" if column == "strategy" else "right")
    for report in sorted(reports.values(), key=lambda r: -r.aulc):
        cells = [
            f"{'>' + str(info['budget']) if report.labels_to[f] is None else report.labels_to[f]}"
            for f in FRACTIONS
        ]
        speedups = []
        for f in FRACTIONS:
            value = report.acceleration[f]
            mark = ">=" if report.lower_bound[f] else ""
            speedups.append("-" if value is None else f"{mark}{value:.2f}x")
        style = "bold" if report.strategy == "default" else None
        table.add_row(
            report.strategy,
            f"{report.aulc:.4f} ± {report.aulc_sd:.4f}",
            *cells,
            *speedups,
            f"{report.query_seconds:.2f}",
            style=style,
        )
    return table


def timed(run: Callable[[], Any], repeats: int = 3) -> tuple[float, float]:
    """Median seconds of ``repeats`` runs after a warm-up, and the extra MB of one traced run."""
    run()
    seconds = []
    for _ in range(repeats):
        began = time.perf_counter()
        run()
        seconds.append(time.perf_counter() - began)
    tracemalloc.start()
    before = tracemalloc.get_traced_memory()[0]
    run()
    peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    return statistics.median(seconds), (peak - before) / MB


def synthetic(n: int, d: int, k: int, seed: int) -> tuple[Any, Any, Any]:
    """A Gaussian pool ``(n, d)``, and 2,000 training rows with ``k`` classes from a random
    linear model (Gumbel noise: the labels are a softmax model's draws)."""
    rng = np.random.default_rng(seed)
    weights = rng.standard_normal((d, k))
    pool = rng.standard_normal((n, d))
    train = rng.standard_normal((2000, d))
    noisy = train @ weights + rng.gumbel(size=(2000, k))
    return pool, train, noisy.argmax(axis=1)


def speed(scale: float, console: Console) -> tuple[dict[str, Any], dict[str, Any]]:
    """The speed and memory figures of both libraries (see the protocol)."""
    from skactiveml.classifier import SklearnClassifier
    from skactiveml.pool import Badge, CoreSet, Falcun, UncertaintySampling

    ours: dict[str, Any] = {}
    theirs: dict[str, Any] = {}
    big, mid = int(1_000_000 * scale), int(100_000 * scale)
    for k, suffix in ((2, ""), (10, "_10_classes")):
        pool, train, labels = synthetic(big, 50, k, seed=k)
        model = default_estimator(pool).fit(train, labels)
        clf = SklearnClassifier(
            default_estimator(pool), classes=np.arange(k), missing_label=-1, random_state=0
        ).fit(train, labels)
        margin = make_strategy("margin")

        def ours_uncertainty(pool: Any = pool, model: Any = model, margin: Any = margin) -> Any:
            with validated_inputs():
                probabilities = model.predict_proba(pool)
            return margin.query(Pool(pool, probabilities), 100)

        unlabelled = np.full(big, -1)
        qs = UncertaintySampling(method="margin_sampling", missing_label=-1, random_state=0)

        def their_uncertainty(
            pool: Any = pool, clf: Any = clf, qs: Any = qs, y: Any = unlabelled
        ) -> Any:
            return qs.query(pool, y, clf, fit_clf=False, batch_size=100)

        for out, run in ((ours, ours_uncertainty), (theirs, their_uncertainty)):
            seconds, extra = timed(run)
            out[f"uncertainty_1e6{suffix}_seconds"] = seconds
            out[f"uncertainty_1e6{suffix}_extra_mb"] = extra
        console.print(
            f"uncertainty, {big:,} x 50, {k} classes: "
            f"ours {ours[f'uncertainty_1e6{suffix}_seconds']:.3f} s, "
            f"scikit-activeml {theirs[f'uncertainty_1e6{suffix}_seconds']:.3f} s"
        )
        del pool, unlabelled
    pool, train, labels = synthetic(mid, 50, 2, seed=7)
    labelled, labelled_y = train[:1000], labels[:1000]
    model = default_estimator(pool).fit(labelled, labelled_y)
    clf = SklearnClassifier(
        default_estimator(pool), classes=np.arange(2), missing_label=-1, random_state=0
    ).fit(labelled, labelled_y)
    everything = np.vstack([labelled, pool])
    partial_labels = np.concatenate([labelled_y, np.full(mid, -1)])
    hybrid, falcun, coreset, badge = (
        make_strategy(n) for n in ("default", "falcun", "coreset", "badge")
    )

    def scored(strategy: Any) -> Callable[[], Any]:
        def run() -> Any:
            with validated_inputs():
                probabilities = model.predict_proba(pool)
                known = model.predict_proba(labelled)
            return strategy.query(Pool(pool, probabilities, labelled, None, known), 100, seed=0)

        return run

    def library(qs: Any, with_model: bool = True) -> Callable[[], Any]:
        def run() -> Any:
            if with_model:
                return qs.query(everything, partial_labels, clf, fit_clf=False, batch_size=100)
            return qs.query(everything, partial_labels, batch_size=100)

        return run

    runs = {
        "hybrid_1e5": (scored(hybrid), library(Falcun(missing_label=-1, random_state=0))),
        "falcun_1e5": (scored(falcun), library(Falcun(missing_label=-1, random_state=0))),
        "coreset_1e5": (
            lambda: coreset.query(Pool(pool, None, labelled), 100, seed=0),
            library(CoreSet(missing_label=-1, random_state=0), with_model=False),
        ),
        "badge_1e5": (scored(badge), library(Badge(missing_label=-1, random_state=0))),
    }
    for measure, (mine, lib) in runs.items():
        seconds, extra = timed(mine)
        ours[f"{measure}_seconds"], ours[f"{measure}_extra_mb"] = seconds, extra
        try:
            seconds, extra = timed(lib, repeats=1 if measure == "badge_1e5" else 3)
        except Exception as exc:  # reported, as the ProbCover allocation failure was
            theirs[f"{measure}_error"] = f"{type(exc).__name__}: {exc}"
            if measure != "hybrid_1e5":
                continue
            seconds, extra = timed(library(Badge(missing_label=-1, random_state=0)), repeats=1)
            theirs["hybrid_1e5_strategy"] = "badge"
        theirs[f"{measure}_seconds"], theirs[f"{measure}_extra_mb"] = seconds, extra
        console.print(
            f"{measure}: ours {ours[f'{measure}_seconds']:.3f} s, "
            f"scikit-activeml {theirs.get(f'{measure}_seconds', float('nan')):.3f} s"
        )
    theirs.setdefault("hybrid_1e5_strategy", "falcun")
    return ours, theirs


def speed_table(ours: dict[str, Any], theirs: dict[str, Any], scale: float) -> Table:
    table = Table(title=f"Query speed and memory (pool sizes x{scale:g})", title_justify="left")
    for column in ("measure", "loopwise s", "MB", "scikit-activeml s", "MB", "ratio s", "ratio MB"):
        table.add_column(column, justify="left" if column == "measure" else "right")
    for measure in (
        "uncertainty_1e6",
        "uncertainty_1e6_10_classes",
        "hybrid_1e5",
        "falcun_1e5",
        "coreset_1e5",
        "badge_1e5",
    ):
        a, b = ours.get(f"{measure}_seconds"), theirs.get(f"{measure}_seconds")
        am, bm = ours.get(f"{measure}_extra_mb"), theirs.get(f"{measure}_extra_mb")
        table.add_row(
            measure,
            "-" if a is None else f"{a:.3f}",
            "-" if am is None else f"{am:.0f}",
            "-" if b is None else f"{b:.3f}",
            "-" if bm is None else f"{bm:.0f}",
            "-" if a is None or b is None else f"{b / a:.1f}x",
            "-" if am is None or bm is None or am <= 0 else f"{bm / am:.1f}x",
        )
    return table


def cpu_model() -> str | None:
    """The processor's name (Linux), recorded with the figures: the same code gives figures that
    differ in the last bits on another processor (see docs/benchmarks.md)."""
    try:
        lines = Path("/proc/cpuinfo").read_text(encoding="utf-8").splitlines()
    except OSError:
        return platform.processor() or None
    names = (line.split(":", 1)[1].strip() for line in lines if line.startswith("model name"))
    return next(names, None)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--seeds", type=int, default=None, help="default 5 (2 with --quick)")
    parser.add_argument(
        "--first-seed", type=int, default=0, help="seeds first-seed .. first-seed + seeds - 1"
    )
    parser.add_argument("--datasets", default=None, help=f"comma-separated from {DATASETS}")
    parser.add_argument("--strategies", default=None, help="comma-separated; skactiveml:NAME too")
    parser.add_argument("--jobs", type=int, default=os.cpu_count() or 1)
    parser.add_argument("--quick", action="store_true", help="2 seeds, 2 small data sets")
    parser.add_argument("--no-speed", action="store_true", help="skip the speed part")
    parser.add_argument(
        "--only", choices=("efficiency", "speed"), default=None, help="run one part alone"
    )
    parser.add_argument("--library-text-geometry", action="store_true")
    parser.add_argument("--json", type=Path, default=None, help="write the figures here")
    parser.add_argument("--png-dir", type=Path, default=None, help="learning curves per data set")
    args = parser.parse_args(argv)
    if args.only == "efficiency":
        args.no_speed = True
    seeds = args.seeds or (2 if args.quick else 5)
    names = (
        [n.strip() for n in args.datasets.split(",")]
        if args.datasets
        else list(QUICK_DATASETS if args.quick else DATASETS)
    )
    if unknown := sorted(set(names) - set(DATASETS)):
        parser.error(f"unknown data sets {unknown}; choose from {list(DATASETS)}")
    every = [*sorted(STRATEGIES), *(LIB + k for k in LIBRARY)]
    wanted = every if args.strategies is None else [s.strip() for s in args.strategies.split(",")]
    if unknown := sorted(set(wanted) - set(every)):
        parser.error(f"unknown strategies {unknown}; choose from {every}")
    wanted = ["random", *(s for s in wanted if s != "random")]
    budgets = QUICK_BUDGETS if args.quick else BUDGETS
    skipped: dict[str, list[str]] = {}
    keys: dict[str, list[str]] = {}
    for name in names:
        skip = [] if name not in TEXT else list(DENSE_ONLY)
        if name in TEXT and not args.library_text_geometry:
            skip += [LIB + g for g in GEOMETRY]
        keys[name] = [k for k in wanted if k not in skip]
        skipped[name] = [k for k in wanted if k in skip]
    console = Console(width=130)
    started = time.perf_counter()
    if args.only == "speed":
        names = []
    else:
        console.print(
            f"[bold]Sample efficiency[/]: {', '.join(names)}; {seeds} seeds; {args.jobs} "
            f"processes; {len(wanted)} strategies"
        )
    curves, full, errors = (
        sample_efficiency(
            names,
            keys,
            range(args.first_seed, args.first_seed + seeds),
            budgets,
            args.jobs,
            console,
        )
        if names
        else ({}, {}, {})
    )
    efficiency_seconds = time.perf_counter() - started
    datasets: dict[str, dict[str, Any]] = {}
    info: dict[str, dict[str, Any]] = {}
    best: dict[str, dict[str, Any]] = {}
    for name in names:
        if not curves[name] or not full[name]:
            continue
        targets = raw_data(name)[1]
        pool, test = stratified_split(targets, TEST_SIZE, 0)
        accuracy, accuracy_sd = mean_sd(full[name])
        budget = budgets[name]
        reports = compare(curves[name], full_accuracy=accuracy, budget=budget, fractions=FRACTIONS)
        info[name] = {
            "pool": len(pool),
            "test": len(test),
            "classes": len(np.unique(targets)),
            "budget": budget,
            "schedule": [list(s) for s in SCHEDULES[name]],
            "initial": INITIAL,
            "full_accuracy": accuracy,
            "full_accuracy_sd": accuracy_sd,
            "skipped": skipped[name],
        }
        datasets[name] = {key: figures(report) for key, report in reports.items()}
        for key, runs in curves[name].items():
            datasets[name][key]["aulc_by_seed"] = [
                round(normalised_aulc(c, budget), 6) for c in runs
            ]
        console.print(efficiency_table(name, reports, info[name]))
        if args.png_dir is not None:
            from loopwise.cli.simulate import plot_curves

            png = args.png_dir / f"active_learning_{name}.png"
            plot_curves(
                reports, png, title=f"{name}: {seeds} seeds", full_accuracy=accuracy, dpi=80
            )
            console.print(f"  wrote {png}")
        if skipped[name]:
            console.print(f"  not run on text (see protocol): {skipped[name]}")
        ours = {k: r.aulc for k, r in reports.items() if not k.startswith(LIB)}
        library = {k: r.aulc for k, r in reports.items() if k.startswith(LIB)}
        best[name] = {
            "ours": max(ours, key=ours.__getitem__) if ours else None,
            "library": max(library, key=library.__getitem__) if library else None,
        }
        if "default" in curves[name] and best[name]["library"]:
            best[name].update(
                paired(curves[name]["default"], curves[name][best[name]["library"]], budget)
            )
    summary = Table(title="Goals", title_justify="left")
    for column in (
        "data set",
        "best of ours",
        "default",
        "best library",
        "default - library, paired (± se)",
        "default >= library",
    ):
        summary.add_column(column)
    goals: dict[str, Any] = {}
    for name, pick in best.items():
        figs = datasets[name]
        default = figs.get("default", {}).get("aulc")
        lib = figs[pick["library"]]["aulc"] if pick["library"] else None
        met = None if default is None or lib is None else default >= lib
        goals[f"{name}_default_aulc_at_least_best_library"] = met
        summary.add_row(
            name,
            f"{pick['ours']} {figs[pick['ours']]['aulc']:.4f}" if pick["ours"] else "-",
            "-" if default is None else f"{default:.4f}",
            f"{pick['library']} {lib:.4f}" if lib is not None else "-",
            f"{pick['difference']:+.4f} ± {pick['difference_se']:.4f}"
            if "difference" in pick
            else "-",
            str(met),
        )
    for name, target in (("digits", 2.0), ("sms_spam", 8.0)):
        value = datasets.get(name, {}).get("default", {}).get("accel98")
        goals[f"{name}_default_accel98_at_least_{target:g}x"] = (
            None if value is None else value >= target
        )
    if best:
        console.print(summary)
    for key, message in errors.items():
        console.print(f"[red]error[/] {key}: {message}")
    speed_ours: dict[str, Any] = {}
    speed_lib: dict[str, Any] = {}
    scale = 0.1 if args.quick else 1.0
    if not args.no_speed:
        speed_ours, speed_lib = speed(scale, console)
        console.print(speed_table(speed_ours, speed_lib, scale))
        if not args.quick:
            goals["uncertainty_1e6_under_0.25_s"] = speed_ours["uncertainty_1e6_seconds"] < 0.25
            goals["uncertainty_1e6_under_100_mb"] = speed_ours["uncertainty_1e6_extra_mb"] < 100
            goals["hybrid_1e5_under_0.5_s"] = speed_ours["hybrid_1e5_seconds"] < 0.5
            goals["coreset_1e5_under_1_s"] = speed_ours["coreset_1e5_seconds"] < 1.0
    seconds = time.perf_counter() - started
    console.print(
        f"sample efficiency {efficiency_seconds:.0f} s; total {seconds:.0f} s "
        f"({seconds / 60:.1f} min)"
    )
    if args.json is not None:
        import skactiveml

        payload: dict[str, Any] = {
            "default_strategy": "default" if "default" in STRATEGIES else None,
            "default_resolves_to": {
                "cold": DEFAULT_COLD,
                "hybrid": DEFAULT_HYBRID,
                "explore": DEFAULT_EXPLORE,
                "dense": DEFAULT_DENSE,
                "wide": DEFAULT_WIDE,
            },
            "datasets": datasets,
            "dataset_info": info,
            "best": best,
            "goals": goals,
            "errors": errors,
            "speed": speed_ours,
            "speed_skactiveml": speed_lib,
            "speed_ratios": {
                key.removesuffix("_seconds"): speed_lib[key] / value
                for key, value in speed_ours.items()
                if key.endswith("_seconds") and speed_lib.get(key)
            },
            "speed_scale": scale,
            "seeds": seeds,
            "first_seed": args.first_seed,
            "quick": args.quick,
            "versions": {
                "scikit-learn": sklearn.__version__,
                "scikit-activeml": skactiveml.__version__,
                "numpy": np.__version__,
                "scipy": scipy.__version__,
            },
            "blas_threads": [i.get("num_threads") for i in threadpool_info()],
            "blas": [
                {key: i.get(key) for key in ("internal_api", "version", "architecture")}
                for i in threadpool_info()
            ],
            "machine": {
                "cpu": cpu_model(),
                "cpu_count": os.cpu_count(),
                "python": platform.python_version(),
                "platform": platform.platform(),
            },
            "measured_at": datetime.now(UTC).isoformat(timespec="seconds"),
            "command": shlex.join([os.path.relpath(sys.executable), *sys.argv]),
            "sample_efficiency_seconds": round(efficiency_seconds, 1),
            "seconds": round(seconds, 1),
        }
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps(payload, indent=2) + "\n", encoding="utf-8")
        console.print(f"wrote {args.json}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
