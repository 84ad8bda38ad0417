"""The pool's stores fed a little at a time: what merging their chunks costs the queries.

Run ``.venv/bin/python bench/pool_store.py [--kind text|table] [--rows 1000000] [--add 1000]
[--adds 330] [--query-every 10] [--baseline-src PATH] [--json PATH]``.

A pool keeps what each add's candidates keep as a chunk (a text's term counts,
``loopwise.store.terms``; a table row's inputs, the ``inputs`` space of
``loopwise.store.features``) and each query's new features as a chunk of the production
model's space. Once a space holds more than 32 chunks, a load merges some. This script
measures what the queries of a large pool spend in the stores when candidates come a few at a
time, as through the HTTP API.

Protocol
--------
1. **Pool.** *Text*: the bundled SMS spam texts, each with a counter appended, 10,000 of them
   counted with the default text model's analysis and featurised by that model fitted on the
   SMS labels, once. *Table*: 10,000 rows of 20 standard Gaussian columns, kept as inputs and
   as features. ``--rows`` pool items are stored as a pool added 10,000 at a time leaves them
   (the same 10,000 rows again under new ids: the stores' work depends on bytes, not on which
   rows), then loaded once, which merges them as a first query does.
2. **Adds and queries.** ``--adds`` adds of ``--add`` candidates each, what they keep appended
   as ``add_to_pool`` does. After every ``--query-every`` adds, what a query does in the stores:
   load what the candidates added since kept (a version that can, only the chunks holding them
   and those a merge takes; else the whole space, as its query did), append their features as
   one chunk, load the whole features space. Each such query is timed (``query_s``: median,
   slowest, total, each; ``kept_s`` the same for the first load alone); ``merged_mb`` is what
   merges wrote (chunk files that appeared during a load); ``peak_rss_mb`` the process's peak.
3. **Baseline, same run.** With ``--baseline-src`` (the ``src`` folder of another checkout, e.g.
   a ``git worktree`` of an earlier commit), the same steps run again in a child process that
   imports loopwise from there; both are printed and the ratios.

Each variant runs in its own process on a new temporary folder, removed at the end.
``OMP_NUM_THREADS`` and ``OPENBLAS_NUM_THREADS`` are 1, as in the other benchmarks.
"""

from __future__ import annotations

import os
import sys

if sys.path and os.path.abspath(sys.path[0]) == os.path.dirname(os.path.abspath(__file__)):
    sys.path.remove(sys.path[0])  # bench/queue.py would shadow the standard library's queue
os.environ["OMP_NUM_THREADS"] = "1"
os.environ["OPENBLAS_NUM_THREADS"] = "1"

import argparse
import inspect
import json
import platform
import resource
import shutil
import statistics
import subprocess
import tempfile
import time
from collections.abc import Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np

BLOCK = 10_000
PROJECT = 1


def chunk_sizes(folder: Path) -> dict[str, int]:
    return {p.name: p.stat().st_size for p in folder.glob("*.npz")} if folder.is_dir() else {}


class TextsKept:
    """What texts keep when added: their term counts (SMS texts, counted by the default text
    model's analysis); their features, that model's fitted on the SMS labels."""

    def __init__(self, root: Path, add: int) -> None:
        from loopwise.core.enums import InputKind
        from loopwise.datasets import load_sms_spam
        from loopwise.store.terms import TermStore
        from loopwise.training.features import model_features
        from loopwise.training.models import fit_model
        from loopwise.training.terms import analysis_key, count_terms

        sms = load_sms_spam()
        texts = [f"{sms.texts[i % len(sms)]} {i}" for i in range(BLOCK)]
        targets = [sms.labels[i % len(sms)] for i in range(BLOCK)]
        model = fit_model(None, InputKind.TEXT, texts, targets, sms.label_set)
        self.counted = {n: count_terms(model.estimator, [texts[:n]]) for n in sorted({BLOCK, add})}
        self.features = model_features(model, texts)
        key = analysis_key(model.estimator)
        assert key is not None
        self.key, self.store = key, TermStore(root)
        self.folder = self.store.store.folder(PROJECT, key)

    def append(self, ids: np.ndarray[Any, Any], count: int) -> None:
        counted = self.counted[count]
        self.store.append(PROJECT, self.key, ids, counted.counts, counted.terms)

    def load(self, wanted: np.ndarray[Any, Any] | None) -> np.ndarray[Any, Any]:
        blocks = self.store.load(PROJECT, self.key, wanted)
        return np.concatenate([b.ids for b in blocks]) if blocks else np.zeros(0, np.int64)


class TablesKept:
    """What table rows keep when added: their inputs, 20 standard Gaussian columns (as
    ``bench/pool_query.py``'s table); their features, the same numbers."""

    def __init__(self, root: Path, add: int) -> None:
        from loopwise.store.features import FeatureStore

        self.features = np.random.default_rng(0).standard_normal((BLOCK, 20))
        self.store = FeatureStore(root)
        self.folder = self.store.folder(PROJECT, "inputs")
        # a version whose load takes no ids reads the whole space, as its query did
        self.by_ids = "wanted" in inspect.signature(FeatureStore.load).parameters

    def append(self, ids: np.ndarray[Any, Any], count: int) -> None:
        self.store.append(PROJECT, "inputs", ids, self.features[:count])

    def load(self, wanted: np.ndarray[Any, Any] | None) -> np.ndarray[Any, Any]:
        if wanted is None or not self.by_ids:
            ids, _ = self.store.load(PROJECT, "inputs")
        else:
            ids, _ = self.store.load(PROJECT, "inputs", wanted)
        return ids


def summary(times: list[float]) -> dict[str, Any]:
    return {
        "median": round(statistics.median(times), 3),
        "max": round(max(times), 3),
        "total": round(sum(times), 2),
        "each": [round(t, 3) for t in times],
    }


def measure(args: argparse.Namespace) -> dict[str, Any]:
    """Steps 1 and 2 in this process, with whichever loopwise it imports, in a new temporary
    folder removed at the end."""
    root = Path(tempfile.mkdtemp(prefix="pool-store-"))
    try:
        return _measure(args, root)
    finally:
        shutil.rmtree(root, ignore_errors=True)


def _measure(args: argparse.Namespace, root: Path) -> dict[str, Any]:
    import loopwise
    from loopwise.store.features import FeatureStore

    features = FeatureStore(root)
    kept = (TextsKept if args.kind == "text" else TablesKept)(root, args.add)
    space = "model-1"
    next_id = 0

    def ids_of(count: int) -> np.ndarray[Any, Any]:
        nonlocal next_id
        ids = np.arange(next_id, next_id + count, dtype=np.int64)
        next_id += count
        return ids

    started = time.perf_counter()
    for _ in range(args.rows // BLOCK):
        ids = ids_of(BLOCK)
        kept.append(ids, BLOCK)
        features.append(PROJECT, space, ids, kept.features)
    kept.load(None)
    features.load(PROJECT, space)
    built_s = time.perf_counter() - started

    folders = (kept.folder, features.folder(PROJECT, space))
    times: list[float] = []
    kept_times: list[float] = []
    merged = 0
    waiting: list[np.ndarray[Any, Any]] = []
    for number in range(1, args.adds + 1):
        ids = ids_of(args.add)
        kept.append(ids, args.add)
        waiting.append(ids)
        if number % args.query_every:
            continue
        wanted = np.concatenate(waiting)
        waiting = []
        before = [chunk_sizes(folder) for folder in folders]
        started = time.perf_counter()
        found = kept.load(wanted)
        kept_times.append(time.perf_counter() - started)
        started = time.perf_counter()
        features.append(PROJECT, space, wanted, kept.features[np.arange(len(wanted)) % BLOCK])
        appended = time.perf_counter() - started
        before[1] = chunk_sizes(folders[1])  # the chunk just appended is not a merge's (untimed)
        started = time.perf_counter()
        stored_ids, _ = features.load(PROJECT, space)
        times.append(kept_times[-1] + appended + time.perf_counter() - started)
        assert np.isin(wanted, found).all()
        assert len(stored_ids) == next_id
        for folder, seen in zip(folders, before, strict=True):
            merged += sum(size for name, size in chunk_sizes(folder).items() if name not in seen)
    left = {"kept": len(chunk_sizes(folders[0])), "features": len(chunk_sizes(folders[1]))}
    return {
        "loopwise": str(Path(loopwise.__file__).parent),
        "kind": args.kind,
        "rows": args.rows,
        "built_s": round(built_s, 2),
        "queries": len(times),
        "query_s": summary(times),
        "kept_s": summary(kept_times),
        "merged_mb": round(merged / 2**20, 1),
        "chunks_left": left,
        "peak_rss_mb": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1),
    }


def child(args: argparse.Namespace, src: Path | None) -> dict[str, Any]:
    """:func:`measure` in a new process importing loopwise from ``src`` (else this one's)."""
    env = dict(os.environ)
    if src is not None:
        env["PYTHONPATH"] = str(src)
    argv = [sys.executable, __file__, "--child", *child_argv(args)]
    done = subprocess.run(argv, env=env, capture_output=True, text=True, check=False)
    if done.returncode:
        raise SystemExit(f"the run of {src or 'this checkout'} failed:\n{done.stderr}")
    result: dict[str, Any] = json.loads(done.stdout.strip().splitlines()[-1])
    return result


def child_argv(args: argparse.Namespace) -> list[str]:
    return [
        f"--kind={args.kind}",
        f"--rows={args.rows}",
        f"--add={args.add}",
        f"--adds={args.adds}",
        f"--query-every={args.query_every}",
    ]


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--kind", choices=("text", "table"), default="text")
    parser.add_argument("--rows", type=int, default=1_000_000, help="pool items to start with")
    parser.add_argument("--add", type=int, default=1_000, help="texts per add")
    parser.add_argument("--adds", type=int, default=330, help="adds after the pool is built")
    parser.add_argument("--query-every", type=int, default=10, help="adds between queries")
    parser.add_argument("--baseline-src", type=Path, default=None, help="src of a baseline")
    parser.add_argument("--json", type=Path, default=None, help="write the figures here")
    parser.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.rows < BLOCK or args.rows % BLOCK:
        parser.error(f"--rows must be a multiple of {BLOCK}")
    if not 0 < args.add <= BLOCK or args.add * args.query_every > BLOCK:
        parser.error(f"--add x --query-every must be at most {BLOCK}")
    if args.adds < args.query_every:
        parser.error("--adds must be at least --query-every")
    if args.child:
        print(json.dumps(measure(args)))
        return 0
    runs = {"loopwise": child(args, None)}
    if args.baseline_src is not None:
        runs["baseline"] = child(args, args.baseline_src.resolve())
    for name, run in runs.items():
        q, t = run["query_s"], run["kept_s"]
        print(
            f"{name:9} ({run['loopwise']}): {run['queries']} queries, s: median {q['median']}, "
            f"slowest {q['max']}, total {q['total']} (what new ones kept: median {t['median']}, "
            f"slowest {t['max']}, total {t['total']}); merges wrote {run['merged_mb']} MB; "
            f"peak RSS {run['peak_rss_mb']} MB; chunks left {run['chunks_left']}; "
            f"pool built in {run['built_s']} s"
        )
    if "baseline" in runs:
        new, old = runs["loopwise"], runs["baseline"]
        ratios = {
            "query_s_total": old["query_s"]["total"] / new["query_s"]["total"],
            "query_s_max": old["query_s"]["max"] / new["query_s"]["max"],
            "kept_s_total": old["kept_s"]["total"] / new["kept_s"]["total"],
            "kept_s_max": old["kept_s"]["max"] / new["kept_s"]["max"],
            "merged_mb": old["merged_mb"] / max(new["merged_mb"], 0.1),
        }
        runs["baseline_over_loopwise"] = {k: round(v, 2) for k, v in ratios.items()}
        print("baseline / loopwise:", runs["baseline_over_loopwise"])
    if args.json is not None:
        report = {
            "measured_at": datetime.now(UTC).isoformat(timespec="seconds"),
            "machine": {"cpus": os.cpu_count(), "processor": platform.processor()},
            "args": child_argv(args),
            **runs,
        }
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps(report, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
