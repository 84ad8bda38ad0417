"""k-center greedy (``coreset``) with many labelled and waiting rows: most rows measured against
a sample of them, against measuring every row against all of them.

Run ``.venv/bin/python bench/kcenter.py [--texts sms_spam] [--cases dense,text] [--json PATH]``.

Protocol: 100 picks by :func:`~loopwise.active_learning.diversity.k_center_greedy` from a pool
of 100,000 rows, with 1,000 labelled rows and 0, 1,000 and 5,000 rows waiting for a label (all
of them count as covered, as ``coreset`` passes them), in two cases: ``dense``, the Gaussian
100,000 x 50 pool of ``bench/active_learning.py``'s speed figures (the same seeds); ``text``,
100,000 SMS texts drawn with replacement from the bundled 5,160 as TF-IDF rows, with labelled
and waiting texts drawn the same way (``--texts trec_questions``: the bundled TREC questions
instead, drawn the same way; ``--cases`` runs only some of the two). The baseline, measured
in the same run, is ``k_center_greedy`` as it was at ``46d0999``, line for line (``full_pass``
with ``nearest_at_46d0999`` below): every row measured against every labelled and waiting row
first, sparse rows all at once against a block of references at a time. ``full_pass_seconds``
is the same full pass with today's blocks (rows a block at a time), to tell the two changes
apart. The picks are checked equal. Seconds: median of 5 runs after a warm-up, one thread (as
``bench/active_learning.py``'s speed figures).

``--samples 128,256,512,1000`` times only today's ``k_center_greedy``, once with each sample size
(``geometry.sample_size`` replaced), and writes ``cases -> dense / text -> "pending_<p>" ->
"<size>" -> {seconds, rows_measured}``.

``--json PATH`` writes ``cases -> dense / text -> "pending_<p>" -> {seconds,
baseline_seconds, full_pass_seconds, same_picks, rows_measured}`` (``rows_measured``: rows
measured against every labelled and waiting row, out of 100,000).
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
from scipy import sparse
from sklearn.feature_extraction.text import TfidfVectorizer

from loopwise.active_learning import geometry
from loopwise.active_learning.diversity import k_center_greedy
from loopwise.active_learning.geometry import (
    CHUNK_CELLS,
    FarthestRow,
    NearestCentre,
    as_rows,
    min_squared_distances,
    same_kind,
    squared_norms,
)
from loopwise.datasets import load_sms_spam, load_trec_questions

N, POOL, LABELLED, WAITING = 100, 100_000, 1_000, (0, 1_000, 5_000)


def nearest_at_46d0999(rows: Any, norms: Any, references: Any) -> Any:
    """``min_squared_distances`` as it was at ``46d0999``: sparse rows all at once against a
    block of references at a time, line for line (dense rows are taken as they still are)."""
    n, m = rows.shape[0], references.shape[0]
    if not sparse.issparse(rows) or m == 0:
        return min_squared_distances(rows, norms, references)
    ref_norms = squared_norms(references)
    best = np.full(n, np.inf)
    step = max(1, CHUNK_CELLS // max(n, 1))
    for start in range(0, m, step):
        block = references[start : start + step]
        products = np.asarray((rows @ block.T).toarray())
        dist = norms[:, None] + ref_norms[None, start : start + step] - 2.0 * products
        best = np.minimum(best, dist.min(axis=1))
    return np.maximum(best, 0.0)


def full_pass(
    rows: Any,
    n: int,
    rng: np.random.Generator,
    *,
    labelled: Any = None,
    nearest_of: Callable[[Any, Any, Any], Any] = min_squared_distances,
) -> Any:
    """``k_center_greedy`` as it was at ``46d0999``, line for line (``chosen`` left out: the
    benchmark never passes it), finding each row's nearest labelled row with ``nearest_of``."""
    total = rows.shape[0]
    norms = squared_norms(rows)
    nearest = np.full(total, np.inf)
    if labelled is not None and labelled.shape[0]:
        nearest = nearest_of(rows, norms, same_kind(labelled, rows))
    centres = NearestCentre(rows, norms, nearest)
    cold = bool(np.isinf(nearest).all())
    picks = np.empty(n, dtype=np.int64)
    for step in range(n):
        pick = int(rng.integers(total)) if cold and step == 0 else int(np.argmax(nearest))
        picks[step] = pick
        centres.add(pick)
        nearest[pick] = -1.0
    return picks


def median_seconds(run: Callable[[], Any]) -> float:
    run()
    times = []
    for _ in range(5):
        started = time.perf_counter()
        run()
        times.append(time.perf_counter() - started)
    return float(np.median(times))


def measured_rows(rows: Any, known: Any, sample: int | None = None) -> tuple[int, Any]:
    """The rows measured against every labelled and waiting row while taking the picks, and
    the picks: ``k_center_greedy``'s loop (never cold here) with its
    :class:`~loopwise.active_learning.geometry.FarthestRow` kept to read its count."""
    norms = squared_norms(rows)
    farthest = FarthestRow(rows, norms, known, sample=sample)
    centres = NearestCentre(rows, norms, farthest.nearest)
    picks = []
    for _ in range(N):
        picks.append(farthest.farthest())
        centres.add(picks[-1])
        farthest.exclude(picks[-1])
    return farthest.measured, np.asarray(picks)


def sample_sizes(rows: Any, known: Any, sizes: Sequence[int]) -> dict[str, Any]:
    """``size -> {seconds, rows_measured}`` of today's ``k_center_greedy`` with samples of
    ``sizes`` labelled and waiting rows (``geometry.sample_size`` replaced for each in turn)."""
    figures: dict[str, Any] = {}
    default = geometry.sample_size
    try:
        for size in sizes:
            geometry.sample_size = partial(fixed_size, size)
            run = partial(k_center_greedy, rows, N, np.random.default_rng(0), labelled=known)
            figures[str(size)] = {
                "seconds": round(median_seconds(run), 4),
                "rows_measured": measured_rows(rows, known, sample=size)[0],
            }
    finally:
        geometry.sample_size = default
    return figures


def fixed_size(size: int, references: int, sparse_rows: bool) -> int:
    """``size``, whatever the references and rows (``--samples``)."""
    return size


TEXTS = {"sms_spam": load_sms_spam, "trec_questions": load_trec_questions}


def cases(text_set: str = "sms_spam") -> dict[str, tuple[Any, Any, Any]]:
    """``case -> (pool rows, labelled rows, waiting rows)``; the text case's from ``text_set``."""
    rng = np.random.default_rng(7)
    rng.standard_normal((50, 2))  # bench/active_learning.py's synthetic(): weights, then pool
    pool = rng.standard_normal((POOL, 50))
    labelled = rng.standard_normal((2000, 50))[:LABELLED]
    waiting = np.random.default_rng(11).standard_normal((max(WAITING), 50))
    texts = list(TEXTS[text_set]().texts)
    draw = np.random.default_rng(0)
    vectorizer = TfidfVectorizer(sublinear_tf=True).fit(texts)

    def tfidf(count: int) -> Any:
        return vectorizer.transform([texts[i] for i in draw.integers(0, len(texts), count)])

    return {
        "dense": (pool, labelled, waiting),
        "text": (tfidf(POOL).tocsr(), tfidf(LABELLED).tocsr(), tfidf(max(WAITING)).tocsr()),
    }


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--json", type=Path, default=None, help="write the figures here")
    parser.add_argument(
        "--samples",
        default=None,
        help="comma-separated sample sizes: time only today's k-center greedy with each",
    )
    parser.add_argument("--texts", choices=sorted(TEXTS), default="sms_spam")
    parser.add_argument("--cases", default="dense,text", help="comma-separated: dense, text")
    args = parser.parse_args(argv)
    chosen = {c.strip() for c in args.cases.split(",")}
    if unknown := sorted(chosen - {"dense", "text"}):
        parser.error(f"unknown cases {unknown}; choose from dense, text")
    out: dict[str, Any] = {}
    for case, (pool, labelled, waiting) in cases(args.texts).items():
        if case not in chosen:
            continue
        rows = as_rows(pool)
        out[case] = {}
        for size in WAITING:
            parts = [labelled, waiting[:size]] if size else [labelled]
            known = (
                sparse.vstack(parts, format="csr") if sparse.issparse(rows) else np.vstack(parts)
            )
            known = same_kind(known, rows)
            if args.samples is not None:
                out[case][f"pending_{size}"] = sample_sizes(
                    rows, known, [int(s) for s in args.samples.split(",")]
                )
                print(f"{case}, {size:,} waiting: {out[case][f'pending_{size}']}", flush=True)
                continue
            picks = k_center_greedy(rows, N, np.random.default_rng(0), labelled=known)
            runs = {
                "seconds": partial(k_center_greedy, labelled=known),
                "baseline_seconds": partial(
                    full_pass, labelled=known, nearest_of=nearest_at_46d0999
                ),
                "full_pass_seconds": partial(full_pass, labelled=known),
            }
            figures: dict[str, Any] = {}
            same = True
            for key, run in runs.items():
                same = same and bool(np.array_equal(picks, run(rows, N, np.random.default_rng(0))))
                figures[key] = round(
                    median_seconds(partial(run, rows, N, np.random.default_rng(0))), 4
                )
            measured, loop_picks = measured_rows(rows, known)
            figures["same_picks"] = same and bool(np.array_equal(picks, loop_picks))
            figures["rows_measured"] = measured
            out[case][f"pending_{size}"] = figures
            seconds, baseline = figures["seconds"], figures["baseline_seconds"]
            print(
                f"{case}, {LABELLED:,} labelled, {size:,} waiting: {seconds:.3f} s against "
                f"{baseline:.3f} s at 46d0999 ({baseline / seconds:.2f}x) and "
                f"{figures['full_pass_seconds']:.3f} s measuring every row against all with "
                f"today's blocks; {measured:,} rows measured against all; "
                f"same picks: {figures['same_picks']}",
                flush=True,
            )
    if args.json is not None:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        record = {
            "command": shlex.join(
                [".venv/bin/python", "bench/kcenter.py", *(argv or sys.argv[1:])]
            ),
            "when": datetime.now(UTC).isoformat(timespec="seconds"),
            "machine": {"cores": os.cpu_count(), "python": platform.python_version()},
            "texts": args.texts,
            "cases": out,
        }
        args.json.write_text(json.dumps(record, indent=1) + "\n", encoding="utf-8")
        print(f"wrote {args.json}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
