"""The issue's SMS probe again: how much of the "8x" is the strategy, and how much the model.

Run ``.venv/bin/python bench/sms_probe.py [--seeds 5] [--budget 2000] [--json PATH]``.

The issue set its goal of 8x at 98% on SMS spam from a quick probe: "TF-IDF + logistic
regression and plain margin sampling reached 98% of full-data accuracy with 110 labels where
random needed 940". ``bench/active_learning.py`` measures with loopwise's own text model
(TF-IDF of words and word pairs, ``C=10``, balanced classes), which learns from a few random
labels far sooner than scikit-learn's defaults. This script runs the protocol of
``bench/active_learning.py`` (the same splits, initial sets, schedule and scoring, seeds
``0 .. seeds-1``) with three models, and prints per model the labels at which random, margin
and loopwise's ``default`` first reach 95% and 98% of that model's full-data accuracy:

- ``probe``: ``TfidfVectorizer()`` and ``LogisticRegression()`` with scikit-learn's defaults
  (the issue's description; ``max_iter=1000`` so that it converges);
- ``loopwise-features``: loopwise's TF-IDF with scikit-learn's default logistic regression;
- ``loopwise``: loopwise's TF-IDF and logistic regression (what the benchmark uses).

Acceleration is random's labels over the strategy's; ``>=``: random did not get there within
the budget, which is then used for it (a lower bound).
"""

from __future__ import annotations

import os
import sys

if sys.path and os.path.abspath(sys.path[0]) == os.path.dirname(os.path.abspath(__file__)):
    sys.path.remove(sys.path[0])  # bench/queue.py would shadow the standard library's queue
os.environ["OPENBLAS_NUM_THREADS"] = "1"

import argparse
import json
import warnings
from collections.abc import Callable, Sequence
from concurrent.futures import ProcessPoolExecutor
from functools import partial
from pathlib import Path
from typing import Any

import numpy as np
from rich.console import Console
from rich.table import Table
from sklearn.feature_extraction.text import TfidfVectorizer
from sklearn.linear_model import LogisticRegression

from loopwise.active_learning.simulate import (
    LearningCurve,
    compare,
    default_estimator,
    draw_initial,
    fit,
    simulate,
    stratified_split,
    text_features,
)
from loopwise.datasets import load_sms_spam

MODELS = ("probe", "loopwise-features", "loopwise")
STRATEGIES = ("random", "margin", "default")
SCHEDULE = ((200, 10), (500, 25), (10**9, 50))
"""``bench/active_learning.py``'s schedule for SMS spam."""
TEST_SIZE, INITIAL = 0.3, 10


def features(model: str, texts: Sequence[str], pool: Any) -> Any:
    if model == "probe":
        vectoriser = TfidfVectorizer().fit([texts[i] for i in pool])
        return vectoriser.transform(list(texts)).tocsr()
    return text_features(texts, pool)


def estimator(model: str, x: Any) -> Callable[[], Any]:
    if model == "loopwise":
        return partial(default_estimator, x)
    return partial(LogisticRegression, max_iter=1000)


def run(job: tuple[str, int, str, int]) -> tuple[str, int, str, LearningCurve, float]:
    """One model, seed and strategy: its learning curve and the model's full-data accuracy."""
    model, seed, strategy, budget = job
    warnings.simplefilter("ignore")
    data = load_sms_spam()
    texts, targets = list(data.texts), np.asarray(data.labels)
    pool, test = stratified_split(targets, TEST_SIZE, seed)
    x = features(model, texts, pool)
    make = estimator(model, x)
    whole = fit(make, x[pool], targets[pool])
    assert whole is not None
    full = float(np.mean(whole.predict(x[test]) == targets[test]))
    curve = simulate(
        x,
        targets,
        strategy=strategy,
        test=test,
        budget=budget,
        initial=draw_initial(pool, INITIAL, seed),
        batch=SCHEDULE,
        seed=seed,
        estimator=make,
    )
    return model, seed, strategy, curve, full


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--seeds", type=int, default=5)
    parser.add_argument("--budget", type=int, default=2000)
    parser.add_argument("--jobs", type=int, default=2)
    parser.add_argument("--json", type=Path, default=None)
    args = parser.parse_args(argv)
    jobs = [(m, s, k, args.budget) for m in MODELS for s in range(args.seeds) for k in STRATEGIES]
    curves: dict[str, dict[str, list[LearningCurve]]] = {
        m: {k: [] for k in STRATEGIES} for m in MODELS
    }
    full: dict[str, list[float]] = {m: [] for m in MODELS}
    with ProcessPoolExecutor(args.jobs) as executor:
        for model, _seed, strategy, curve, accuracy in executor.map(run, jobs):
            curves[model][strategy].append(curve)
            if strategy == STRATEGIES[0]:
                full[model].append(accuracy)
    console = Console(width=120)
    table = Table(title=f"SMS spam, {args.seeds} seeds, budget {args.budget}", title_justify="left")
    for column in (
        "model",
        "full-data accuracy",
        "strategy",
        "AULC",
        "to 95%",
        "to 98%",
        "accel 98%",
    ):
        table.add_column(column)
    out: dict[str, Any] = {"seeds": args.seeds, "budget": args.budget, "models": {}}
    for model in MODELS:
        accuracy = float(np.mean(full[model]))
        reports = compare(curves[model], full_accuracy=accuracy, budget=args.budget)
        out["models"][model] = {"full_accuracy": accuracy}
        for strategy, report in reports.items():
            speedup = report.acceleration[0.98]
            bound = report.lower_bound[0.98]
            shown = "-" if speedup is None else f"{'>=' if bound else ''}{speedup:.2f}x"
            labels = {f: ("-" if v is None else str(v)) for f, v in report.labels_to.items()}
            table.add_row(
                model,
                f"{accuracy:.4f}",
                strategy,
                f"{report.aulc:.4f}",
                labels[0.95],
                labels[0.98],
                shown,
            )
            out["models"][model][strategy] = {
                "aulc": report.aulc,
                "labels95": report.labels_to[0.95],
                "labels98": report.labels_to[0.98],
                "accel98": speedup,
                "accel98_lower_bound": bound,
            }
    console.print(table)
    if args.json is not None:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps(out, indent=2) + "\n")
        console.print(f"wrote {args.json}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
