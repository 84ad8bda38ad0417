"""How few labels can any choice of labels need on SMS spam? A greedy oracle against the strategies.

Run ``.venv/bin/python bench/sms_oracle.py [--seeds 5] [--oracle-budget 150] [--shortlist 150]
[--jobs 2] [--json PATH]``.

``bench/active_learning.py`` misses its goal of 8x at 98% on SMS spam with loopwise's text model:
random sampling needs 750 labels there, so 8x needs a strategy at 93 labels or fewer, and the
best of either library needs 120. This script asks what that goal asks of a strategy, by running
a chooser no strategy can be: a **greedy oracle** that knows every pool item's true label.

Protocol: ``bench/active_learning.py``'s for SMS spam (the same splits, TF-IDF, loopwise's
``C=10`` balanced logistic regression, the same 10 initial items and schedule of 10 labels a
step, seeds ``0 .. seeds-1``). At each step the oracle picks its items one at a time: among a
shortlist of the ``shortlist`` items of smallest margin under the current model and as many drawn
at random from the rest of the pool (the random ones only, while a single class is labelled), it
takes the one whose true label, added to those it holds, gives the model refitted on them the
highest accuracy on the whole pool, scored with the pool's true labels (never the test split's).
It is greedy, so not the best possible choice, but it is far better informed than any strategy:
a strategy sees no label before it chooses. Random, ``margin`` and loopwise's ``default`` run the
same protocol (budget 1,000), and each gets its labels to 95% and 98% of the full-data accuracy
on its mean curve over the seeds, and the acceleration (random's labels over its own; the
oracle's budget bounds its own: ``>`` where it did not get there).

The oracle refits the model once per candidate and pick: about 1 s a pick here, 4-5 minutes a
seed to 150 labels, so about 12 minutes in all on 2 processes.
"""

from __future__ import annotations

import os
import sys

if sys.path and os.path.abspath(sys.path[0]) == os.path.dirname(os.path.abspath(__file__)):
    sys.path.remove(sys.path[0])  # bench/queue.py would shadow the standard library's queue
os.environ["OPENBLAS_NUM_THREADS"] = "1"

import argparse
import json
import time
import warnings
from collections.abc import Sequence
from concurrent.futures import ProcessPoolExecutor
from functools import partial
from pathlib import Path
from typing import Any

import numpy as np
from rich.console import Console
from rich.table import Table

from loopwise.active_learning.curves import (
    LearningCurve,
    acceleration,
    labels_to_reach,
    summarise,
)
from loopwise.active_learning.simulate import (
    Step,
    default_estimator,
    draw_initial,
    fit,
    replay,
    simulate,
    stratified_split,
    text_features,
)
from loopwise.datasets import load_sms_spam

STRATEGIES = ("random", "margin", "default")
ORACLE = "oracle"
SCHEDULE = ((200, 10), (500, 25), (10**9, 50))
"""``bench/active_learning.py``'s schedule for SMS spam."""
BUDGET = 1000
"""``bench/active_learning.py``'s budget for SMS spam."""
TEST_SIZE, INITIAL = 0.3, 10
FRACTIONS = (0.95, 0.98)


class GreedyOracle:
    """Chooses, one item at a time, the shortlisted item whose true label raises the refitted
    model's accuracy on the whole pool (true labels) the most; ties go to the first shortlisted.
    """

    def __init__(self, x: Any, targets: Any, pool: Any, shortlist: int) -> None:
        self.x, self.targets, self.shortlist = x, targets, shortlist
        self.x_pool, self.y_pool = x[pool], targets[pool]
        self.make = partial(default_estimator, x)

    def accuracy(self, rows: list[int]) -> float:
        """Pool accuracy of the model fitted on ``rows`` (a single class: predicting it)."""
        labels = self.targets[rows]
        model = fit(self.make, self.x[rows], labels)
        if model is None:
            return float(np.mean(self.y_pool == labels[0]))
        return float(np.mean(model.predict(self.x_pool) == self.y_pool))

    def __call__(self, step: Step) -> Any:
        size = min(max(self.shortlist, step.n), len(step.unlabelled))  # never fewer than n
        uncertain = np.array([], dtype=np.int64)
        if step.probabilities is not None:
            top = np.sort(step.probabilities, axis=1)
            uncertain = np.argsort(top[:, -1] - top[:, -2], kind="stable")[:size]
        rest = np.setdiff1d(np.arange(len(step.unlabelled)), uncertain)
        drawn = step.rng.choice(rest, size=min(size, len(rest)), replace=False)
        shortlist = np.concatenate([uncertain, drawn])
        held = [int(r) for r in step.labelled]
        free = np.ones(len(shortlist), dtype=bool)
        picks: list[int] = []
        for _ in range(step.n):
            scores = np.full(len(shortlist), -1.0)
            for i in np.flatnonzero(free):
                scores[i] = self.accuracy([*held, int(step.unlabelled[shortlist[i]])])
            best = int(np.argmax(scores))
            free[best] = False
            picks.append(int(shortlist[best]))
            held.append(int(step.unlabelled[shortlist[best]]))
        return np.asarray(picks, dtype=np.int64)


def run(job: tuple[int, str, int, int]) -> tuple[int, str, LearningCurve, float, float]:
    """One seed and chooser: its learning curve, the full-data accuracy and seconds."""
    seed, strategy, budget, shortlist = job
    began = time.perf_counter()
    warnings.simplefilter("ignore")
    data = load_sms_spam()
    texts, targets = list(data.texts), np.asarray(data.labels)
    pool, test = stratified_split(targets, TEST_SIZE, seed)
    x = text_features(texts, pool)
    make = partial(default_estimator, x)
    whole = fit(make, x[pool], targets[pool])
    assert whole is not None
    full = float(np.mean(whole.predict(x[test]) == targets[test]))
    common: dict[str, Any] = {
        "test": test,
        "budget": budget,
        "initial": draw_initial(pool, INITIAL, seed),
        "batch": SCHEDULE,
        "seed": seed,
        "estimator": make,
    }
    if strategy == ORACLE:
        chooser = GreedyOracle(x, targets, pool, shortlist)
        curve = replay(x, targets, choose=chooser, pool=pool, name=ORACLE, **common)
    else:
        curve = simulate(x, targets, strategy=strategy, **common)
    return seed, strategy, curve, full, time.perf_counter() - began


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--seeds", type=int, default=5)
    parser.add_argument("--oracle-budget", type=int, default=150)
    parser.add_argument("--shortlist", type=int, default=150)
    parser.add_argument("--jobs", type=int, default=2)
    parser.add_argument("--json", type=Path, default=None)
    args = parser.parse_args(argv)
    names = (ORACLE, *STRATEGIES)
    jobs = [
        (seed, name, args.oracle_budget if name == ORACLE else BUDGET, args.shortlist)
        for name in names
        for seed in range(args.seeds)
    ]
    curves: dict[str, list[LearningCurve]] = {name: [] for name in names}
    full: list[float] = []
    seconds: dict[str, float] = dict.fromkeys(names, 0.0)
    began = time.perf_counter()
    with ProcessPoolExecutor(args.jobs) as executor:
        for _seed, name, curve, accuracy, spent in executor.map(run, jobs):
            curves[name].append(curve)
            seconds[name] += spent
            if name == ORACLE:
                full.append(accuracy)
    full_accuracy = float(np.mean(full))
    summaries = {name: summarise(runs) for name, runs in curves.items()}
    reach = {
        name: {f: labels_to_reach(summary, f * full_accuracy) for f in FRACTIONS}
        for name, summary in summaries.items()
    }
    console = Console(width=120)
    table = Table(
        title=f"SMS spam, seeds 0-{args.seeds - 1}, full-data accuracy {full_accuracy:.4f}",
        title_justify="left",
    )
    for column in ("chooser", "budget", "to 95%", "to 98%", "accel 95%", "accel 98%"):
        table.add_column(column)
    out: dict[str, Any] = {
        "seeds": args.seeds,
        "shortlist": args.shortlist,
        "full_accuracy": full_accuracy,
        "choosers": {},
    }
    for name in names:
        budget = args.oracle_budget if name == ORACLE else BUDGET
        row: dict[str, Any] = {"budget": budget, "seconds": round(seconds[name], 1)}
        cells = []
        for f in FRACTIONS:
            labels = reach[name][f]
            speedup = acceleration(reach["random"][f], labels)
            row[f"labels{round(f * 100)}"] = labels
            row[f"accel{round(f * 100)}"] = speedup
            cells.append(("-" if labels is None else str(labels), speedup, budget))
        row["curve"] = {
            "labels": [int(v) for v in summaries[name].labels],
            "mean": [round(float(v), 5) for v in summaries[name].mean],
            "sd": [round(float(v), 5) for v in summaries[name].sd],
        }
        out["choosers"][name] = row
        shown = [
            (f">{b}" if labels == "-" else labels, "-" if s is None else f"{s:.2f}x")
            for labels, s, b in cells
        ]
        table.add_row(name, str(budget), shown[0][0], shown[1][0], shown[0][1], shown[1][1])
    console.print(table)
    oracle = summaries[ORACLE]
    grid = Table(title="mean test accuracy by labels", title_justify="left")
    grid.add_column("labels")
    for name in names:
        grid.add_column(name)
    target = FRACTIONS[-1] * full_accuracy
    for i, labels in enumerate(oracle.labels):
        if labels < 40:
            continue
        cells = [f"{summaries[name].mean[i]:.4f}" for name in names]
        grid.add_row(str(int(labels)), *cells)
    console.print(grid)
    console.print(f"98% of the full-data accuracy: {target:.4f}")
    out["seconds"] = round(time.perf_counter() - began, 1)
    if args.json is not None:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps(out, indent=2) + "\n")
        console.print(f"wrote {args.json}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
