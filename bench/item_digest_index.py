"""The items' payload index (migration 0012): what it costs an ingest, and what it saves a query.

Run ``.venv/bin/python bench/item_digest_index.py [--backend sqlite|postgres|both]
[--postgres-url URL] [--rows 1000000] [--seen-share 1.0] [--pool 0] [--json PATH]``.

Protocol, per backend: two fresh databases (PostgreSQL: schemas on ``--postgres-url``; SQLite:
files, WAL), each with one text project. One stays at the head revision, with the index on
``item (project_id, payload_sha256)`` (``indexed``); the other is downgraded to
``0011_pool_chosen_index``, the schema before it (``unindexed``: the baseline, same run).
``--rows`` item rows are written into each in batches of 1,000 by ``Repository.insert_many``
(what an ingest uses; ``COPY`` on PostgreSQL), one transaction a batch, the two databases taking
turns batch by batch so both see the same machine. Each payload is a distinct text and its
digest its real SHA-256, so the index's entries land all over it, as a real ingest's do. The
index holds only items people see (queued or resolved): ``--seen-share`` of the rows, spread
evenly, are ``queued`` (routed to people), the rest ``decided`` (by the model alone); 1.0 is
the worst case, a project whose every item goes to people.

Figures per variant: ``us_per_row`` (wall time of the inserts over all rows), the same over the
first and the last 10% of the rows (``first_tenth``, ``last_tenth``: the index's cost grows
with its size), and ``probe_ms``: :func:`loopwise.store.pool.items_holding` asked for 100
digests (50 held, 50 not), as a pool query asks for its picks, after the statistics it
refreshes first (``fresh_pool_statistics``; median of 5). With ``--pool N``, then N unchosen
candidates are added, every 100th repeating an item people see, and ``screen_s`` is the time of
:func:`~loopwise.store.pool.repeating_candidates` (the whole pool against the items, what a query
does once its picks hold a repeat; median of 3), in the indexed database only: SQLite's
statement names the index, and its planner, left to choose, read every item people see for each
candidate. Printed, and
written with ``--json`` as ``{backend: {"indexed": {...}, "unindexed": {...},
"extra_us_per_row": ..., "extra_us_per_row_last_tenth": ...}}``.
"""

from __future__ import annotations

import os
import sys

if sys.path and os.path.abspath(sys.path[0]) == os.path.dirname(os.path.abspath(__file__)):
    sys.path.remove(sys.path[0])  # bench/queue.py would shadow the standard library's queue

import argparse
import contextlib
import hashlib
import json
import platform
import statistics
import time
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from alembic import command

from loopwise import Loopwise, Settings
from loopwise.core.payloads import payload_digest
from loopwise.store.db import alembic_config
from loopwise.store.pool import fresh_pool_statistics, items_holding, repeating_candidates
from loopwise.store.tables import ItemRow, PoolItemRow
from loopwise.testing import scratch_database

DEFAULT_PG = "postgresql+psycopg://postgres@127.0.0.1:5432/test"
BEFORE = "0011_pool_chosen_index"
BATCH = 1_000


class Target:
    """One database with a project, and the next item rows to write into it."""

    def __init__(self, url: str, directory: Path, *, indexed: bool, seen_share: float) -> None:
        self.seen_share = seen_share
        self.lw = Loopwise(Settings(database_url=url, data_dir=directory))
        self.project_id = self.lw.create_project("p", ["a", "b"]).id
        if not indexed:
            engine = self.lw.ctx.engine
            config = alembic_config(engine)
            with engine.begin() as conn:
                config.attributes["connection"] = conn
                command.downgrade(config, BEFORE)
        self.count = 0
        self.walls: list[float] = []

    def batch(self) -> None:
        now = datetime.now(UTC)
        start, self.count = self.count, self.count + BATCH
        rows = []
        for i in range(start, start + BATCH):
            payload = {"text": text_of(i)}
            rows.append(
                {
                    "project_id": self.project_id,
                    "external_id": f"x-{i}",
                    "payload": payload,
                    "payload_sha256": payload_digest(payload),
                    "meta": {},
                    "status": "queued" if self.seen(i) else "decided",
                    "created_at": now,
                    "updated_at": now,
                }
            )
        t0 = time.perf_counter()
        with self.lw.ctx.write() as tx:
            tx.repo.insert_many(ItemRow, rows)
        self.walls.append(time.perf_counter() - t0)

    def seen(self, i: int) -> bool:
        return int(i * self.seen_share) != int((i + 1) * self.seen_share)

    def probe_ms(self) -> float:
        seen = [i for i in range(self.count) if self.seen(i)]
        held = [payload_digest({"text": text_of(i)}) for i in seen[:: max(1, len(seen) // 50)]]
        fresh_pool_statistics(self.lw.ctx.engine)
        absent = [hashlib.sha256(f"absent {i}".encode()).hexdigest() for i in range(50)]
        digests = (held[:50] + absent)[:100]
        times = []
        for _ in range(5):
            t0 = time.perf_counter()
            with self.lw.ctx.read() as tx:
                found = items_holding(tx.session, self.project_id, digests)
            times.append(time.perf_counter() - t0)
        assert len(found) == 50, len(found)
        return round(statistics.median(times) * 1000, 2)

    def add_pool(self, n: int) -> int:
        """``n`` unchosen candidates, every 100th the text of an item people see (the rest
        new texts); how many repeat one."""
        seen = [i for i in range(self.count) if self.seen(i)]
        repeats = 0
        now = datetime.now(UTC)
        for start in range(0, n, 10_000):
            rows = []
            for j in range(start, min(n, start + 10_000)):
                repeat = j % 100 == 0 and j // 100 < len(seen)
                repeats += repeat
                payload = {"text": text_of(seen[j // 100]) if repeat else f"unlabelled {j}"}
                rows.append(
                    {
                        "project_id": self.project_id,
                        "external_id": f"c-{j}",
                        "payload": payload,
                        "payload_sha256": payload_digest(payload),
                        "meta": {},
                        "created_at": now,
                    }
                )
            with self.lw.ctx.write() as tx:
                tx.repo.insert_many(PoolItemRow, rows)
        return repeats

    def screen_s(self, expected: int) -> float:
        """Median of 3 of :func:`~loopwise.store.pool.repeating_candidates`, the whole pool
        against the items, after the statistics a query refreshes first."""
        fresh_pool_statistics(self.lw.ctx.engine)
        times = []
        for _ in range(3):
            t0 = time.perf_counter()
            with self.lw.ctx.read() as tx:
                found = repeating_candidates(tx.session, self.project_id)
            times.append(time.perf_counter() - t0)
        assert len(found) == expected, (len(found), expected)
        return round(statistics.median(times), 3)

    def figures(self) -> dict[str, float]:
        tenth = max(1, len(self.walls) // 10)
        per_row = 1e6 / BATCH
        return {
            "us_per_row": round(sum(self.walls) / len(self.walls) * per_row, 1),
            "first_tenth_us_per_row": round(statistics.mean(self.walls[:tenth]) * per_row, 1),
            "last_tenth_us_per_row": round(statistics.mean(self.walls[-tenth:]) * per_row, 1),
            "probe_ms": self.probe_ms(),
        }


def text_of(i: int) -> str:
    return f"a text a client sent, number {i}"


@contextlib.contextmanager
def targets(backend: str, url: str, seen_share: float) -> Iterator[dict[str, Target]]:
    with (
        scratch_database(backend, url, "bench-digest") as (head_url, head_dir),
        scratch_database(backend, url, "bench-digest") as (old_url, old_dir),
    ):
        made = {
            "indexed": Target(head_url, head_dir, indexed=True, seen_share=seen_share),
            "unindexed": Target(old_url, old_dir, indexed=False, seen_share=seen_share),
        }
        try:
            yield made
        finally:
            for target in made.values():
                target.lw.close()


def run(backend: str, args: argparse.Namespace) -> dict[str, Any]:
    with targets(backend, args.postgres_url, args.seen_share) as made:
        batches = args.rows // BATCH
        for b in range(batches):
            for target in made.values():
                target.batch()
            if (b + 1) % (batches // 10 or 1) == 0:
                print(f"  {backend}: {(b + 1) * BATCH:,} rows each", file=sys.stderr)
        out: dict[str, Any] = {name: t.figures() for name, t in made.items()}
        if args.pool:  # without the index there is no plan worth timing (see the docstring)
            target = made["indexed"]
            out["indexed"]["screen_s"] = target.screen_s(target.add_pool(args.pool))
    with_, without = out["indexed"], out["unindexed"]
    out["extra_us_per_row"] = round(with_["us_per_row"] - without["us_per_row"], 1)
    out["extra_us_per_row_last_tenth"] = round(
        with_["last_tenth_us_per_row"] - without["last_tenth_us_per_row"], 1
    )
    return out


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--backend", choices=("sqlite", "postgres", "both"), default="both")
    parser.add_argument("--postgres-url", default=os.environ.get("LOOPWISE_BENCH_PG", DEFAULT_PG))
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--seen-share", type=float, default=1.0, help="share routed to people")
    parser.add_argument("--pool", type=int, default=0, help="then time a screen of this many")
    parser.add_argument("--json", type=Path, default=None)
    args = parser.parse_args()
    backends = ("sqlite", "postgres") if args.backend == "both" else (args.backend,)
    results: dict[str, Any] = {
        "machine": {"cpus": os.cpu_count(), "python": platform.python_version()},
        "rows": args.rows,
        "seen_share": args.seen_share,
        "pool": args.pool,
    }
    for backend in backends:
        results[backend] = found = run(backend, args)
        for name in ("indexed", "unindexed"):
            f = found[name]
            print(
                f"{backend:8s} {name:9s} {f['us_per_row']:6.1f} µs/row "
                f"(first tenth {f['first_tenth_us_per_row']:.1f}, "
                f"last {f['last_tenth_us_per_row']:.1f})"
                f"  probe of 100 digests {f['probe_ms']:.2f} ms"
                + (
                    f"  screen of {args.pool:,} candidates {f['screen_s']:.2f} s"
                    if "screen_s" in f
                    else ""
                )
            )
        print(
            f"{backend:8s} the index adds {found['extra_us_per_row']:.1f} µs/row "
            f"({found['extra_us_per_row_last_tenth']:.1f} over the last tenth)"
        )
    if args.json is not None:
        args.json.write_text(json.dumps(results, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
