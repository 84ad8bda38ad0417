"""Exporting labels with their provenance: ``Loopwise.export_labels`` right after a bulk import.

Run ``.venv/bin/python bench/export_labels.py [--backend sqlite|postgres|both]
[--postgres-url URL] [--rows 50000] [--json PATH]``.

Protocol
--------
1. **Seed.** A fresh database per backend (PostgreSQL: a new schema on ``--postgres-url``,
   dropped at the end, autovacuum as the server has it: off on the machine of the recorded
   figures; SQLite: a file in a temporary directory), a text project with no held-out share, and
   ``--rows`` labelled SMS texts (the bundled ones, cycled, each with a counter appended)
   imported with ``import_labels`` in batches of 5,000.
2. **Baseline, same run** (``baseline_s``): the export's pages read as ``export_labels`` reads
   them, without sampling the tables' statistics first, as it did before; on PostgreSQL the plan
   then rests on figures from before the import (or none).
3. **The export** (``export_s``): ``Loopwise.export_labels`` read to the end, its sampling of
   the tables that outgrew their statistics included.
4. **Again** (``export_sampled_s``): the median of 3 exports on the tables as step 3 left them.

Every run reads every label (``--rows`` rows), and the baseline and the export must give the
same rows.
"""

from __future__ import annotations

import os
import sys

# Run as ``python bench/export_labels.py``, this file's directory comes first on ``sys.path``,
# where ``bench/queue.py`` would shadow the standard library's ``queue`` (which scikit-learn
# imports).
if sys.path and os.path.abspath(sys.path[0]) == os.path.dirname(os.path.abspath(__file__)):
    sys.path.remove(sys.path[0])

import argparse
import json
import platform
import statistics
import time
from collections.abc import Iterator, Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from loopwise import Loopwise, Settings, TrainingConfig
from loopwise.datasets import load_sms_spam
from loopwise.services import labels
from loopwise.testing import scratch_database

DEFAULT_PG = "postgresql+psycopg://postgres@127.0.0.1:5432/test"
BATCH = 5_000
PAGE = 1_000


def rows_of(count: int) -> list[dict[str, Any]]:
    data = load_sms_spam()
    n = len(data.texts)
    return [
        {
            "external_id": f"l{i}",
            "payload": f"{data.texts[i % n]} {i}",
            "label": data.labels[i % n],
        }
        for i in range(count)
    ]


def unsampled(lw: Loopwise, project: str) -> Iterator[dict[str, Any]]:
    """The export's pages without :func:`loopwise.store.db.fresh_statistics` first."""
    after = 0
    while True:
        rows, after = labels._export_page(lw.ctx, project, after, PAGE)
        if not rows:
            return
        yield from rows


def timed(rows: Iterator[dict[str, Any]]) -> tuple[float, list[str]]:
    began = time.perf_counter()
    ids = [row["external_id"] for row in rows]
    return time.perf_counter() - began, ids


def run(backend: str, args: argparse.Namespace) -> dict[str, Any]:
    with scratch_database(backend, args.postgres_url, "bench_export") as (url, directory):
        lw = Loopwise(Settings(database_url=url, data_dir=directory))
        no_holdout = TrainingConfig(holdout_share=0.0, golden_share=0.0)
        lw.create_project("export", ["ham", "spam"], training=no_holdout)
        rows = rows_of(args.rows)
        for start in range(0, len(rows), BATCH):
            lw.import_labels("export", rows[start : start + BATCH])
        baseline, before = timed(unsampled(lw, "export"))
        export, after = timed(iter(lw.export_labels("export")))
        again = [timed(iter(lw.export_labels("export")))[0] for _ in range(3)]
        lw.close()
    assert before == after == [row["external_id"] for row in rows], "the exports differ"
    out = {
        "backend": backend,
        "rows": args.rows,
        "baseline_s": round(baseline, 3),
        "export_s": round(export, 3),
        "export_sampled_s": round(statistics.median(again), 3),
        "baseline_over_export": round(baseline / export, 2),
    }
    print(
        f"{backend:>8}: {args.rows:,} labels exported in {out['export_s']:.2f} s, sampling "
        f"included ({args.rows / export:,.0f} rows/s); {out['export_sampled_s']:.2f} s once "
        f"sampled; the baseline without sampling {out['baseline_s']:.2f} s "
        f"({out['baseline_over_export']:.2f}x)",
        flush=True,
    )
    return out


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--backend", choices=("sqlite", "postgres", "both"), default="both")
    parser.add_argument("--postgres-url", default=os.environ.get("LOOPWISE_BENCH_PG", DEFAULT_PG))
    parser.add_argument("--rows", type=int, default=50_000, help="labels to import and export")
    parser.add_argument("--json", type=Path, default=None, help="write the figures here")
    args = parser.parse_args(argv)
    backends = ("sqlite", "postgres") if args.backend == "both" else (args.backend,)
    results = [run(backend, args) for backend in backends]
    if args.json is not None:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        machine = {
            "cpus": os.cpu_count(),
            "python": platform.python_version(),
            "processor": platform.processor() or platform.machine(),
        }
        report = {
            "measured_at": datetime.now(UTC).isoformat(timespec="seconds"),
            "machine": machine,
            "results": results,
        }
        args.json.write_text(json.dumps(report, indent=2) + "\n", encoding="utf-8")
        print(f"wrote {args.json}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
