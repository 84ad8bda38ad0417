"""``margin_diverse``'s walk with items waiting for a label: compared as far as it goes, against
comparing the whole shortlist first.

Run ``.venv/bin/python bench/diverse_walk.py [--json PATH]``.

Protocol: 100,000 SMS texts drawn with replacement from the bundled 5,160, as TF-IDF rows (the
pool), random scores; :func:`~loopwise.active_learning.wrappers.diverse_top` of 90 (a batch of
100 with ``default``'s 10% exploration) with 0, 1,000 and 5,000 waiting texts, in two cases:
``random`` (waiting texts drawn like the pool) and ``copies`` (the waiting texts are those of
the best-scored candidates, so nearly the whole shortlist repeats them and the walk has to
compare it all). The baseline, measured in the same run, is the walk as it was before
``3e7c053``: every shortlisted row compared with every waiting row first (``eager`` below, the
same picks). Seconds: median of 5 runs after a warm-up, one thread.

``--json PATH`` writes ``cases -> random / copies -> "pending_<p>" -> {seconds,
baseline_seconds, same_picks}``.
"""

from __future__ import annotations

import os
import sys

if sys.path and os.path.abspath(sys.path[0]) == os.path.dirname(os.path.abspath(__file__)):
    sys.path.remove(sys.path[0])  # bench/queue.py would shadow the standard library's queue
os.environ["OMP_NUM_THREADS"] = "1"
os.environ["OPENBLAS_NUM_THREADS"] = "1"

import argparse
import json
import platform
import shlex
import time
from collections.abc import Callable, Sequence
from datetime import UTC, datetime
from functools import partial
from pathlib import Path
from typing import Any

import numpy as np
from sklearn.feature_extraction.text import TfidfVectorizer

from loopwise.active_learning.base import top
from loopwise.active_learning.geometry import dot, row, take, unit_rows
from loopwise.active_learning.wrappers import diverse_top, nearest_similarity
from loopwise.datasets import load_sms_spam

N, POOL, WAITING = 90, 100_000, (0, 1_000, 5_000)


def eager(scores: Any, features: Any, n: int, pending: Any) -> Any:
    """``diverse_top`` as it was at ``65e5406``, line for line: the whole shortlist against every
    waiting row first, then the walk."""
    shortlist = top(scores, min(len(scores), 10 * n))
    unit = unit_rows(take(features, shortlist))
    closest = np.full(len(shortlist), -np.inf)
    if pending is not None and pending.shape[0]:
        closest = nearest_similarity(unit, unit_rows(pending))
    accepted: list[int] = []
    start = 0
    while len(accepted) < n:
        passing = np.flatnonzero(closest[start:] < 0.95)
        if passing.size == 0:
            break
        i = start + int(passing[0])
        accepted.append(i)
        closest = np.maximum(closest, dot(unit, row(unit, i)))
        start = i + 1
    if len(accepted) < n:
        skipped = np.ones(len(shortlist), dtype=bool)
        skipped[accepted] = False
        accepted.extend(np.flatnonzero(skipped)[: n - len(accepted)].tolist())
    return shortlist[accepted]


def median_seconds(run: Callable[[], Any]) -> float:
    run()
    times = []
    for _ in range(5):
        started = time.perf_counter()
        run()
        times.append(time.perf_counter() - started)
    return float(np.median(times))


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--json", type=Path, default=None, help="write the figures here")
    args = parser.parse_args(argv)
    texts = list(load_sms_spam().texts)
    rng = np.random.default_rng(0)
    drawn = rng.integers(0, len(texts), POOL)
    vectorizer = TfidfVectorizer(sublinear_tf=True).fit(texts)
    features = vectorizer.transform([texts[i] for i in drawn]).tocsr()
    scores = rng.random(POOL)
    best = np.argsort(-scores)
    out: dict[str, Any] = {}
    for case in ("random", "copies"):
        out[case] = {}
        for size in WAITING:
            chosen = rng.integers(0, len(texts), size) if case == "random" else drawn[best[:size]]
            pending = vectorizer.transform([texts[i] for i in chosen]).tocsr() if size else None
            picks = diverse_top(scores, features, N, pending=pending)
            same = bool(np.array_equal(picks, eager(scores, features, N, pending)))
            seconds = median_seconds(partial(diverse_top, scores, features, N, pending=pending))
            baseline = median_seconds(partial(eager, scores, features, N, pending))
            out[case][f"pending_{size}"] = {
                "seconds": round(seconds, 4),
                "baseline_seconds": round(baseline, 4),
                "same_picks": same,
            }
            print(
                f"{case}, {size:,} waiting: {seconds:.4f} s against {baseline:.4f} s comparing "
                f"the whole shortlist first ({baseline / seconds:.2f}x); same picks: {same}"
            )
    if args.json is not None:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        record = {
            "command": shlex.join(
                [".venv/bin/python", "bench/diverse_walk.py", *(argv or sys.argv[1:])]
            ),
            "when": datetime.now(UTC).isoformat(timespec="seconds"),
            "machine": {"cores": os.cpu_count(), "python": platform.python_version()},
            "cases": out,
        }
        args.json.write_text(json.dumps(record, indent=1) + "\n", encoding="utf-8")
        print(f"wrote {args.json}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
