"""Ingest benchmark: ``Loopwise.submit`` throughput and latency with a production model.

Run ``.venv/bin/python bench/ingest.py [--backend sqlite|postgres|both] [--postgres-url URL]
[--batches 8] [--singles 400] [--json PATH]``.

Protocol
--------
1. **Seed.** A fresh database per backend (PostgreSQL: a new schema on ``--postgres-url``,
   dropped at the end; SQLite: a file in a temporary directory, WAL). One project on the bundled
   SMS spam data with the default routing policy (fixed 0.9 threshold on temperature-calibrated
   confidence, kNN out-of-distribution check); 300 labelled texts imported, the default model
   (TF-IDF + logistic regression) trained and promoted, so every item is predicted.
2. **Items.** The SMS texts in order, cycled, each with a counter appended: every item is new
   (new external id, new text). One warm-up batch of 10.
3. **Batches.** ``--batches`` batches of 1,000 then of 100 items. ``items_per_s`` is the median
   of size / wall time of one ``submit``. ``client_us_per_item`` is this process's CPU time
   (``time.process_time``); on PostgreSQL ``server_us_per_item`` is the CPU time of the
   connection's backend process (``/proc/<pid>/stat``; the server must run on this machine).
   On a busy machine wall time suffers first; the CPU figures move less.
4. **Single items.** ``--singles`` submits of one item each: p50 and p99 latency (wall).
5. **Duplicates.** The first 1,000 items submitted again (a client retrying a batch): all
   reported as duplicates, nothing written.

``OMP_NUM_THREADS`` and ``OPENBLAS_NUM_THREADS`` are 1, as in the other benchmarks.
"""

from __future__ import annotations

import os
import sys

# Run as ``python bench/ingest.py``, this file's directory comes first on ``sys.path``, where
# ``bench/queue.py`` would shadow the standard library's ``queue`` (which scikit-learn imports).
if sys.path and os.path.abspath(sys.path[0]) == os.path.dirname(os.path.abspath(__file__)):
    sys.path.remove(sys.path[0])
os.environ["OMP_NUM_THREADS"] = "1"
os.environ["OPENBLAS_NUM_THREADS"] = "1"
os.environ["MKL_NUM_THREADS"] = "1"

import argparse
import json
import platform
import statistics
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from sqlalchemy import event

from loopwise import Loopwise, Settings
from loopwise.datasets import load_sms_spam
from loopwise.testing import scratch_database

DEFAULT_PG = "postgresql+psycopg://postgres@127.0.0.1:5432/test"


class Backends:
    """The PostgreSQL backend processes serving a ``Loopwise``'s connections, and their CPU."""

    def __init__(self, lw: Loopwise) -> None:
        self.pids: set[int] = set()
        if lw.ctx.engine.dialect.name != "postgresql":
            return

        @event.listens_for(lw.ctx.engine, "connect")
        def _remember(dbapi_connection: Any, _record: Any) -> None:
            cursor = dbapi_connection.cursor()
            cursor.execute("SELECT pg_backend_pid()")
            self.pids.add(int(cursor.fetchone()[0]))
            cursor.close()

        lw.ctx.engine.dispose()  # reconnect, so the listener sees every connection

    def cpu(self) -> float:
        total = 0.0
        for pid in list(self.pids):
            try:
                fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
            except FileNotFoundError:
                continue
            total += (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
        return total


def run(backend: str, args: argparse.Namespace) -> dict[str, Any]:
    data = load_sms_spam()
    texts = data.texts
    with scratch_database(backend, args.postgres_url, "bench_ingest") as (url, directory):
        lw = Loopwise(Settings(database_url=url, data_dir=directory))
        lw.create_project("sms", list(data.label_set))
        lw.import_labels(
            "sms",
            [
                {"external_id": f"seed-{i}", "payload": texts[i], "label": data.labels[i]}
                for i in range(300)
            ],
        )
        lw.train("sms")
        lw.promote("sms")
        backends = Backends(lw)
        counter = 0

        def items(n: int) -> list[dict[str, Any]]:
            nonlocal counter
            made = [
                {
                    "external_id": f"x{counter + i}",
                    "payload": f"{texts[(counter + i) % len(texts)]} {counter + i}",
                }
                for i in range(n)
            ]
            counter += n
            return made

        lw.submit("sms", items(10))
        out: dict[str, Any] = {"backend": backend}
        for size in (1000, 100):
            walls, client, server = [], 0.0, 0.0
            for _ in range(args.batches):
                batch = items(size)
                w0, c0, s0 = time.perf_counter(), time.process_time(), backends.cpu()
                lw.submit("sms", batch)
                walls.append(time.perf_counter() - w0)
                client += time.process_time() - c0
                server += backends.cpu() - s0
            count = size * args.batches
            out[f"batch_{size}"] = {
                "items_per_s": round(size / statistics.median(walls)),
                "best_items_per_s": round(size / min(walls)),
                "client_us_per_item": round(client / count * 1e6),
                "server_us_per_item": round(server / count * 1e6) if backends.pids else None,
            }
        latencies = []
        for _ in range(args.singles):
            one = items(1)
            w0 = time.perf_counter()
            lw.submit("sms", one)
            latencies.append((time.perf_counter() - w0) * 1000)
        latencies.sort()
        out["single"] = {
            "p50_ms": round(latencies[len(latencies) // 2], 2),
            "p99_ms": round(latencies[min(len(latencies) - 1, int(len(latencies) * 0.99))], 2),
        }
        again = [
            {"external_id": f"x{i}", "payload": f"{texts[i % len(texts)]} {i}"} for i in range(1000)
        ]
        w0 = time.perf_counter()
        routed = lw.submit("sms", again)
        wall = time.perf_counter() - w0
        assert all(r.duplicate for r in routed)
        out["duplicates_1000"] = {"items_per_s": round(1000 / wall)}
        lw.close()
        return out


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--backend", choices=("sqlite", "postgres", "both"), default="both")
    parser.add_argument("--postgres-url", default=os.environ.get("LOOPWISE_BENCH_PG", DEFAULT_PG))
    parser.add_argument("--batches", type=int, default=8, help="batches of each size")
    parser.add_argument("--singles", type=int, default=400, help="one-item submits")
    parser.add_argument("--json", type=Path, default=None, help="write the figures here")
    args = parser.parse_args(argv)
    backends = ["sqlite", "postgres"] if args.backend == "both" else [args.backend]
    results = {
        "machine": {"python": platform.python_version(), "cpus": os.cpu_count()},
        "runs": [run(backend, args) for backend in backends],
    }
    print(json.dumps(results, indent=2))
    if args.json is not None:
        args.json.write_text(json.dumps(results, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
