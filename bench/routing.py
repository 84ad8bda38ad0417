"""Routing benchmark: vectorised routing speed, and a certified threshold against baselines.

Run ``.venv/bin/python bench/routing.py [--splits 200] [--datasets sms,trec,digits] [--json PATH]``.

Protocol
--------
1. **Speed, one core** (``OMP_NUM_THREADS=1`` and ``OPENBLAS_NUM_THREADS=1`` are set before NumPy
   is imported). A :class:`~loopwise.routing.RoutingBatch` of 1,000,000 rows from fixed seeds:
   three classes with Dirichlet probabilities, a float ``amount`` and a boolean
   ``requires_audit`` column, and stable ``keys``. The policy targets 2% error, certified on a
   synthetic calibration set, with a per-class threshold, an always-reviewed class, an expert
   threshold, 2% QA sampling and two business rules. ``policy.route`` is timed best of 5 after a
   warm-up, each time on a fresh batch so its cached confidences are computed again; then
   ``reasons(i)`` for 1,000 rows. A per-rule breakdown (cached scores warm) is printed.
2. **Risk control.** Per seeded random split of each data set, the project's default model
   (``fit_model(default_algorithm(kind), ...)``) is trained on 50%, calibrated on 20% and
   measured on 30%. On the calibration part, selection with guaranteed risk (SGR: Y. Geifman and
   R. El-Yaniv, "Selective Classification for Deep Neural Networks", NeurIPS 2017; implemented by
   ``certify_threshold``) certifies a threshold on the raw confidence at alpha 2%, delta 0.1. On
   the measure part we record the share auto-decided (confidence >= threshold) and their error;
   a split *violates* when that error exceeds alpha (nothing auto-decided: automation 0, no
   violation). Same-run baselines on the same splits: a fixed 0.9 threshold, and a Bonferroni
   correction over ``linspace(0.5, 1, 101)`` (exact binomial test at delta/101, lowest passing
   threshold). ECE on the measure part before and after temperature scaling fitted on the
   calibration part. The issue's bar: violation rate at most delta; SMS automation >= 95%.
"""

from __future__ import annotations

import os

os.environ["OMP_NUM_THREADS"] = "1"
os.environ["OPENBLAS_NUM_THREADS"] = "1"
os.environ["MKL_NUM_THREADS"] = "1"

import argparse
import dataclasses
import json
import math
import platform
import shlex
import sys
import time
from collections.abc import Callable, Sequence
from functools import partial
from pathlib import Path
from typing import Any, TypeVar

import numpy as np
import numpy.typing as npt
from joblib import Parallel, delayed
from rich.console import Console
from rich.table import Table
from scipy.stats import binom
from sklearn.datasets import load_digits

from loopwise.core.enums import InputKind
from loopwise.core.policy import RoutingConfig
from loopwise.datasets import load_sms_spam, load_trec_questions
from loopwise.routing import RoutingBatch, RoutingPolicy, certify_threshold
from loopwise.routing.rules import Votes
from loopwise.scoring import confidence, entropy
from loopwise.scoring.calibration import expected_calibration_error, make_calibrator
from loopwise.training.models import ModelInput, default_algorithm, fit_model

T = TypeVar("T")
FloatArray = npt.NDArray[np.float64]
IntArray = npt.NDArray[np.int64]
BoolArray = npt.NDArray[np.bool_]
ALPHA, DELTA, FIXED = 0.02, 0.1, 0.9
GRID = np.linspace(0.5, 1.0, 101)
ROWS, REASON_ROWS = 1_000_000, 1_000
LABELS = ("approve", "decline", "fraud")
DATASETS = {"sms": "sms_spam", "trec": "trec_questions", "digits": "digits"}
METHODS = {"sgr": "SGR (certified)", "fixed": "fixed 0.9", "bonferroni": "Bonferroni grid"}
SUMMARY_KEYS = (
    "alpha",
    "delta",
    "splits",
    "violation_rate",
    "automation_rate",
    "fixed_threshold_violation_rate",
    "fixed_threshold_automation_rate",
    "bonferroni_automation_rate",
    "bonferroni_violation_rate",
    "ece_before",
    "ece_after",
)


def best_of(setup: Callable[[], T], run: Callable[[T], object], repeats: int = 5) -> float:
    """Seconds of the fastest of ``repeats`` calls of ``run(setup())`` after one warm-up;
    ``setup`` is not timed."""
    run(setup())
    times = []
    for _ in range(repeats):
        arg = setup()
        start = time.perf_counter()
        run(arg)
        times.append(time.perf_counter() - start)
    return min(times)


def synthetic_policy(seed: int) -> RoutingPolicy:
    """The realistic policy, its threshold certified on 5,000 synthetic verified items from a
    calibrated model (correct with probability equal to its confidence)."""
    rng = np.random.default_rng(seed)
    conf = 1.0 / 3.0 + 2.0 / 3.0 * rng.beta(4.0, 0.5, size=5_000)
    certificate = certify_threshold(conf, rng.random(5_000) < conf, alpha=ALPHA, delta=DELTA)
    config = RoutingConfig.model_validate(
        {
            "target_error": ALPHA,
            "target_confidence": 1.0 - DELTA,
            "class_thresholds": {"decline": 0.95},
            "always_review": ["fraud"],
            "qa_sample": 0.02,
            "expert_threshold": 0.3,
            "rules": [
                {"name": "large amount", "when": "amount > 10000", "priority": "high"},
                {"name": "audit", "when": "requires_audit", "route": "expert"},
            ],
        }
    )
    return RoutingPolicy.from_config(config, LABELS, certificate=certificate)


def synthetic_batch(n: int, seed: int) -> RoutingBatch:
    rng = np.random.default_rng(seed)
    probs = rng.dirichlet([0.3, 0.3, 0.05], size=n)
    fields = {"amount": rng.lognormal(6.0, 1.5, size=n), "requires_audit": rng.random(n) < 0.01}
    return RoutingBatch(LABELS, probs, n, fields=fields, keys=rng.random(n))


def bench_routing(seed: int, console: Console) -> dict[str, float]:
    """Time ``route`` on 1e6 rows and ``reasons`` on 1e3; print the per-rule breakdown."""
    policy = synthetic_policy(seed)
    batch = synthetic_batch(ROWS, seed + 1)
    fresh = partial(dataclasses.replace, batch)
    route_s = best_of(fresh, policy.route)
    outcome = policy.route(fresh())
    rows = np.random.default_rng(seed + 2).choice(ROWS, REASON_ROWS, replace=False).tolist()
    reasons_s = best_of(lambda: outcome, lambda o: [o.reasons(r) for r in rows])
    shares = np.bincount(outcome.tier, minlength=3) / ROWS
    assert policy.certified is not None
    console.print(
        f"route {ROWS:,} rows: [bold]{route_s:.3f} s[/] (best of 5; target < 1 s); "
        f"reasons for {REASON_ROWS:,} rows: [bold]{reasons_s:.4f} s[/]\n"
        f"certified threshold {policy.certified.threshold:.4f}; auto {shares[0]:.1%}, "
        f"human {shares[1]:.1%}, expert {shares[2]:.1%}"
    )
    warm = fresh()
    probs = warm.probabilities
    assert probs is not None
    breakdown = {
        "scores (confidence, predicted)": best_of(
            fresh, lambda b: (b.model_confidence, b.predicted)
        ),
        "priority score (entropy)": best_of(lambda: probs, entropy),
    }
    for bit, rule in enumerate(policy.rules):
        apply = partial(rule.apply, warm, bit=bit)
        breakdown[f"rule {bit}: {rule.name}"] = best_of(partial(Votes.empty, ROWS), apply)
    for step, seconds in breakdown.items():
        console.print(f"  {step:<36} {seconds:8.4f} s  {seconds / route_s:6.1%}")
    return {"route_1e6_seconds": route_s, "reasons_1e3_seconds": reasons_s}


@dataclasses.dataclass(frozen=True)
class Data:
    """A labelled data set: model inputs, target indices into ``labels``."""

    name: str
    kind: InputKind
    inputs: list[str] | FloatArray
    targets: IntArray
    labels: tuple[str, ...]


def load(name: str) -> Data:
    if name == "digits":
        digits = load_digits()
        labels = tuple(str(c) for c in range(10))
        inputs = np.asarray(digits.data, dtype=np.float64)
        return Data(name, InputKind.TABULAR, inputs, np.asarray(digits.target, np.int64), labels)
    text = load_sms_spam() if name == "sms_spam" else load_trec_questions()
    targets = np.array([text.label_set.index(label) for label in text.labels], dtype=np.int64)
    return Data(name, InputKind.TEXT, list(text.texts), targets, text.label_set)


def take(inputs: list[str] | FloatArray, rows: IntArray) -> ModelInput:
    if isinstance(inputs, list):
        return [inputs[i] for i in rows]
    return inputs[rows]


def selective(conf: FloatArray, ok: BoolArray, threshold: float) -> tuple[float, float]:
    """Share of items with ``conf >= threshold`` and their error rate (0 when none)."""
    chosen = conf >= threshold
    k = int(chosen.sum())
    return k / len(conf), float((~ok[chosen]).mean()) if k else 0.0


def bonferroni_threshold(conf: FloatArray, ok: BoolArray) -> float:
    """Lowest grid threshold whose exact binomial test rejects "error > alpha" at delta/101."""
    chosen = conf[None, :] >= GRID[:, None]
    k = chosen.sum(axis=1)
    errors = (chosen & ~ok[None, :]).sum(axis=1)
    passing = (k > 0) & (binom.cdf(errors, k, ALPHA) <= DELTA / len(GRID))
    return float(GRID[np.argmax(passing)]) if passing.any() else math.inf


def run_split(data: Data, split: int, seed: int) -> dict[str, float]:
    """One 50/20/30 split: thresholds from the calibration part, figures on the measure part."""
    n = len(data.targets)
    perm = np.random.default_rng([seed, split]).permutation(n)
    train, cal, test = np.split(perm, [n // 2, 7 * n // 10])
    model = fit_model(
        default_algorithm(data.kind),
        data.kind,
        take(data.inputs, train),
        [data.labels[t] for t in data.targets[train]],
        data.labels,
    )
    p_cal = model.predict_proba(take(data.inputs, cal))
    p_test = model.predict_proba(take(data.inputs, test))
    y_cal, y_test = data.targets[cal], data.targets[test]
    conf_cal, ok_cal = confidence(p_cal), p_cal.argmax(axis=1) == y_cal
    conf_test, ok_test = confidence(p_test), p_test.argmax(axis=1) == y_test
    thresholds = {
        "sgr": certify_threshold(conf_cal, ok_cal, alpha=ALPHA, delta=DELTA).threshold,
        "fixed": FIXED,
        "bonferroni": bonferroni_threshold(conf_cal, ok_cal),
    }
    out: dict[str, float] = {}
    for method, threshold in thresholds.items():
        automation, error = selective(conf_test, ok_test, threshold)
        out |= {f"{method}_threshold": threshold, f"{method}_automation": automation}
        out[f"{method}_error"] = error
    scaler = make_calibrator("temperature").fit(p_cal, y_cal)
    out["ece_before"] = expected_calibration_error(p_test, y_test)
    out["ece_after"] = expected_calibration_error(scaler.transform(p_test), y_test)
    return out


def column(rows: Sequence[dict[str, float]], key: str) -> FloatArray:
    return np.array([row[key] for row in rows], dtype=np.float64)


def summarise(rows: Sequence[dict[str, float]]) -> dict[str, float | int]:
    def rate(method: str) -> float:
        return float(np.mean(column(rows, f"{method}_error") > ALPHA))

    def automation(method: str) -> float:
        return float(np.mean(column(rows, f"{method}_automation")))

    return {
        "alpha": ALPHA,
        "delta": DELTA,
        "splits": len(rows),
        "violation_rate": rate("sgr"),
        "automation_rate": automation("sgr"),
        "fixed_threshold_violation_rate": rate("fixed"),
        "fixed_threshold_automation_rate": automation("fixed"),
        "bonferroni_automation_rate": automation("bonferroni"),
        "bonferroni_violation_rate": rate("bonferroni"),
        "ece_before": float(np.mean(column(rows, "ece_before"))),
        "ece_after": float(np.mean(column(rows, "ece_after"))),
    }


def risk_table(per_split: dict[str, list[dict[str, float]]]) -> Table:
    table = Table(title=f"Auto-decision at alpha {ALPHA:.0%}, delta {DELTA} (means over splits)")
    headers = ("threshold in", "automation", "error (auto)", "violations", "ECE")
    for header in ("data set", "method", *headers):
        table.add_column(header, justify="left" if header in ("data set", "method") else "right")
    for name, rows in per_split.items():
        for method, title in METHODS.items():
            thresholds = column(rows, f"{method}_threshold")
            finite = thresholds[np.isfinite(thresholds)]
            error = column(rows, f"{method}_error")
            before, after = (float(np.mean(column(rows, k))) for k in ("ece_before", "ece_after"))
            table.add_row(
                name if method == "sgr" else "",
                title,
                f"{np.mean(finite):.4f} in {len(finite)}" if len(finite) else "never",
                f"{np.mean(column(rows, f'{method}_automation')):.2%}",
                f"{np.mean(error):.2%}",
                f"{np.mean(error > ALPHA):.1%} of {len(rows)}",
                f"{before:.4f} -> {after:.4f}" if method == "sgr" else "",
                end_section=method == "bonferroni",
            )
    return table


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--splits", type=int, default=200)
    parser.add_argument("--datasets", default="sms,trec,digits", help="comma-separated")
    parser.add_argument("--jobs", type=int, default=2, help="joblib workers across splits")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--json", type=Path, default=None, help="write the figures here")
    args = parser.parse_args(argv)
    names = [DATASETS.get(key.strip(), key.strip()) for key in args.datasets.split(",")]
    if unknown := set(names) - set(DATASETS.values()):
        parser.error(f"unknown data sets {sorted(unknown)}; choose from {sorted(DATASETS)}")
    console = Console(width=120)
    started = time.perf_counter()
    speed = bench_routing(args.seed, console)
    per_split: dict[str, list[dict[str, float]]] = {}
    with Parallel(n_jobs=args.jobs) as parallel:
        for name in names:
            clock = time.perf_counter()
            data = load(name)
            jobs = (delayed(run_split)(data, split, args.seed) for split in range(args.splits))
            per_split[name] = list(parallel(jobs))
            console.print(f"{name}: {args.splits} splits in {time.perf_counter() - clock:.1f} s")
    summaries = {name: summarise(rows) for name, rows in per_split.items()}
    console.print(risk_table(per_split))
    for name, s in summaries.items():
        bar = s["violation_rate"] <= DELTA and (name != "sms_spam" or s["automation_rate"] >= 0.95)
        console.print(f"{name}: issue's bar {'met' if bar else '[red]NOT met[/]'}")
    console.print(f"total {time.perf_counter() - started:.1f} s")
    if args.json is not None:
        sms = summaries.get("sms_spam", dict.fromkeys(SUMMARY_KEYS))
        payload: dict[str, Any] = {**speed, **sms, "datasets": summaries}
        payload["machine"] = {
            "cpu_count": os.cpu_count(),
            "python": platform.python_version(),
            "platform": platform.platform(),
        }
        executable = os.path.relpath(sys.executable)
        payload["command"] = shlex.join([executable, *sys.argv] if argv is None else argv)
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps(payload, indent=2) + "\n", encoding="utf-8")
        console.print(f"wrote {args.json}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
