"""Active learning in the loop: ``Loopwise.query`` on a large unlabelled pool.

Run ``.venv/bin/python bench/pool_query.py [--backend sqlite|postgres|both]
[--postgres-url URL] [--rows 100000] [--kinds tabular,text] [--queries 5]
[--baseline-src PATH [--rounds 3]] [--json PATH]``.

Protocol
--------
1. **Seed.** A fresh database per backend and kind (PostgreSQL: a new schema on
   ``--postgres-url``, dropped at the end; SQLite: a file in a temporary directory). *Tabular*: a
   project of 20 numeric features, rows drawn from a standard Gaussian, labelled by the sign of a
   random linear function. *Text*: the bundled SMS spam texts, cycled, each with a counter
   appended (every candidate is a new text). 500 labelled rows imported, the default model
   trained and promoted, the active-learning settings left at their defaults (the ``default``
   strategy: ``bait`` on the table, ``margin_diverse`` with 10% exploration on TF-IDF).
2. **Pool.** ``--rows`` candidates added with ``add_to_pool`` in batches of 10,000:
   ``add_items_per_s``.
3. **Queries.** ``--queries`` queries of 100 in a row, each queueing its picks for review. The
   first computes and stores every candidate's features (``first_query_s``); the others find
   them in the feature store (``query_s``: the median). Each query's candidates are the pool less
   the picks of the queries before.
4. **Baseline, same run.** The strategy alone (``strategy_s``, median of 3): the same strategy,
   asked for 100 from the same features and the production model's probabilities, computed
   beforehand, as a library user holding the arrays would call it. ``query_s - strategy_s`` is
   what the loop adds: reading the candidates, their features and the labelled items, scoring
   the pool with the model, and writing the 100 items, predictions, decisions, tasks and audit
   events in one transaction.
5. **After a promotion.** The model trained again on the same labels and promoted (a new model:
   a new feature space), its re-query turned off, then one query of 100 timed
   (``promoted_query_s``): every candidate's features computed for the new model, from what the
   candidates kept when added (a table's inputs, a text's term counts), as ``promote`` does when
   it queries a batch.
6. **Before and after, one database** (with ``--baseline-src``, the ``src`` folder of another
   checkout, e.g. a ``git worktree`` of an earlier commit, whose database schema is this one's).
   Steady queries on the pool as step 5 left it, in child processes taking turns: one importing
   loopwise from ``--baseline-src``, one from this checkout, ``--rounds`` times each; every
   child runs 6 queries of 100 and the first, which reads files the other child wrote, is not
   timed (``steady_ab``: every timed query, and the medians). Databases built a few minutes
   apart, the machine's noise (writeback of what the adds wrote, in particular) moves the
   steady query at a million rows by up to half a second; taking turns on one database, it
   moves both alike.

``OMP_NUM_THREADS`` and ``OPENBLAS_NUM_THREADS`` are 1, as in the other benchmarks.
"""

from __future__ import annotations

import os
import sys

# Run as ``python bench/pool_query.py``, this file's directory comes first on ``sys.path``,
# where ``bench/queue.py`` would shadow the standard library's ``queue`` (which scikit-learn
# imports).
if sys.path and os.path.abspath(sys.path[0]) == os.path.dirname(os.path.abspath(__file__)):
    sys.path.remove(sys.path[0])
os.environ["OMP_NUM_THREADS"] = "1"
os.environ["OPENBLAS_NUM_THREADS"] = "1"
os.environ["MKL_NUM_THREADS"] = "1"

import argparse
import json
import platform
import statistics
import subprocess
import time
from collections.abc import Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np

from loopwise import Loopwise, Settings, TrainingConfig
from loopwise.active_learning import Pool, make_strategy
from loopwise.core.enums import InputKind
from loopwise.datasets import load_sms_spam
from loopwise.testing import scratch_database
from loopwise.training.features import model_features
from loopwise.training.models import model_inputs

DEFAULT_PG = "postgresql+psycopg://postgres@127.0.0.1:5432/test"
LABELLED = 500
BATCH = 10_000
PICKS = 100
FEATURES = 20
AB_QUERIES = 6
"""Queries each child of step 6 runs; the first is not timed."""


def rows_of(kind: str, count: int) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """``(labelled, candidates)``: ``LABELLED`` labelled rows and ``count`` unlabelled ones."""
    if kind == "tabular":
        rng = np.random.default_rng(0)
        weights = rng.normal(size=FEATURES)
        values = rng.normal(size=(LABELLED + count, FEATURES))
        labels = np.where(values @ weights > 0, "yes", "no")
        labelled = [
            {
                "external_id": f"l{i}",
                "payload": {"features": values[i].tolist()},
                "label": labels[i],
            }
            for i in range(LABELLED)
        ]
        candidates = [
            {"external_id": f"c{i}", "payload": {"features": values[LABELLED + i].tolist()}}
            for i in range(count)
        ]
        return labelled, candidates
    data = load_sms_spam()
    texts, rest = data.texts, len(data.texts) - LABELLED
    labelled = [
        {"external_id": f"l{i}", "payload": texts[i], "label": data.labels[i]}
        for i in range(LABELLED)
    ]
    candidates = [
        {"external_id": f"c{i}", "payload": f"{texts[LABELLED + i % rest]} {i}"}
        for i in range(count)
    ]
    return labelled, candidates


def project(lw: Loopwise, kind: str) -> None:
    no_holdout = TrainingConfig(holdout_share=0.0, golden_share=0.0)
    if kind == "tabular":
        names = [f"f{i}" for i in range(FEATURES)]
        lw.create_project(
            "pool", ["no", "yes"], input_kind="tabular", feature_names=names, training=no_holdout
        )
    else:
        lw.create_project("pool", ["ham", "spam"], training=no_holdout)


def strategy_alone(lw: Loopwise, kind: str, picks: set[str], candidates: list[Any]) -> float:
    """The project's strategy on arrays computed beforehand: median seconds of 3."""
    found = lw.production_model("pool")
    assert found is not None
    _, model = found
    left = [c for c in candidates if c["external_id"] not in picks]
    labelled, _ = rows_of(kind, 0)
    input_kind = InputKind(kind)

    def features_of(rows: list[dict[str, Any]]) -> Any:
        payloads = [r["payload"] if kind == "tabular" else {"text": r["payload"]} for r in rows]
        return model_features(model, model_inputs(input_kind, payloads))

    features, known = features_of(left), features_of(labelled)
    strategy = make_strategy("default", explore=lw.project("pool").active_learning.explore)
    seconds = []
    for seed in range(3):
        began = time.perf_counter()
        pool = Pool(
            features,
            model.predict_proba_features(features),
            known,
            None,
            model.predict_proba_features(known),
        )
        strategy.query(pool, PICKS, seed=seed)
        seconds.append(time.perf_counter() - began)
    return statistics.median(seconds)


def run(backend: str, kind: str, args: argparse.Namespace) -> dict[str, Any]:
    labelled, candidates = rows_of(kind, args.rows)
    with scratch_database(backend, args.postgres_url, "bench_pool") as (url, directory):
        lw = Loopwise(Settings(database_url=url, data_dir=directory))
        project(lw, kind)
        lw.import_labels("pool", labelled)
        lw.promote("pool", lw.train("pool").version, force=True)
        began = time.perf_counter()
        for start in range(0, len(candidates), BATCH):
            lw.add_to_pool("pool", candidates[start : start + BATCH])
        added = time.perf_counter() - began
        seconds, picks, strategy = [], set(), ""
        for seed in range(args.queries):
            began = time.perf_counter()
            result = lw.query("pool", PICKS, seed=seed)
            seconds.append(time.perf_counter() - began)
            assert len(result.chosen) == PICKS
            picks |= {c.external_id for c in result.chosen}
            strategy = result.strategy
        alone = strategy_alone(lw, kind, picks, candidates)
        lw.set_active_learning("pool", {"requery_after_promotion": False})
        lw.promote("pool", lw.train("pool").version, force=True)
        began = time.perf_counter()
        result = lw.query("pool", PICKS, seed=args.queries)
        promoted = time.perf_counter() - began
        assert len(result.chosen) == PICKS
        ab = None if args.baseline_src is None else before_and_after(url, directory, args)
        lw.close()
    steady = statistics.median(seconds[1:]) if len(seconds) > 1 else seconds[0]
    out = {
        "backend": backend,
        "kind": kind,
        "rows": args.rows,
        "strategy": strategy,
        "add_items_per_s": round(args.rows / added),
        "first_query_s": round(seconds[0], 3),
        "query_s": round(steady, 3),
        "query_seconds": [round(s, 3) for s in seconds],
        "strategy_s": round(alone, 3),
        "loop_overhead_s": round(steady - alone, 3),
        "promoted_query_s": round(promoted, 3),
    }
    print(
        f"{backend:>8} {kind:>7}: add {out['add_items_per_s']:,} items/s; first query "
        f"{out['first_query_s']:.2f} s, then {out['query_s']:.3f} s (the strategy alone "
        f"{out['strategy_s']:.3f} s); after a promotion {out['promoted_query_s']:.2f} s",
        flush=True,
    )
    if ab is not None:
        out["steady_ab"] = ab
        print(
            f"{'':>17} steady, one database: {ab['loopwise_s']:.3f} s against "
            f"{ab['baseline_s']:.3f} s for the baseline ({ab['baseline_over_loopwise']:.2f}x)",
            flush=True,
        )
    return out


def before_and_after(url: str, directory: Path, args: argparse.Namespace) -> dict[str, Any]:
    """Step 6: steady queries by the baseline and by this checkout, taking turns."""
    timed: dict[str, list[float]] = {"baseline": [], "loopwise": []}
    seed = 1_000
    for _ in range(args.rounds):
        for name, src in (("baseline", args.baseline_src.resolve()), ("loopwise", None)):
            timed[name].extend(child_queries(url, directory, seed, src))
            seed += AB_QUERIES
    baseline, ours = (statistics.median(timed[k]) for k in ("baseline", "loopwise"))
    return {
        "rounds": args.rounds,
        "queries_timed_per_round": AB_QUERIES - 1,
        "baseline_src": str(args.baseline_src),
        "baseline": [round(s, 3) for s in timed["baseline"]],
        "loopwise": [round(s, 3) for s in timed["loopwise"]],
        "baseline_s": round(baseline, 3),
        "loopwise_s": round(ours, 3),
        "baseline_over_loopwise": round(baseline / ours, 2),
    }


def child_queries(url: str, directory: Path, seed: int, src: Path | None) -> list[float]:
    """Seconds of the timed queries of one child (loopwise imported from ``src``, else this
    checkout's ``src``)."""
    env = dict(os.environ)
    env["PYTHONPATH"] = str(src or Path(__file__).resolve().parent.parent / "src")
    argv = [sys.executable, __file__, "--child-queries", url, str(directory), str(seed)]
    done = subprocess.run(argv, env=env, capture_output=True, text=True, check=False)
    if done.returncode:
        raise SystemExit(f"the queries of {src or 'this checkout'} failed:\n{done.stderr}")
    seconds: list[float] = json.loads(done.stdout.strip().splitlines()[-1])
    return seconds


def queries_of_a_child(url: str, directory: str, seed: int) -> list[float]:
    """``AB_QUERIES`` steady queries of 100 on an existing pool; the seconds of all but the
    first."""
    lw = Loopwise(Settings(database_url=url, data_dir=Path(directory)))
    seconds = []
    for k in range(AB_QUERIES):
        began = time.perf_counter()
        result = lw.query("pool", PICKS, seed=seed + k)
        seconds.append(time.perf_counter() - began)
        assert len(result.chosen) == PICKS
    lw.close()
    return seconds[1:]


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--backend", choices=("sqlite", "postgres", "both"), default="both")
    parser.add_argument("--postgres-url", default=os.environ.get("LOOPWISE_BENCH_PG", DEFAULT_PG))
    parser.add_argument("--rows", type=int, default=100_000, help="candidates in the pool")
    parser.add_argument("--kinds", default="tabular,text", help="tabular, text or both")
    parser.add_argument("--queries", type=int, default=5, help="queries of 100 in a row (>= 2)")
    parser.add_argument("--baseline-src", type=Path, default=None, help="src of a baseline")
    parser.add_argument("--rounds", type=int, default=3, help="turns each with --baseline-src")
    parser.add_argument("--json", type=Path, default=None, help="write the figures here")
    parser.add_argument("--child-queries", nargs=3, default=None, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.child_queries is not None:
        url, directory, seed = args.child_queries
        print(json.dumps(queries_of_a_child(url, directory, int(seed))))
        return 0
    kinds = [k.strip() for k in args.kinds.split(",") if k.strip()]
    if not kinds or set(kinds) - {"tabular", "text"}:
        parser.error("--kinds: tabular, text or both")
    queries = args.queries + 1 + (2 * args.rounds * AB_QUERIES if args.baseline_src else 0)
    if args.queries < 2 or args.rounds < 1 or args.rows < PICKS * queries:
        parser.error(
            f"--queries must be at least 2, --rounds at least 1, and --rows at least {PICKS} "
            f"x every query (--queries + 1, and {2 * AB_QUERIES} a round with --baseline-src)"
        )
    backends = ["sqlite", "postgres"] if args.backend == "both" else [args.backend]
    began = time.perf_counter()
    runs = [run(backend, kind, args) for backend in backends for kind in kinds]
    results = {
        "runs": runs,
        "machine": {"python": platform.python_version(), "cpus": os.cpu_count()},
        "measured_at": datetime.now(UTC).isoformat(timespec="seconds"),
        "command": " ".join([os.path.relpath(sys.executable), *sys.argv]),
        "seconds": round(time.perf_counter() - began, 1),
    }
    if args.json is not None:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps(results, indent=2) + "\n", encoding="utf-8")
        print(f"wrote {args.json}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
