"""Review-queue benchmark: concurrent reviewers claiming and answering on a large queue.

Run ``.venv/bin/python bench/queue.py [--backend postgres|sqlite|both] [--pending 100000]
[--reviewers-pg 32] [--reviewers-sqlite 8] [--seconds 30] [--think-ms 1000] [--no-saturated]
[--claim-keys] [--json PATH]``.

Protocol
--------
1. **Seed.** A fresh database per backend (PostgreSQL: a new schema on
   ``--postgres-url``, dropped at the end; SQLite: a file in a temporary directory, WAL). One
   two-label project, routing ``auto_threshold 0.99``, no calibration, no OOD check, so every
   item, submitted with the caller's probabilities (top class 0.5-0.98), is queued for review.
   Business rules on item metadata give a mix of levels (5% ``tier: vip`` urgent, 15% ``gold``
   high, 20% ``free`` low, the rest normal) and 10% (``region: eu``) ask for two independent
   reviews; project overlap 1, default review settings otherwise (Dawid-Skene consensus,
   ageing every 240 min, 300 s leases). ``--pending`` items go in through ``Loopwise.submit``
   in batches of ``--batch`` (the real service path); the seeding time is printed. On
   PostgreSQL the tables are then ``ANALYZE``d, and again before each timed run (what autovacuum
   does on a production server; the test server runs with ``autovacuum = off``, and with the
   statistics of empty tables the planner picks plans that scan the whole queue on every claim:
   ``--no-analyze`` measures that). SQLite is used as loopwise leaves it (no ``ANALYZE``).
2. **Baseline, same run.** One reviewer (its own process) runs the loop below for
   ``--baseline-seconds`` with nobody else on the queue: the claim latency without contention.
3. **Contended runs.** ``--reviewers-pg`` (PostgreSQL) or ``--reviewers-sqlite`` (SQLite)
   reviewers, each an OS process with its own ``Loopwise`` (engine, pool), all members of the
   project, each first claims and approves ``5`` tasks untimed (every process compiles its
   statements once, as a server worker does; then ``gc.freeze()``, as ``loopwise serve`` does
   after start-up), then they start together (a barrier) and loop for ``--seconds``:
   ``claim_next`` (timed:
   the claim latency), wait ``--think-ms`` (the person reading the item: uniform from half to
   one and a half times it; with a think time each reviewer's first claim also waits a random
   part of one, as in the steady state, instead of all 32 claiming at the same instant), then
   ``submit_verdict`` (timed): ``approve``, or on ``--correct-share`` of tasks ``correct`` to the
   other label (disagreement on a two-review task escalates it to an expert). A reviewer that
   claimed always answers before stopping, so nothing is left held. ``claims_per_s`` is
   completed claim + submit pairs per second, over the wall time from the barrier to the last
   reviewer's stop. The machine's CPU use during the run, and in the 2 s before it (other
   work than this benchmark's: ``--wait-idle S`` waits up to S seconds for it to be under 15%),
   is read from ``/proc/stat``; ``reviewer_cpu_ms_per_pair`` is the reviewer processes' own CPU,
   ``postgres_cpu_ms_per_pair`` that of every ``postgres`` process (``/proc/<pid>/stat``), and
   ``other_load`` the share of the machine busy with neither during the run (on SQLite,
   PostgreSQL's CPU counts as other work). Two such runs: **paced**, reviewers who read each
   task for ``--think-ms`` (default 1 s: 3,600 verdicts an hour each, well above the 1,000 an
   hour of a fast reviewer on binary tasks), whose figures are the top-level ones; then
   **saturated** (``saturated`` in the JSON, unless ``--no-saturated``), the same reviewers
   claiming again the moment they answer. On 2 cores the saturated run measures the CPU the
   32 reviewer processes and their 32 database backends queue for (the claim latency is the
   number of reviewers over the pairs per second, times the claim's share of a pair), not
   what a reviewer waits for at work.
4. **Checks, from the database** (``review_task``, ``review``, ``item``, ``audit_event``), over
   both runs. ``double_assignments`` is the sum of: tasks with more answering reviews
   (approve / reject / correct) than ``required_reviews``; (item, reviewer) pairs reviewed twice;
   claims of a task while an earlier holder's lease was live and the holder had neither
   answered, released it nor lost the lease (audit events of the task in id order, which on both
   backends follows commit order for events on the same row: the next claim can only read the
   row as open after the holder's transaction, which wrote its event, committed); claims of a
   task after it was settled (enough answers, or escalated); reviews by someone who did not hold
   the task; and, from the reviewers' own records, claims of a task beyond its
   ``required_reviews`` (nobody releases or skips here, so every extra claim is a second hand-out).
   ``lost`` is the sum of: items accepted by ``submit`` and not in the database as decided,
   queued or resolved; tasks in no known status; queued items with no open or held task
   (stranded: nobody can ever be served them). The script exits 1 if either is not zero, or if a
   reviewer hit an error.
5. ``--profile-claims N`` then times ``N`` claim + submit pairs of one reviewer in-process: each
   SQL statement (``before/after_cursor_execute``), a cProfile of ``claim_next``, and the plans
   of the claim's SELECTs (PostgreSQL ``EXPLAIN ANALYZE``, rolled back; SQLite
   ``EXPLAIN QUERY PLAN``). Not part of the figures.

The issue's target: p99 claim under 20 ms on PostgreSQL with 100,000 pending.
"""

from __future__ import annotations

import os
import sys

# Run as ``python bench/queue.py``, this file's directory comes first on ``sys.path``, where its
# name would shadow the standard library's ``queue`` (which multiprocessing imports).
if sys.path and os.path.abspath(sys.path[0]) == os.path.dirname(os.path.abspath(__file__)):
    sys.path.remove(sys.path[0])
os.environ["OMP_NUM_THREADS"] = "1"
os.environ["OPENBLAS_NUM_THREADS"] = "1"
os.environ["MKL_NUM_THREADS"] = "1"

import argparse
import cProfile
import gc
import io
import json
import multiprocessing as mp
import platform
import pstats
import queue as queue_mod
import random
import re
import secrets
import shlex
import tempfile
import time
import traceback
from collections import Counter, defaultdict
from collections.abc import Iterator, Sequence
from contextlib import contextmanager, suppress
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

import numpy as np
from rich.console import Console
from rich.table import Table
from sqlalchemy import Engine, create_engine, event, func, select, text
from sqlalchemy.engine import Connection

from loopwise import Loopwise, Settings
from loopwise.core.enums import ItemStatus, TaskStatus, Verdict
from loopwise.store.tables import AuditEventRow, ItemRow, ReviewRow, ReviewTaskRow
from loopwise.testing import scratch_schema

PROJECT = "queue-bench"
LABELS = ("ok", "flag")
DEFAULT_PG = "postgresql+psycopg://postgres@127.0.0.1:5432/test"
TARGET_P99_MS = 20.0
REQUIRED_KEYS = (
    "reviewers",
    "pending",
    "claims_per_s",
    "p50_claim_ms",
    "p99_claim_ms",
    "double_assignments",
    "lost",
)
ROUTING: dict[str, Any] = {
    "auto_threshold": 0.99,
    "ood": None,
    "calibration": "none",
    "rules": [
        {"name": "vip", "when": "tier == 'vip'", "priority": "urgent"},
        {"name": "gold", "when": "tier == 'gold'", "priority": "high"},
        {"name": "free", "when": "tier == 'free'", "priority": "low"},
        {"name": "second opinion", "when": "region == 'eu'", "reviews": 2},
    ],
}
STAT_TABLES = (
    "project",
    "reviewer",
    "project_member",
    "item",
    "prediction",
    "decision",
    "review_task",
    "review",
    "label",
    "golden_item",
    "honeypot",
    "audit_event",
)
TICKS = os.sysconf("SC_CLK_TCK") if hasattr(os, "sysconf") else 100
ANSWERS = frozenset(v.value for v in Verdict if v.answers)
KNOWN_TASK_STATUSES = tuple(s.value for s in TaskStatus)
KNOWN_ITEM_STATUSES = tuple(s.value for s in ItemStatus)


# ---------------------------------------------------------------- databases and seeding


@contextmanager
def database(backend: str, postgres_url: str) -> Iterator[Settings]:
    """Settings for an empty database: a fresh PostgreSQL schema or a SQLite file, removed after."""
    with tempfile.TemporaryDirectory(prefix="lw-queue-bench-") as tmp:
        data_dir = Path(tmp)
        if backend == "sqlite":
            yield Settings(
                data_dir=data_dir,
                database_url=f"sqlite:///{data_dir / 'loopwise.db'}",
                max_batch_items=100_000,
            )
            return
        with scratch_schema(postgres_url, "bench") as url:
            yield Settings(data_dir=data_dir, database_url=url, max_batch_items=100_000)


def item_batch(start: int, n: int, rng: random.Random) -> list[dict[str, Any]]:
    """Items with caller probabilities below the threshold and a realistic metadata mix."""
    rows = []
    for i in range(start, start + n):
        u = rng.random()
        tier = "vip" if u < 0.05 else "gold" if u < 0.20 else "free" if u < 0.40 else "standard"
        top = rng.uniform(0.5, 0.98)
        probs = [top, 1.0 - top] if rng.random() < 0.5 else [1.0 - top, top]
        rows.append(
            {
                "external_id": f"item-{i:07d}",
                "payload": f"message {i}: please check order {rng.randrange(10**6)}",
                "metadata": {"tier": tier, "region": "eu" if rng.random() < 0.10 else "us"},
                "probabilities": probs,
            }
        )
    return rows


def seed(settings: Settings, pending: int, batch: int, names: Sequence[str], rng_seed: int) -> Seed:
    """Create the project and reviewers, and queue ``pending`` items through ``Loopwise.submit``."""
    rng = random.Random(rng_seed)
    with Loopwise(settings) as lw:
        lw.create_project(PROJECT, LABELS, routing=ROUTING, review={"overlap": 1})
        for name in names:
            lw.add_reviewer(name, projects=[PROJECT])
        started = time.perf_counter()
        accepted = queued = 0
        for start in range(0, pending, batch):
            routed = lw.submit(PROJECT, item_batch(start, min(batch, pending - start), rng))
            accepted += sum(not r.duplicate for r in routed)
            queued += sum(r.task_id is not None for r in routed)
        seconds = time.perf_counter() - started
    return Seed(seconds, accepted, queued)


@dataclass(frozen=True)
class Seed:
    seconds: float
    accepted: int
    queued: int


# ---------------------------------------------------------------- reviewers


@dataclass(frozen=True)
class WorkerArgs:
    settings: Settings
    name: str
    seconds: float
    think_ms: float
    correct_share: float
    seed: int
    warmup: int = 5
    gc_freeze: bool = True
    claim_keys: bool = False

    def claim_key(self) -> str | None:
        """A key drawn for one claim, as the review page sends (``--claim-keys``), or none."""
        return secrets.token_hex(16) if self.claim_keys else None


def reviewer_loop(lw: Loopwise, args: WorkerArgs, deadline: float) -> dict[str, Any]:
    """Claim, think, answer until ``deadline`` (``time.monotonic``); what happened."""
    rng = random.Random(args.seed)
    claims: list[float] = []
    submits: list[float] = []
    tasks: list[int] = []
    errors: Counter[str] = Counter()
    empty = 0
    think = args.think_ms / 1000.0
    cpu = time.process_time()
    if think:  # people do not all start at the same instant: begin as in the steady state
        time.sleep(rng.uniform(0.0, think))
    while time.monotonic() < deadline:
        t0 = time.perf_counter()
        try:
            entry = lw.claim_next(PROJECT, args.name, claim_key=args.claim_key())
        except Exception as exc:
            errors[f"claim: {type(exc).__name__}: {exc}"[:200]] += 1
            continue
        claims.append((time.perf_counter() - t0) * 1000.0)
        if entry is None:
            empty += 1
            time.sleep(0.05)
            continue
        tasks.append(entry.task.id)
        if think:
            time.sleep(think * rng.uniform(0.5, 1.5))
        suggestion = None if entry.prediction is None else entry.prediction.predicted_label
        correct = suggestion is not None and rng.random() < args.correct_share
        t1 = time.perf_counter()
        try:
            if correct:
                other = LABELS[1 - LABELS.index(str(suggestion))]
                lw.submit_verdict(PROJECT, entry.task.id, args.name, "correct", label=other)
            else:
                lw.submit_verdict(PROJECT, entry.task.id, args.name, "approve")
        except Exception as exc:
            errors[f"submit: {type(exc).__name__}: {exc}"[:200]] += 1
            continue
        submits.append((time.perf_counter() - t1) * 1000.0)
    return {
        "name": args.name,
        "claims_ms": claims,
        "submits_ms": submits,
        "tasks": tasks,
        "empty": empty,
        "errors": dict(errors),
        "cpu_s": time.process_time() - cpu,
    }


def warm_up(lw: Loopwise, args: WorkerArgs) -> list[int]:
    """Claim and approve ``args.warmup`` tasks before the clock starts (untimed): a reviewer
    process, like a server worker, compiles each statement once and then reuses it, so the
    figures are of the steady state, not of the first calls; the tasks, for the checks."""
    done = []
    for _ in range(args.warmup):
        entry = lw.claim_next(PROJECT, args.name, claim_key=args.claim_key())
        if entry is None:
            break
        lw.submit_verdict(PROJECT, entry.task.id, args.name, "approve")
        done.append(entry.task.id)
    return done


def worker(args: WorkerArgs, barrier: Any, results: Any, measured: Any) -> None:
    """One reviewer process: its own ``Loopwise``, warmed up, then the loop after the barrier;
    its connections stay open until the CPU of their PostgreSQL backends was read
    (``measured``)."""
    try:
        lw = Loopwise(args.settings, migrate=False)
        lw.reviewer(args.name)  # opens a pooled connection before the clock starts
        lw.queue(PROJECT, limit=1)
        warm = warm_up(lw, args)
        if args.gc_freeze:
            gc.collect()
            gc.freeze()
    except BaseException:
        barrier.abort()
        results.put({"name": args.name, "fatal": traceback.format_exc()})
        return
    try:
        barrier.wait()
        started = time.monotonic()
        out = reviewer_loop(lw, args, started + args.seconds)
        out |= {"started": started, "ended": time.monotonic(), "warm_tasks": warm}
        results.put(out)
    except BaseException:
        results.put({"name": args.name, "fatal": traceback.format_exc()})
    finally:
        measured.wait(timeout=600)
        lw.close()


def cpu_ticks() -> tuple[int, int] | None:
    """(busy, total) jiffies of the whole machine, from ``/proc/stat``; ``None`` elsewhere."""
    try:
        fields = Path("/proc/stat").read_text().splitlines()[0].split()[1:]
    except OSError:
        return None
    values = [int(v) for v in fields]
    idle = values[3] + (values[4] if len(values) > 4 else 0)
    return sum(values) - idle, sum(values)


def postgres_ticks() -> dict[int, int]:
    """CPU (user + system jiffies) of every running ``postgres`` process on this machine."""
    out: dict[int, int] = {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
        except OSError:
            continue
        if stat[stat.find("(") + 1 : stat.rfind(")")] != "postgres":
            continue
        fields = stat[stat.rfind(")") + 2 :].split()
        out[int(entry.name)] = int(fields[11]) + int(fields[12])
    return out


def busy_between(before: tuple[int, int] | None, after: tuple[int, int] | None) -> float | None:
    if before is None or after is None or after[1] <= before[1]:
        return None
    return (after[0] - before[0]) / (after[1] - before[1])


def busy_share(seconds: float) -> float | None:
    """Share of the machine's CPU busy over the next ``seconds`` (other work than ours)."""
    before = cpu_ticks()
    time.sleep(seconds)
    return busy_between(before, cpu_ticks())


def quiet_machine(wait: float, below: float = 0.15) -> float | None:
    """Wait up to ``wait`` seconds for a 2 s window with less than ``below`` of the CPU busy;
    the busy share of the last window (other work than this run's)."""
    deadline = time.monotonic() + wait
    busy = busy_share(2.0)
    while busy is not None and busy >= below and time.monotonic() < deadline:
        busy = busy_share(2.0)
    return busy


@dataclass
class Run:
    """Figures of one timed run of ``reviewers`` processes."""

    reviewers: int
    think_ms: float
    elapsed: float
    claims_ms: list[float]
    submits_ms: list[float]
    tasks: list[tuple[str, int]]
    empty: int
    errors: dict[str, int]
    cpu_busy: float | None
    cpu_busy_before: float | None
    reviewer_cpu_s: float
    cpu_total_s: float | None
    postgres_cpu_s: float
    on_postgres: bool

    @property
    def other_load(self) -> float | None:
        """Share of the machine's CPU used during the run by neither the reviewers nor
        PostgreSQL (other work on a shared machine)."""
        if self.cpu_busy is None or not self.cpu_total_s:
            return None
        database = self.postgres_cpu_s if self.on_postgres else 0.0
        ours = (self.reviewer_cpu_s + database) / self.cpu_total_s
        return max(0.0, self.cpu_busy - ours)

    @property
    def pairs(self) -> int:
        return len(self.submits_ms)

    def summary(self) -> dict[str, Any]:
        claims = np.asarray(self.claims_ms, dtype=np.float64)
        submits = np.asarray(self.submits_ms, dtype=np.float64)

        def pct(values: np.ndarray[Any, Any], q: float) -> float:
            return float(np.percentile(values, q)) if values.size else float("nan")

        return {
            "reviewers": self.reviewers,
            "claims_per_s": self.pairs / self.elapsed if self.elapsed > 0 else 0.0,
            "p50_claim_ms": pct(claims, 50),
            "p90_claim_ms": pct(claims, 90),
            "p99_claim_ms": pct(claims, 99),
            "max_claim_ms": float(claims.max()) if claims.size else float("nan"),
            "mean_claim_ms": float(claims.mean()) if claims.size else float("nan"),
            "p50_submit_ms": pct(submits, 50),
            "p99_submit_ms": pct(submits, 99),
            "claims": int(claims.size),
            "pairs": self.pairs,
            "empty_claims": self.empty,
            "elapsed_s": self.elapsed,
            "think_ms": self.think_ms,
            "cpu_busy": self.cpu_busy,
            "cpu_busy_before": self.cpu_busy_before,
            "reviewer_cpu_ms_per_pair": self.reviewer_cpu_s / self.pairs * 1000.0
            if self.pairs
            else float("nan"),
            "postgres_cpu_ms_per_pair": self.postgres_cpu_s / self.pairs * 1000.0
            if self.pairs
            else float("nan"),
            "other_load": self.other_load,
            "errors": sum(self.errors.values()),
        }


def run_reviewers(
    settings: Settings,
    names: Sequence[str],
    seconds: float,
    think_ms: float,
    correct_share: float,
    rng_seed: int,
    start_method: str,
    wait_idle: float = 0.0,
    claim_keys: bool = False,
) -> Run:
    """Start one process per reviewer, release them together, and gather what they did."""
    ctx: Any = mp.get_context(start_method)
    idle_before = quiet_machine(wait_idle)
    barrier = ctx.Barrier(len(names) + 1)
    results = ctx.Queue()
    measured = ctx.Event()
    procs = []
    for i, name in enumerate(names):
        args = WorkerArgs(
            settings,
            name,
            seconds,
            think_ms,
            correct_share,
            rng_seed * 1000 + i,
            claim_keys=claim_keys,
        )
        proc = ctx.Process(target=worker, args=(args, barrier, results, measured), name=name)
        proc.start()
        procs.append(proc)
    with suppress(Exception):  # a worker failed to start; its report says why
        barrier.wait(timeout=600)
    before, pg_before = cpu_ticks(), postgres_ticks()
    outs = []
    for _ in procs:
        try:
            outs.append(results.get(timeout=seconds + 600))
        except queue_mod.Empty:
            break
    after, pg_after = cpu_ticks(), postgres_ticks()
    measured.set()
    for proc in procs:
        proc.join(timeout=60)
        if proc.is_alive():
            proc.terminate()
    fatal = [o for o in outs if "fatal" in o]
    if fatal or len(outs) < len(procs):
        detail = fatal[0]["fatal"] if fatal else "a reviewer process sent no result"
        raise RuntimeError(f"{len(fatal)} reviewer process(es) failed:\n{detail}")
    errors: Counter[str] = Counter()
    for o in outs:
        errors.update(o["errors"])
    return Run(
        reviewers=len(names),
        think_ms=think_ms,
        elapsed=max(o["ended"] for o in outs) - min(o["started"] for o in outs),
        claims_ms=[x for o in outs for x in o["claims_ms"]],
        submits_ms=[x for o in outs for x in o["submits_ms"]],
        tasks=[(o["name"], t) for o in outs for t in [*o["warm_tasks"], *o["tasks"]]],
        empty=sum(o["empty"] for o in outs),
        errors=dict(errors),
        cpu_busy=busy_between(before, after),
        cpu_total_s=(after[1] - before[1]) / TICKS if before and after else None,
        postgres_cpu_s=sum(t - pg_before[p] for p, t in pg_after.items() if p in pg_before) / TICKS,
        on_postgres=settings.database_url.startswith("postgresql"),
        cpu_busy_before=idle_before,
        reviewer_cpu_s=sum(o["cpu_s"] for o in outs),
    )


# ---------------------------------------------------------------- checks


@dataclass
class Checks:
    over_answered: int = 0
    repeat_reviewer: int = 0
    claimed_while_held: int = 0
    claimed_after_settled: int = 0
    review_without_hold: int = 0
    client_over_claimed: int = 0
    audit_claims: int = 0
    client_claims: int = 0
    lost_items: int = 0
    unknown_task_status: int = 0
    stranded_items: int = 0
    task_status: dict[str, int] = field(default_factory=dict)
    item_status: dict[str, int] = field(default_factory=dict)

    @property
    def double_assignments(self) -> int:
        return (
            self.over_answered
            + self.repeat_reviewer
            + self.claimed_while_held
            + self.claimed_after_settled
            + self.review_without_hold
            + self.client_over_claimed
        )

    @property
    def lost(self) -> int:
        return self.lost_items + self.unknown_task_status + self.stranded_items


def before_run(settings: Settings, analyze: bool) -> int:
    """Refresh PostgreSQL's planner statistics (``ANALYZE``, as autovacuum would on a server
    that runs it); the number of open tasks."""
    engine = create_engine(settings.database_url)
    try:
        with engine.begin() as conn:
            if analyze and conn.dialect.name == "postgresql":
                conn.execute(text(f"ANALYZE {', '.join(STAT_TABLES)}"))
            return int(
                conn.scalar(
                    select(func.count())
                    .select_from(ReviewTaskRow)
                    .where(ReviewTaskRow.status == TaskStatus.OPEN.value)
                )
                or 0
            )
    finally:
        engine.dispose()


def audit_sequence(conn: Connection, required: dict[int, int], checks: Checks) -> None:
    """Replay each task's claims, answers, releases and escalations in audit-id order."""
    rows = conn.execute(
        select(
            AuditEventRow.entity_id,
            AuditEventRow.actor,
            AuditEventRow.action,
            AuditEventRow.created_at,
            AuditEventRow.after,
        )
        .where(
            AuditEventRow.entity_type == "review_task",
            AuditEventRow.action.in_(
                [
                    "task.claimed",
                    "review.submitted",
                    "task.released",
                    "task.lease_expired",
                    "task.escalated",
                ]
            ),
        )
        .order_by(AuditEventRow.id)
    )
    holder: dict[int, tuple[str, datetime]] = {}
    answers: Counter[int] = Counter()
    settled: set[int] = set()
    for entity_id, actor, action, created_at, after in rows:
        task = int(entity_id)
        after = after or {}
        if action == "task.claimed":
            checks.audit_claims += 1
            held = holder.get(task)
            if held is not None and created_at < held[1]:
                checks.claimed_while_held += 1
            if task in settled:
                checks.claimed_after_settled += 1
            holder[task] = (actor, datetime.fromisoformat(after["lease_expires_at"]))
        elif action == "review.submitted":
            held = holder.pop(task, None)
            if held is None or held[0] != actor:
                checks.review_without_hold += 1
            if after.get("verdict") in ANSWERS:
                answers[task] += 1
                if answers[task] >= required.get(task, 1):
                    settled.add(task)
        elif action == "task.escalated":
            holder.pop(task, None)
            settled.add(task)
        else:
            holder.pop(task, None)


def verify(settings: Settings, accepted: int, client_tasks: Sequence[tuple[str, int]]) -> Checks:
    """Double hand-outs and lost work, from the database (see the module docstring)."""
    checks = Checks()
    engine = create_engine(settings.database_url)
    try:
        with engine.connect() as conn:
            required = dict(
                conn.execute(select(ReviewTaskRow.id, ReviewTaskRow.required_reviews)).all()
            )
            answered = select(ReviewRow.task_id, func.count().label("n")).where(
                ReviewRow.verdict.in_(sorted(ANSWERS))
            )
            for task_id, n in conn.execute(answered.group_by(ReviewRow.task_id)):
                checks.over_answered += int(n > required[task_id])
            checks.repeat_reviewer = len(
                conn.execute(
                    select(ReviewRow.item_id, ReviewRow.reviewer)
                    .group_by(ReviewRow.item_id, ReviewRow.reviewer)
                    .having(func.count() > 1)
                ).all()
            )
            audit_sequence(conn, required, checks)
            per_task = Counter(task for _, task in client_tasks)
            checks.client_claims = len(client_tasks)
            checks.client_over_claimed = sum(
                max(0, n - required.get(task, 1)) for task, n in per_task.items()
            )
            checks.task_status = {
                str(s): int(n)
                for s, n in conn.execute(
                    select(ReviewTaskRow.status, func.count()).group_by(ReviewTaskRow.status)
                )
            }
            checks.item_status = {
                str(s): int(n)
                for s, n in conn.execute(
                    select(ItemRow.status, func.count()).group_by(ItemRow.status)
                )
            }
            checks.lost_items = accepted - sum(
                checks.item_status.get(s, 0) for s in KNOWN_ITEM_STATUSES
            )
            checks.unknown_task_status = sum(
                n for s, n in checks.task_status.items() if s not in KNOWN_TASK_STATUSES
            )
            live = (
                select(ReviewTaskRow.id)
                .where(
                    ReviewTaskRow.item_id == ItemRow.id,
                    ReviewTaskRow.status.in_([TaskStatus.OPEN.value, TaskStatus.CLAIMED.value]),
                )
                .exists()
            )
            checks.stranded_items = int(
                conn.scalar(
                    select(func.count())
                    .select_from(ItemRow)
                    .where(ItemRow.status == ItemStatus.QUEUED.value, ~live)
                )
                or 0
            )
    finally:
        engine.dispose()
    return checks


# ---------------------------------------------------------------- profile


def short_sql(statement: str) -> str:
    """A statement without its column list, on one line, for grouping."""
    flat = " ".join(statement.split())
    flat = re.sub(r"^SELECT .+? FROM ", "SELECT ... FROM ", flat)
    flat = re.sub(r"^(INSERT INTO \S+) \(.*", r"\1 ...", flat)
    flat = re.sub(r"\b(?:[a-z_]+\.)([a-z_]+)\b", r"\1", flat)
    return flat[:110]


def profile(settings: Settings, name: str, n: int, console: Console) -> None:
    """Per-statement SQL time, a cProfile of ``claim_next`` and the claim's query plans."""
    lw = Loopwise(settings, migrate=False)
    engine = lw.ctx.engine
    phase = ["claim"]
    timings: dict[tuple[str, str], list[float]] = defaultdict(lambda: [0, 0.0])
    captured: list[tuple[str, Any]] = []

    def before(conn: Any, _cursor: Any, statement: str, params: Any, *_: Any) -> None:
        conn.info["lw_t0"] = time.perf_counter()
        if phase[0] == "claim" and len(captured) < 40:
            captured.append((statement, params))

    def after(conn: Any, _cursor: Any, statement: str, *_: Any) -> None:
        slot = timings[(phase[0], statement)]
        slot[0] += 1
        slot[1] += time.perf_counter() - conn.info.pop("lw_t0")

    event.listen(engine, "before_cursor_execute", before)
    event.listen(engine, "after_cursor_execute", after)
    prof = cProfile.Profile()
    totals = {"claim": 0.0, "submit": 0.0}
    done = 0
    claim_sql: list[tuple[str, Any]] = []
    try:
        for i in range(n):
            phase[0] = "claim"
            if i == 1:
                captured.clear()  # plans of a warm claim
            t0 = time.perf_counter()
            prof.enable()
            entry = lw.claim_next(PROJECT, name)
            prof.disable()
            totals["claim"] += time.perf_counter() - t0
            if entry is None:
                break
            phase[0] = "submit"
            t1 = time.perf_counter()
            lw.submit_verdict(PROJECT, entry.task.id, name, "approve")
            totals["submit"] += time.perf_counter() - t1
            done += 1
            if i == 1:
                phase[0] = "idle"
                claim_sql = list(captured)
    finally:
        event.remove(engine, "before_cursor_execute", before)
        event.remove(engine, "after_cursor_execute", after)
    if not done:
        console.print("profile: nothing to claim")
        lw.close()
        return
    console.print(
        f"[bold]profile[/], one reviewer in-process, {done} pairs: claim "
        f"{totals['claim'] / done * 1000:.2f} ms, submit {totals['submit'] / done * 1000:.2f} ms "
        "per call (mean, profiler on during claims)"
    )
    for which in ("claim", "submit"):
        grouped: dict[str, list[float]] = defaultdict(lambda: [0, 0.0])
        for (when, statement), (count, seconds) in timings.items():
            if when == which:
                grouped[short_sql(statement)][0] += count
                grouped[short_sql(statement)][1] += seconds
        rows = sorted(((k, c, s) for k, (c, s) in grouped.items()), key=lambda r: -r[2])
        sql_ms = sum(s for _, _, s in rows) / done * 1000
        console.print(
            f"  SQL in {which}: {sql_ms:.2f} ms per call of "
            f"{totals[which] / done * 1000:.2f} ms; top statements (ms per call, calls per call):"
        )
        for stmt, count, seconds in rows[:12]:
            console.print(
                f"    {seconds / done * 1000:6.2f}  x{count / done:4.1f}  {stmt}",
                markup=False,
                highlight=False,
            )
    out = io.StringIO()
    stats = pstats.Stats(prof, stream=out)
    stats.sort_stats("cumulative").print_stats(r"loopwise", 25)
    stats.sort_stats("tottime").print_stats(15)
    console.print("  cProfile of claim_next (cumulative in loopwise; then own time):", markup=False)
    console.print(out.getvalue(), markup=False, highlight=False)
    plans(engine, claim_sql, console)
    lw.close()


def plans(engine: Engine, statements: list[tuple[str, Any]], console: Console) -> None:
    """Plans of the SELECTs of one warm claim (PostgreSQL: executed, then rolled back)."""
    postgres = engine.dialect.name == "postgresql"
    seen = set()
    with engine.connect() as conn:
        raw = conn.connection.dbapi_connection
        assert raw is not None
        for statement, params in statements:
            if not statement.lstrip().upper().startswith("SELECT"):
                continue
            key = short_sql(statement)
            if key in seen:
                continue
            seen.add(key)
            cursor = raw.cursor()
            try:
                if postgres:
                    cursor.execute(f"EXPLAIN (ANALYZE, BUFFERS) {statement}", params)
                else:
                    cursor.execute(f"EXPLAIN QUERY PLAN {statement}", params)
                lines = [" | ".join(str(c) for c in row) for row in cursor.fetchall()]
            finally:
                cursor.close()
                raw.rollback()
            console.print(f"  plan: {key}", markup=False, highlight=False)
            for line in lines[:14]:
                console.print(f"      {line}", markup=False, highlight=False)


# ---------------------------------------------------------------- driver


def bench_backend(
    backend: str, args: argparse.Namespace, console: Console
) -> tuple[dict[str, Any], bool]:
    """Seed, baseline, contended run and checks on one backend; its JSON object and whether it
    passed."""
    n = args.reviewers_pg if backend == "postgres" else args.reviewers_sqlite
    names = [f"reviewer-{i:02d}" for i in range(n)]
    solo, prof = "solo-reviewer", "profile-reviewer"
    with database(backend, args.postgres_url) as settings:
        console.rule(f"{backend}: {args.pending:,} pending, {n} reviewers")
        seeded = seed(settings, args.pending, args.batch, [*names, solo, prof], args.seed)
        console.print(
            f"seeded {seeded.accepted:,} items ({seeded.queued:,} queued) through Loopwise.submit "
            f"in batches of {args.batch:,}: [bold]{seeded.seconds:.1f} s[/] "
            f"({seeded.accepted / seeded.seconds:,.0f} items/s)"
        )
        method, analyze = args.start_method, not args.no_analyze
        before_run(settings, analyze)
        baseline = run_reviewers(
            settings,
            [solo],
            args.baseline_seconds,
            0.0,
            args.correct_share,
            args.seed,
            method,
            args.wait_idle,
            args.claim_keys,
        )
        pending_at_start = before_run(settings, analyze)
        run = run_reviewers(
            settings,
            names,
            args.seconds,
            args.think_ms,
            args.correct_share,
            args.seed + 1,
            method,
            args.wait_idle,
            args.claim_keys,
        )
        tasks = baseline.tasks + run.tasks
        stress = None
        if args.think_ms and not args.no_saturated:
            pending_saturated = before_run(settings, analyze)
            stress = run_reviewers(
                settings,
                names,
                args.seconds,
                0.0,
                args.correct_share,
                args.seed + 2,
                method,
                args.wait_idle,
                args.claim_keys,
            )
            tasks += stress.tasks
        checks = verify(settings, seeded.accepted, tasks)
        if args.profile_claims:
            profile(settings, prof, args.profile_claims, console)
    figures = run.summary()
    base = baseline.summary()
    result: dict[str, Any] = {
        "reviewers": n,
        "pending": seeded.queued,
        "claims_per_s": figures["claims_per_s"],
        "p50_claim_ms": figures["p50_claim_ms"],
        "p99_claim_ms": figures["p99_claim_ms"],
        "double_assignments": checks.double_assignments,
        "lost": checks.lost,
    }
    assert tuple(result) == REQUIRED_KEYS
    result |= {k: v for k, v in figures.items() if k not in result}
    result |= {
        "claims_per_s_means": "completed claim + submit pairs per second",
        "seconds": args.seconds,
        "pending_at_start": pending_at_start,
        "seed_seconds": seeded.seconds,
        "analyzed": backend == "postgres" and not args.no_analyze,
        "error_messages": run.errors,
        "checks": {
            **{
                k: getattr(checks, k)
                for k in (
                    "over_answered",
                    "repeat_reviewer",
                    "claimed_while_held",
                    "claimed_after_settled",
                    "review_without_hold",
                    "client_over_claimed",
                    "audit_claims",
                    "client_claims",
                    "lost_items",
                    "unknown_task_status",
                    "stranded_items",
                )
            },
            "task_status": checks.task_status,
            "item_status": checks.item_status,
        },
        "baseline_single_reviewer": {**base, "seconds": args.baseline_seconds},
    }
    if stress is not None:
        saturated = stress.summary()
        result["saturated"] = {
            "reviewers": n,
            "pending": pending_saturated,
            **{k: saturated[k] for k in REQUIRED_KEYS[2:5]},
            "double_assignments": checks.double_assignments,
            "lost": checks.lost,
            **{k: v for k, v in saturated.items() if k not in REQUIRED_KEYS},
            "seconds": args.seconds,
        }
    errors = run.errors | baseline.errors | ({} if stress is None else stress.errors)
    for message, count in errors.items():
        console.print(f"[red]error x{count}[/]: {message}", markup=True, highlight=False)
    unseen = checks.audit_claims != checks.client_claims
    if unseen:
        console.print(
            f"[red]{checks.audit_claims} claims in the audit log, {checks.client_claims} seen by "
            "the reviewers[/]"
        )
    ok = checks.double_assignments == 0 and checks.lost == 0 and not errors and not unseen
    return result, ok


def fmt(value: float | None, spec: str = ".1f") -> str:
    return "-" if value is None or value != value else format(value, spec)


def results_table(results: dict[str, dict[str, Any]]) -> Table:
    table = Table(title="Review queue: claim latency and throughput")
    for header in (
        "backend",
        "run",
        "reviewers",
        "think ms",
        "pending",
        "pairs/s",
        "claim p50",
        "p90",
        "p99",
        "max",
        "submit p50",
        "p99",
        "CPU busy",
        "others",
        "py CPU/pair",
        "pg CPU/pair",
        "double",
        "lost",
    ):
        table.add_column(header, justify="left" if header in ("backend", "run") else "right")
    for backend, r in results.items():
        runs = [("paced" if r["think_ms"] else "contended", r)]
        if "saturated" in r:
            runs.append(("saturated", r["saturated"]))
        runs.append(("baseline", r["baseline_single_reviewer"]))
        for label, row in runs:
            busy, others = row.get("cpu_busy"), row.get("other_load")
            table.add_row(
                backend if row is r else "",
                label,
                str(row["reviewers"]),
                fmt(row["think_ms"], ".0f"),
                f"{r['pending_at_start'] if row is r else row.get('pending', r['pending']):,}",
                fmt(row["claims_per_s"]),
                fmt(row["p50_claim_ms"]),
                fmt(row["p90_claim_ms"]),
                fmt(row["p99_claim_ms"]),
                fmt(row["max_claim_ms"]),
                fmt(row["p50_submit_ms"]),
                fmt(row["p99_submit_ms"]),
                "-" if busy is None else f"{busy:.0%}",
                "-" if others is None else f"{others:.0%}",
                fmt(row["reviewer_cpu_ms_per_pair"]),
                fmt(row["postgres_cpu_ms_per_pair"]),
                str(r["double_assignments"]) if row is r else "",
                str(r["lost"]) if row is r else "",
                end_section=label == "baseline",
            )
    return table


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--backend", choices=("postgres", "sqlite", "both"), default="both")
    parser.add_argument("--pending", type=int, default=100_000)
    parser.add_argument("--batch", type=int, default=5_000, help="items per submit when seeding")
    parser.add_argument("--reviewers-pg", type=int, default=32)
    parser.add_argument("--reviewers-sqlite", type=int, default=8)
    parser.add_argument("--seconds", type=float, default=30.0)
    parser.add_argument("--baseline-seconds", type=float, default=10.0)
    parser.add_argument(
        "--think-ms",
        type=float,
        default=1000.0,
        help="the reviewers' mean time on a task (uniform 0.5x-1.5x); 0: claim again at once",
    )
    parser.add_argument(
        "--no-saturated",
        action="store_true",
        help="skip the second run with no think time (reported under 'saturated')",
    )
    parser.add_argument("--correct-share", type=float, default=0.1)
    parser.add_argument("--profile-claims", type=int, default=0, metavar="N")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument(
        "--claim-keys",
        action="store_true",
        help="claim with a key drawn per claim, as the review page does (0013)",
    )
    parser.add_argument(
        "--wait-idle",
        type=float,
        default=0.0,
        metavar="S",
        help="before each timed run, wait up to S seconds for the machine to be idle (<15%% busy)",
    )
    parser.add_argument(
        "--no-analyze",
        action="store_true",
        help="PostgreSQL: do not ANALYZE after seeding and before each timed run",
    )
    parser.add_argument(
        "--postgres-url",
        default=os.environ.get("LOOPWISE_TEST_POSTGRES_URL") or DEFAULT_PG,
        help="a database where the script may create and drop a schema",
    )
    parser.add_argument(
        "--start-method", choices=mp.get_all_start_methods(), default=mp.get_start_method()
    )
    parser.add_argument("--json", type=Path, default=None, help="write the figures here")
    args = parser.parse_args(argv)
    backends = ["postgres", "sqlite"] if args.backend == "both" else [args.backend]
    console = Console(width=180)
    started = time.perf_counter()
    results: dict[str, dict[str, Any]] = {}
    passed = True
    for backend in backends:
        results[backend], ok = bench_backend(backend, args, console)
        passed &= ok
    console.print(results_table(results))
    for backend, r in results.items():
        base = r["baseline_single_reviewer"]
        console.print(
            f"{backend}: {r['reviewers']} reviewers, {r['pairs']:,} claim + submit pairs in "
            f"{r['elapsed_s']:.1f} s = [bold]{r['claims_per_s']:.1f} pairs/s[/]; claim p50 "
            f"{r['p50_claim_ms']:.1f} ms, p99 [bold]{r['p99_claim_ms']:.1f} ms[/] (one reviewer "
            f"alone: p50 {base['p50_claim_ms']:.1f} ms, p99 {base['p99_claim_ms']:.1f} ms, "
            f"{base['claims_per_s']:.1f} pairs/s); double assignments {r['double_assignments']}, "
            f"lost {r['lost']}; seeding {r['seed_seconds']:.1f} s"
        )
        if "saturated" in r:
            sat = r["saturated"]
            console.print(
                f"{backend}: saturated (no think time): {sat['claims_per_s']:.1f} pairs/s, claim "
                f"p50 {sat['p50_claim_ms']:.1f} ms, p99 {sat['p99_claim_ms']:.1f} ms"
            )
        if backend == "postgres":
            met = r["p99_claim_ms"] < TARGET_P99_MS
            console.print(
                f"postgres: target p99 claim < {TARGET_P99_MS:.0f} ms with "
                f"{r['pending']:,} pending, reviewers thinking {r['think_ms']:.0f} ms on average: "
                f"{'met' if met else '[red]NOT met[/]'}"
            )
    console.print(f"total {time.perf_counter() - started:.1f} s")
    if args.json is not None:
        payload: dict[str, Any] = dict(results)
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
    if not passed:
        console.print("[red]FAILED[/]: double assignments, lost work or reviewer errors (above)")
    return 0 if passed else 1


if __name__ == "__main__":
    raise SystemExit(main())
