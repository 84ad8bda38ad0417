"""Removing candidates from the active-learning pool: ``Loopwise.remove_from_pool``.

Run ``.venv/bin/python bench/pool_remove.py [--backend sqlite|postgres|both]
[--postgres-url URL] [--rows 100000] [--json PATH]``.

Protocol
--------
1. **Seed.** A fresh database per backend (PostgreSQL: a new schema on ``--postgres-url``,
   dropped at the end; SQLite: a file in a temporary directory), a text project with no model,
   and ``--rows`` candidates (the bundled SMS texts, cycled, each with a counter appended): half
   with external ids, a fifth without (named by their payloads), a tenth with random ids (as
   candidates added without an id before they were named by their payloads), a fifth with ids
   again; added with ``add_to_pool`` in batches of 5,000. **Baseline, same run** (``add_s``):
   that add, the work a removal undoes.
2. **List** (``list_s``): every waiting candidate read a page of 1,000 at a time
   (``Loopwise.pool_candidates``), as ``loopwise pool list --output`` reads them; 1,000
   candidates are queried first, so the waiting are the pool less those items.
   **Status and pages** (``status_s``; ``chosen_page_s``, ``all_page_s``): then
   ``Loopwise.pool_status`` (what the web UI's pool pages, ``GET .../pool`` and ``loopwise pool
   status`` show), and the first page of 50 chosen and of 50 of all candidates (the web UI's
   page size); each the median of 3.
3. **By external id** (``by_id_s``): the half's ids named in batches of 5,000, as
   ``loopwise pool remove FILE`` sends the rows of the file that added them.
4. **By payload** (``by_payload_s``): the fifth added without ids, named by payload alone in
   batches of 5,000; found through the pool's unique index of external ids.
5. **By payload, random ids** (``by_digest_s``): the tenth, named by payload in batches of
   5,000; found by the payload's digest, a read of the project's pool per batch.
6. **Everything** (``everything_s``): the fifth left but the 1,000 queried, removed with
   ``everything=True``.

Each step checks what it removed, and the pool is empty at the end.
"""

from __future__ import annotations

import os
import sys

# Run as ``python bench/pool_remove.py``, this file's directory comes first on ``sys.path``,
# where ``bench/queue.py`` would shadow the standard library's ``queue`` (which scikit-learn
# imports).
if sys.path and os.path.abspath(sys.path[0]) == os.path.dirname(os.path.abspath(__file__)):
    sys.path.remove(sys.path[0])

import argparse
import json
import platform
import time
import uuid
from collections.abc import Callable, Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from loopwise import Loopwise, Settings
from loopwise.datasets import load_sms_spam
from loopwise.testing import scratch_database

DEFAULT_PG = "postgresql+psycopg://postgres@127.0.0.1:5432/test"
BATCH = 5_000
QUERIED = 1_000
"""Candidates a query chooses before the listing."""


def parts(count: int) -> tuple[int, int, int]:
    """Where the ids, the payloads and the random ids end (5, 2 and 1 tenths)."""
    return count // 2, count * 7 // 10, count * 8 // 10


def candidates(count: int) -> list[dict[str, Any]]:
    """``count`` texts in the parts of the protocol's step 1."""
    data = load_sms_spam()
    n = len(data.texts)
    ids_end, payloads_end, random_end = parts(count)
    out: list[dict[str, Any]] = []
    for i in range(count):
        row: dict[str, Any] = {"payload": f"{data.texts[i % n]} {i}"}
        if i < ids_end or i >= random_end:
            row["external_id"] = f"c{i}"
        elif i >= payloads_end:
            row["external_id"] = uuid.UUID(int=i).hex
        out.append(row)
    return out


def listed_ids(lw: Loopwise) -> list[str]:
    """The external ids of every waiting candidate, a page of 1,000 at a time."""
    out: list[str] = []
    after = None
    while True:
        page = lw.pool_candidates("pool", after=after, limit=1000)
        out.extend(c.external_id for c in page)
        if len(page) < 1000:
            return out
        after = page[-1].id


def batched(rows: Sequence[Any], call: Callable[[list[Any]], Any]) -> tuple[float, list[Any]]:
    """Seconds to ``call`` each batch of ``rows``, and what the calls returned."""
    began = time.perf_counter()
    results = [call(list(rows[start : start + BATCH])) for start in range(0, len(rows), BATCH)]
    return time.perf_counter() - began, results


def median_s(call: Callable[[], Any]) -> float:
    """The median of 3 timed calls, in seconds."""
    times = []
    for _ in range(3):
        began = time.perf_counter()
        call()
        times.append(time.perf_counter() - began)
    return sorted(times)[1]


def run(backend: str, args: argparse.Namespace) -> dict[str, Any]:
    with scratch_database(backend, args.postgres_url, "bench_remove") as (url, directory):
        lw = Loopwise(Settings(database_url=url, data_dir=directory))
        lw.create_project("pool", ["ham", "spam"])
        rows = candidates(args.rows)
        ids_end, payloads_end, random_end = parts(args.rows)
        add_s, _ = batched(rows, lambda part: lw.add_to_pool("pool", part))
        lw.query("pool", QUERIED, strategy="random", seed=0)
        taken = lw.pool_candidates("pool", state="chosen", limit=QUERIED)
        chosen = {c.payload["text"] for c in taken}

        def untaken(row: dict[str, Any]) -> bool:
            return row["payload"] not in chosen

        began = time.perf_counter()
        listed = listed_ids(lw)
        list_s = time.perf_counter() - began
        assert len(listed) == len(set(listed)) == args.rows - QUERIED, "a wrong list"
        assert not {c.external_id for c in taken} & set(listed), "a chosen one listed"
        status_s = median_s(lambda: lw.pool_status("pool"))
        status = lw.pool_status("pool")
        assert (status.waiting, status.chosen) == (args.rows - QUERIED, QUERIED), "a wrong status"
        chosen_page_s = median_s(lambda: lw.pool_candidates("pool", state="chosen", limit=50))
        all_page_s = median_s(lambda: lw.pool_candidates("pool", state="all", limit=50))

        def remove(part: list[Any]) -> Any:
            return lw.remove_from_pool("pool", part)

        by_id = [row["external_id"] for row in rows[:ids_end] if untaken(row)]
        by_id_s, removed = batched(by_id, remove)
        assert sum(r.removed for r in removed) == len(by_id), "not every named id was removed"
        named = [{"payload": row["payload"]} for row in rows[ids_end:payloads_end] if untaken(row)]
        by_payload_s, removed = batched(named, remove)
        assert sum(r.removed for r in removed) == len(named), "not every payload was removed"
        digests = [
            {"payload": row["payload"]} for row in rows[payloads_end:random_end] if untaken(row)
        ]
        by_digest_s, removed = batched(digests, remove)
        assert sum(r.removed for r in removed) == len(digests), "not every payload was removed"
        began = time.perf_counter()
        rest = lw.remove_from_pool("pool", everything=True)
        everything_s = time.perf_counter() - began
        assert rest.removed == len(listed) - len(by_id) - len(named) - len(digests)
        assert lw.pool_status("pool").waiting == 0
        lw.close()
    out = {
        "backend": backend,
        "rows": args.rows,
        "add_s": round(add_s, 3),
        "list_s": round(list_s, 3),
        "list_rows": len(listed),
        "status_s": round(status_s, 4),
        "chosen_page_s": round(chosen_page_s, 4),
        "all_page_s": round(all_page_s, 4),
        "by_id_s": round(by_id_s, 3),
        "by_id_rows": len(by_id),
        "by_payload_s": round(by_payload_s, 3),
        "by_payload_rows": len(named),
        "by_digest_s": round(by_digest_s, 3),
        "by_digest_rows": len(digests),
        "everything_s": round(everything_s, 3),
        "everything_rows": rest.removed,
    }
    print(
        f"{backend:>8}: added {args.rows:,} in {add_s:.2f} s (the baseline); listed "
        f"{len(listed):,} in {list_s:.2f} s; status {status_s:.3f} s, a page of 50 chosen "
        f"{chosen_page_s:.3f} s, of all {all_page_s:.3f} s; removed "
        f"{len(by_id):,} by id in {by_id_s:.2f} s, {len(named):,} by payload in "
        f"{by_payload_s:.2f} s, {len(digests):,} by payload with random ids in "
        f"{by_digest_s:.2f} s, the last {rest.removed:,} (everything) in {everything_s:.2f} s",
        flush=True,
    )
    return out


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--backend", choices=("sqlite", "postgres", "both"), default="both")
    parser.add_argument("--postgres-url", default=os.environ.get("LOOPWISE_BENCH_PG", DEFAULT_PG))
    parser.add_argument("--rows", type=int, default=100_000, help="candidates to add")
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
