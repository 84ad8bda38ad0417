"""Side-by-side benchmark: Label Studio 1.23.2 and loopwise, same import and review workload.

Run ``.venv/bin/python bench/compare_labelstudio.py [--backends sqlite,postgres] [--seconds 30]
[--reviewers 32] [--json PATH] [--skip-install] [--loopwise-json PATH | --no-loopwise]``.

What it does
------------
1. **Install.** Label Studio goes into its own virtual environment, ``bench/.labelstudio-venv``
   (``python3 -m venv`` and ``pip install label-studio==1.23.2``, from PyPI only; about 100 s
   and 1.5 GB here). An environment that already has that version is reused; ``--skip-install``
   refuses to install and fails if it is missing.
2. **Serve.** For each backend Label Studio is started the way its pip package is meant to be
   run, ``label-studio start`` (Django's threaded development server, one process), on
   127.0.0.1 at a free port, with a fresh data directory ``bench/.labelstudio-data/<backend>``
   (server log: ``server.log`` there). SQLite: the data directory's database file, Label
   Studio's defaults. PostgreSQL: a dedicated database (``--pg-database``, default ``ls_bench``,
   it must start with ``ls_``) created on ``--pg-host``/``--pg-port`` as ``--pg-user``, dropped
   at the end, even on errors; on a server with autovacuum off it is ``ANALYZE``d after the
   import (what autovacuum does on a production server; ``--no-analyze`` to skip). The first
   user and its API token come from ``LABEL_STUDIO_USERNAME`` / ``LABEL_STUDIO_PASSWORD`` /
   ``LABEL_STUDIO_USER_TOKEN`` with legacy API tokens enabled. Nothing reaches the internet:
   Sentry DSNs are emptied, analytics off, no browser, the PyPI version check at start-up is
   skipped (``APP_WEBSERVER=uwsgi``, which changes nothing else in 1.23.2), sign-up needs the
   invite link, and the server gets a clean environment (Label Studio also reads unprefixed
   ``HOST``, ``PORT``, ``USERNAME``... variables).
3. **Workload.** ``bench/labelstudio_workload.py`` (its docstring gives the protocol): a
   ham/spam project with overlap 1; tasks with a prediction imported in batches of 1,000 and 100
   and one at a time; then ``--reviewers`` annotators, each with its own account and token,
   looping ``/next`` + submit for ``--seconds``; checks for tasks over the overlap and for tasks
   handed to two annotators at once. The client (threads, keep-alive HTTP) runs in this process;
   its CPU share of the machine is recorded with the server's and PostgreSQL's.
4. **loopwise.** ``bench/api.py --backends … --seconds … --reviewers … --json TMP`` (the same
   kind of workload against loopwise's HTTP API) runs as a subprocess after Label Studio has
   stopped, unless ``--loopwise-json PATH`` gives its figures from an earlier run or
   ``--no-loopwise`` skips it; ``--loopwise-args`` adds arguments to its command line.
5. **Report.** One table per backend: the issue's Label Studio figures, the ones measured now,
   and loopwise's. ``--json PATH`` writes everything (Label Studio under
   ``labelstudio.<backend>``, loopwise under ``loopwise``); ``--labelstudio-json PATH`` reads
   Label Studio's figures from such a file instead of running it.

The machine is small (2 cores): Label Studio, PostgreSQL and the client share them, as loopwise,
PostgreSQL and its client do in ``bench/api.py``. Other work on the machine lowers every figure:
before each timed phase the script waits up to ``--wait-idle`` seconds for the machine to be
under 15% busy, and records the busy share before and the CPU that other work took during each
phase (``cpu.other_cores``). On a machine shared with work that never stops, ``--nice -10``
(root) puts the Label Studio server and the client ahead of it (not PostgreSQL); the figures
are then closer to a quiet machine's, and the JSON says so.
"""

from __future__ import annotations

import os
import sys

# Run as ``python bench/compare_labelstudio.py``, this directory would come first on sys.path,
# where ``bench/queue.py`` shadows the standard library's ``queue`` (used by
# ``concurrent.futures``). Keep the directory, but last, so the workload module is found.
if sys.path and os.path.abspath(sys.path[0]) == os.path.dirname(os.path.abspath(__file__)):
    sys.path.append(sys.path.pop(0))

import argparse
import json
import platform
import re
import shlex
import shutil
import signal
import socket
import subprocess
import tempfile
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from types import FrameType
from typing import Any

import labelstudio_workload as wl
from rich.console import Console
from rich.table import Table

LS_VERSION = "1.23.2"
BENCH = Path(__file__).resolve().parent
REPO = BENCH.parent
VENV = BENCH / ".labelstudio-venv"
DATA = BENCH / ".labelstudio-data"
BACKENDS = ("sqlite", "postgres")
ADMIN_EMAIL = "admin@bench.local"
ADMIN_PASSWORD = "Bench-admin-pass-1"  # a throwaway local account
ADMIN_TOKEN = "benchadmintoken0000000000000000000000001"

# The issue's Label Studio 1.23.2 figures ("for the same kind of work on this kind of machine").
ISSUE_FIGURES: dict[str, dict[str, str]] = {
    "sqlite": {
        "import_1000": "1,396",
        "import_100": "611-773",
        "import_1": "13-15",
        "single_p99": "99-132",
        "next_p99": "22 s",
        "annotations_per_s": "about 9",
    },
    "postgres": {
        "import_1000": "1,070",
        "import_100": "611-773",
        "import_1": "13-15",
        "single_p99": "99-132",
        "next_p99": "2.9 s",
        "annotations_per_s": "about 9",
    },
}


class BenchError(RuntimeError):
    """A step of the benchmark failed; the message says which."""


# --------------------------------------------------------------------------------------------
# Install
# --------------------------------------------------------------------------------------------


def venv_python() -> Path:
    return VENV / "bin" / "python"


def installed_version() -> str | None:
    """The label-studio version in ``bench/.labelstudio-venv``, or None."""
    python = venv_python()
    if not python.exists():
        return None
    probe = subprocess.run(
        [str(python), "-c", "import importlib.metadata as m; print(m.version('label-studio'))"],
        capture_output=True,
        text=True,
        check=False,
    )
    return probe.stdout.strip() if probe.returncode == 0 else None


def ensure_labelstudio(skip_install: bool, console: Console) -> dict[str, Any]:
    """Reuse or create the Label Studio environment; return what was done and how long it took."""
    found = installed_version()
    if found == LS_VERSION:
        console.print(f"Label Studio {LS_VERSION}: reusing {VENV.relative_to(REPO)}")
        return {"version": found, "installed_now": False, "install_seconds": None}
    if skip_install:
        raise BenchError(
            f"--skip-install: {VENV} has label-studio {found or 'nothing'}, not {LS_VERSION}"
        )
    python3 = shutil.which("python3") or sys.executable
    console.print(f"Installing label-studio=={LS_VERSION} into {VENV.relative_to(REPO)} ...")
    start = time.monotonic()
    if found is None and VENV.exists():
        shutil.rmtree(VENV)
    if not venv_python().exists():
        subprocess.run([python3, "-m", "venv", str(VENV)], check=True)
    subprocess.run(
        [str(venv_python()), "-m", "pip", "install", "--quiet", f"label-studio=={LS_VERSION}"],
        check=True,
    )
    seconds = time.monotonic() - start
    found = installed_version()
    if found != LS_VERSION:
        raise BenchError(f"after pip install, {VENV} has label-studio {found}")
    console.print(f"Installed in {seconds:.0f} s")
    return {"version": found, "installed_now": True, "install_seconds": seconds}


# --------------------------------------------------------------------------------------------
# PostgreSQL database
# --------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Postgres:
    """Where Label Studio's PostgreSQL database lives."""

    host: str
    port: int
    user: str
    database: str

    def admin_sql(self, statements: Sequence[str], database: str = "postgres") -> list[Any]:
        """Run statements with autocommit on ``database``; return the first column of each."""
        try:
            import psycopg
        except ImportError:
            return self._psql(statements, database)
        out: list[Any] = []
        dsn = f"host={self.host} port={self.port} user={self.user} dbname={database}"
        with psycopg.connect(dsn, autocommit=True, connect_timeout=10) as conn:
            for statement in statements:
                cursor = conn.execute(statement)
                row = cursor.fetchone() if cursor.description else None
                out.append(row[0] if row else None)
        return out

    def _psql(self, statements: Sequence[str], database: str) -> list[Any]:
        out: list[Any] = []
        for statement in statements:
            done = subprocess.run(
                [
                    *("psql", "-h", self.host, "-p", str(self.port), "-U", self.user),
                    *("-d", database, "-v", "ON_ERROR_STOP=1", "-Atc", statement),
                ],
                capture_output=True,
                text=True,
                check=True,
            )
            out.append(done.stdout.strip() or None)
        return out

    @contextmanager
    def fresh_database(self, console: Console) -> Iterator[None]:
        """Create the database empty; drop it on the way out, whatever happened."""
        if not re.fullmatch(r"ls_[a-z0-9_]+", self.database):
            raise BenchError(
                f"refusing database name {self.database!r}: it must match ls_[a-z0-9_]+"
            )
        drop = f'DROP DATABASE IF EXISTS "{self.database}" WITH (FORCE)'
        self.admin_sql([drop, f'CREATE DATABASE "{self.database}"'])
        console.print(f"PostgreSQL: created database {self.database}")
        try:
            yield
        finally:
            try:
                self.admin_sql([drop])
                console.print(f"PostgreSQL: dropped database {self.database}")
            except Exception as exc:
                console.print(f"[red]PostgreSQL: could not drop {self.database}: {exc}[/red]")

    def facts(self) -> dict[str, Any]:
        version, autovacuum = self.admin_sql(["SHOW server_version", "SHOW autovacuum"])
        return {"server_version": version, "autovacuum": autovacuum}


# --------------------------------------------------------------------------------------------
# Label Studio server
# --------------------------------------------------------------------------------------------


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def server_env(backend: str, data_dir: Path, pg: Postgres | None) -> dict[str, str]:
    """A clean environment for Label Studio: only what it needs, nothing that reaches out."""
    env = {
        "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
        "HOME": str(data_dir),
        "LANG": "C.UTF-8",
        "LC_ALL": "C.UTF-8",
        "PYTHONUNBUFFERED": "1",
        "LABEL_STUDIO_BASE_DATA_DIR": str(data_dir),
        "LABEL_STUDIO_USERNAME": ADMIN_EMAIL,
        "LABEL_STUDIO_PASSWORD": ADMIN_PASSWORD,
        "LABEL_STUDIO_USER_TOKEN": ADMIN_TOKEN,
        "LABEL_STUDIO_ENABLE_LEGACY_API_TOKEN": "true",
        "LABEL_STUDIO_DISABLE_SIGNUP_WITHOUT_LINK": "true",
        "COLLECT_ANALYTICS": "false",
        "SENTRY_DSN": "",
        "FRONTEND_SENTRY_DSN": "",
        "FEATURE_FLAGS_OFFLINE": "true",
        "APP_WEBSERVER": "uwsgi",  # only skips the PyPI "newer version" check at start-up
    }
    if backend == "sqlite":
        env["DJANGO_DB"] = "sqlite"
        env["DATABASE_NAME"] = str(data_dir / "label_studio.sqlite3")
    else:
        assert pg is not None
        env.update(
            {
                "DJANGO_DB": "default",
                "POSTGRE_NAME": pg.database,
                "POSTGRE_USER": pg.user,
                "POSTGRE_PASSWORD": "",
                "POSTGRE_HOST": pg.host,
                "POSTGRE_PORT": str(pg.port),
            }
        )
    return env


@dataclass
class Server:
    """A running Label Studio."""

    base_url: str
    pid: int
    startup_s: float
    log: Path


@contextmanager
def labelstudio_server(
    backend: str, pg: Postgres | None, startup_timeout: float, nice: int, console: Console
) -> Iterator[Server]:
    """Start ``label-studio start`` on loopback; stop its process group on the way out.

    A non-zero ``nice`` sets the scheduling priority of the server's process group.
    """
    data_dir = DATA / backend
    if data_dir.exists():
        shutil.rmtree(data_dir)
    data_dir.mkdir(parents=True)
    port = free_port()
    log_path = data_dir / "server.log"
    command = [
        str(VENV / "bin" / "label-studio"),
        "start",
        "--no-browser",
        "--internal-host",
        "127.0.0.1",
        "--port",
        str(port),
        "--enable-legacy-api-token",
    ]
    start = time.monotonic()
    with log_path.open("wb") as log:
        proc = subprocess.Popen(
            command,
            cwd=data_dir,
            env=server_env(backend, data_dir, pg),
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    if nice:
        set_priority(proc.pid, nice, console)
    base_url = f"http://127.0.0.1:{port}"
    console.print(f"Label Studio ({backend}): pid {proc.pid}, {base_url}, log {log_path}")
    try:
        wl.wait_healthy(base_url, startup_timeout, lambda: proc.poll() is None)
        startup = time.monotonic() - start
        console.print(f"Label Studio ({backend}): healthy after {startup:.0f} s")
        yield Server(base_url, proc.pid, startup, log_path)
    except RuntimeError as exc:
        tail = log_path.read_text(errors="replace")[-1500:]
        raise BenchError(f"{exc}; end of {log_path}:\n{tail}") from exc
    finally:
        stop_process_group(proc)
        console.print(f"Label Studio ({backend}): stopped")


def set_priority(pid: int, nice: int, console: Console) -> None:
    """Give the server's process group, and its session's scheduling group, ``nice``.

    With autogroup scheduling (``/proc/sys/kernel/sched_autogroup_enabled``) the CPU is shared
    between sessions first, so a process's own nice value only counts within its session: the
    server leads a session of its own, whose autogroup gets the same nice value.
    """
    os.setpriority(os.PRIO_PGRP, pid, nice)
    try:
        Path(f"/proc/{pid}/autogroup").write_text(f"{nice}\n")
    except OSError as exc:
        console.print(f"[yellow]could not set the autogroup nice value: {exc}[/yellow]")


def stop_process_group(proc: subprocess.Popen[bytes]) -> None:
    """SIGTERM the server's own process group (it leads it), then SIGKILL if it lingers."""
    if proc.poll() is not None:
        return
    for sig, wait in ((signal.SIGTERM, 15.0), (signal.SIGKILL, 5.0)):
        try:
            os.killpg(proc.pid, sig)
        except ProcessLookupError:
            return
        try:
            proc.wait(timeout=wait)
            return
        except subprocess.TimeoutExpired:
            continue


# --------------------------------------------------------------------------------------------
# One backend
# --------------------------------------------------------------------------------------------


def run_backend(
    backend: str, args: argparse.Namespace, pg: Postgres | None, console: Console
) -> dict[str, Any]:
    """Serve Label Studio on ``backend``, run the workload, return its figures."""
    with labelstudio_server(backend, pg, args.startup_timeout, args.nice, console) as server:
        admin = wl.Client(server.base_url, ADMIN_TOKEN)
        try:
            admin.expect(200, "GET", "/api/current-user/whoami")
            version = admin.expect(200, "GET", "/api/version/").json()
            t0 = time.monotonic()
            tokens = wl.create_annotators(server.base_url, admin, args.reviewers)
            annotators_s = time.monotonic() - t0
            project = wl.create_project(admin, f"loopwise comparison ({backend})")
            project_id = int(project["id"])
            console.print(
                f"Label Studio ({backend}): project {project_id}, {len(tokens)} annotators "
                f"({annotators_s:.0f} s); importing ..."
            )
            plan = wl.ImportPlan(args.batches_1000, args.batches_100, args.singles)
            maker = wl.TaskMaker(wl.load_texts())
            busy_before_import = before_phase("import", args.wait_idle, console)
            with wl.cpu_meter(server.pid, backend == "postgres") as import_cpu:
                imported = wl.import_tasks(
                    admin, project_id, maker, plan, server.pid, backend == "postgres"
                )
            for key, fig in imported.items():
                console.print(
                    f"  batches of {key}: {fig['tasks_per_s']:,.1f} tasks/s "
                    f"(p50 {fig['request_p50_ms']:.0f} ms, p99 {fig['request_p99_ms']:.0f} ms "
                    f"per request; server {fmt(fig['server_cpu_ms_per_task'])} ms CPU per task, "
                    f"{fmt(fig['server_cores_used'])} cores)"
                )
            analyzed = False
            if pg is not None and not args.no_analyze and pg.facts()["autovacuum"] == "off":
                pg.admin_sql(["ANALYZE"], database=pg.database)
                analyzed = True
            counts_before = wl.project_counts(admin, project_id)
            busy_before_review = before_phase("review", args.wait_idle, console)
            console.print(
                f"Label Studio ({backend}): {args.reviewers} annotators "
                f"for {args.seconds:.0f} s ..."
            )
            reviewed = wl.review(
                server.base_url,
                ADMIN_TOKEN,
                tokens,
                project_id,
                args.seconds,
                server.pid,
                backend == "postgres",
            )
            counts_after = wl.project_counts(admin, project_id)
            console.print(
                f"  next p50 {fmt(reviewed['next_p50_ms'])} ms, p99 {fmt(reviewed['next_p99_ms'])} "
                f"ms; {fmt(reviewed['annotations_per_s'])} annotations/s; "
                f"{reviewed['over_annotated']} tasks over the overlap; "
                f"{reviewed['double_handouts']} handed to two at once; "
                f"{reviewed['errors']} errors"
            )
        finally:
            admin.close()
    return {
        "backend": backend,
        "server": "label-studio start (Django development server, threaded), one process",
        "nice": args.nice,
        "version": version,
        "startup_s": server.startup_s,
        "annotators_setup_s": annotators_s,
        "project": {
            key: project.get(key)
            for key in ("id", "maximum_annotations", "sampling", "show_overlap_first", "skip_queue")
        },
        "analyzed": analyzed,
        "import": {
            **imported,
            "cpu": import_cpu.figures,
            "busy_before": busy_before_import,
            "plan": plan.__dict__,
        },
        "review": {**reviewed, "busy_before": busy_before_review},
        "counts_before_review": counts_before,
        "counts_after_review": counts_after,
        # The loopwise benchmark's key names, for the side-by-side.
        "bulk_items_per_s": {key: fig["tasks_per_s"] for key, fig in imported.items()},
        "single_p50_ms": imported.get("1", {}).get("request_p50_ms"),
        "single_p99_ms": imported.get("1", {}).get("request_p99_ms"),
        "next_p50_ms": reviewed["next_p50_ms"],
        "next_p99_ms": reviewed["next_p99_ms"],
        "submit_p99_ms": reviewed["submit_p99_ms"],
        "claim_submit_p99_ms": reviewed["next_submit_p99_ms"],
        "annotations_per_s": reviewed["annotations_per_s"],
        "over_annotated": reviewed["over_annotated"],
        "double_handouts": reviewed["double_handouts"],
        "errors": reviewed["errors"],
        "client_cpu_share": reviewed["cpu"].get("client_cpu_share"),
    }


def before_phase(phase: str, wait: float, console: Console) -> float | None:
    """Wait for a quiet machine (``--wait-idle``); say so when other work keeps it busy."""
    share = wl.quiet_machine(wait)
    if share is not None and share >= 0.15:
        console.print(
            f"[yellow]  the machine is {share:.0%} busy with other work before the {phase} "
            "phase: its figures will be low[/yellow]"
        )
    return share


def run_labelstudio(args: argparse.Namespace, result: dict[str, Any], console: Console) -> bool:
    """Install (or reuse) Label Studio and run every requested backend, filling ``result``.

    A backend that fails gets ``{"error": ...}`` and the next one still runs; returns whether
    all succeeded.
    """
    result["machine"] = machine_facts()
    result["install"] = ensure_labelstudio(args.skip_install, console)
    pg = Postgres(args.pg_host, args.pg_port, args.pg_user, args.pg_database)
    ok = True
    for backend in args.backends:
        console.rule(f"Label Studio {LS_VERSION}, {backend}")
        started = time.monotonic()
        try:
            if backend == "postgres":
                result["postgres_server"] = pg.facts()
                with pg.fresh_database(console):
                    result[backend] = run_backend(backend, args, pg, console)
            else:
                result[backend] = run_backend(backend, args, None, console)
        except (BenchError, wl.HTTPFailure, OSError, ValueError, KeyError) as exc:
            console.print(f"[red]Label Studio ({backend}) failed: {exc}[/red]")
            result[backend] = {"backend": backend, "error": f"{type(exc).__name__}: {exc}"}
            ok = False
        result[backend]["total_s"] = time.monotonic() - started
    return ok


# --------------------------------------------------------------------------------------------
# loopwise
# --------------------------------------------------------------------------------------------


def run_loopwise(args: argparse.Namespace, console: Console) -> dict[str, Any] | None:
    """loopwise's figures: from ``--loopwise-json``, or by running ``bench/api.py``."""
    if args.loopwise_json:
        data = json.loads(Path(args.loopwise_json).read_text())
        if not isinstance(data, dict):
            return None
        ours: dict[str, Any] = data.get("loopwise") or data
        return ours
    if args.no_loopwise:
        return None
    script = BENCH / "api.py"
    if not script.exists():
        console.print("[yellow]bench/api.py is not there: no loopwise figures[/yellow]")
        return None
    python = REPO / ".venv" / "bin" / "python"
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp) / "loopwise.json"
        command = [str(python if python.exists() else sys.executable), str(script)]
        command += ["--backends", ",".join(args.backends), "--seconds", str(args.seconds)]
        command += ["--reviewers", str(args.reviewers), "--json", str(out)]
        command += shlex.split(args.loopwise_args)
        console.rule("loopwise (bench/api.py)")
        console.print(" ".join(shlex.quote(c) for c in command))
        done = subprocess.run(command, cwd=REPO, check=False)
        if not out.exists():
            console.print(f"[red]bench/api.py exited {done.returncode} and wrote no JSON[/red]")
            return None
        if done.returncode != 0:
            console.print(f"[yellow]bench/api.py exited {done.returncode}[/yellow]")
        loaded: dict[str, Any] = json.loads(out.read_text())
        return loaded


# --------------------------------------------------------------------------------------------
# Report
# --------------------------------------------------------------------------------------------


def pick(data: dict[str, Any] | None, *paths: str) -> Any:
    """The first of the dotted ``paths`` present (and not None) in ``data``."""
    for path in paths:
        node: Any = data
        for part in path.split("."):
            node = node.get(part) if isinstance(node, dict) else None
        if node is not None:
            return node
    return None


def fmt(value: Any) -> str:
    if value is None:
        return "-"
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, int):
        return f"{value:,d}"
    if isinstance(value, float):
        if abs(value) >= 100:
            return f"{value:,.0f}"
        return f"{value:.2f}" if abs(value) < 1 else f"{value:.1f}"
    return str(value)


# (label, issue key, Label Studio paths, loopwise paths)
ROWS: tuple[tuple[str, str | None, tuple[str, ...], tuple[str, ...]], ...] = (
    ("import, batches of 1,000 /s", "import_1000", ("bulk_items_per_s.1000",),
     ("bulk_items_per_s.1000",)),
    ("import, batches of 100 /s", "import_100", ("bulk_items_per_s.100",),
     ("bulk_items_per_s.100",)),
    ("import, one at a time /s", "import_1", ("bulk_items_per_s.1",),
     ("bulk_items_per_s.1",)),
    ("  one at a time, p50 (ms)", None, ("single_p50_ms",), ("single_p50_ms",)),
    ("  one at a time, p99 (ms)", "single_p99", ("single_p99_ms",),
     ("single_p99_ms",)),
    ("concurrent reviewers", None, ("review.reviewers",), ("reviewers",)),
    ("next task / claim p50 (ms)", None, ("next_p50_ms",),
     ("claim_p50_ms", "p50_claim_ms", "next_p50_ms")),
    ("next task / claim p99 (ms)", "next_p99", ("next_p99_ms",),
     ("claim_p99_ms", "p99_claim_ms", "next_p99_ms")),
    ("submit p99 (ms)", None, ("submit_p99_ms",),
     ("submit_p99_ms", "p99_submit_ms", "verdict_p99_ms")),
    ("next + submit p99 (ms)", None, ("claim_submit_p99_ms",), ("claim_submit_p99_ms",)),
    ("annotations/s, all reviewers", "annotations_per_s", ("annotations_per_s",),
     ("annotations_per_s", "reviews_per_s", "verdicts_per_s", "claims_per_s")),
    ("tasks over the overlap (max 1)", None, ("over_annotated",),
     ("over_annotated", "over_answered", "checks.over_answered")),
    ("tasks handed to two at once", None, ("double_handouts",),
     ("checks.claimed_while_held", "double_handouts")),
    ("  the same, or maybe (unordered)", None, ("review.double_handouts_possible",), ()),
    ("tasks handed out after annotated", None, ("review.handed_after_annotated",),
     ("checks.claimed_after_settled",)),
    ("all double-assignment checks", None, (), ("double_assignments",)),
    ("request errors", None, ("errors",), ("errors",)),
    ("server CPU per task, batches of 1,000 (ms)", None, ("import.1000.server_cpu_ms_per_task",),
     ("ingest.bulk.1000.cpu.server_cpu_ms_per_item",)),
    ("server CPU per task, one at a time (ms)", None, ("import.1.server_cpu_ms_per_task",),
     ("ingest.single.cpu.server_cpu_ms_per_item",)),
    ("server CPU per next + submit (ms)", None, ("review.server_cpu_ms_per_annotation",),
     ("review.think_0.cpu.server_cpu_ms_per_pair",)),
    ("client CPU (machine share)", None, ("client_cpu_share",),
     ("client_cpu_share", "client_cpu", "cpu.client_cpu_share")),
    ("other work during review (cores)", None, ("review.cpu.other_cores",),
     ("review.think_0.cpu.other_cores",)),
)  # fmt: skip


def comparison_table(backend: str, ls: dict[str, Any] | None, ours: dict[str, Any] | None) -> Table:
    title = {"sqlite": "SQLite", "postgres": "PostgreSQL"}[backend]
    table = Table(title=f"{title}: Label Studio {LS_VERSION} and loopwise, same workload")
    table.add_column("figure")
    table.add_column("Label Studio\n(issue)", justify="right")
    table.add_column("Label Studio\n(measured)", justify="right")
    table.add_column("loopwise", justify="right")
    for label, issue_key, ls_paths, our_paths in ROWS:
        issue = ISSUE_FIGURES[backend].get(issue_key, "") if issue_key else ""
        table.add_row(label, issue, fmt(pick(ls, *ls_paths)), fmt(pick(ours, *our_paths)))
    return table


def machine_facts() -> dict[str, Any]:
    memory = None
    try:
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemTotal:"):
                memory = round(int(line.split()[1]) / 1024 / 1024, 1)
    except OSError:
        pass
    return {
        "load_average": os.getloadavg(),
        "cores": os.cpu_count(),
        "memory_gib": memory,
        "platform": platform.platform(),
        "client_python": platform.python_version(),
        "date": datetime.now(UTC).isoformat(timespec="seconds"),
    }


# --------------------------------------------------------------------------------------------
# Main
# --------------------------------------------------------------------------------------------


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description="Run the import and review workload against Label Studio "
        f"{LS_VERSION} and loopwise and print both side by side."
    )
    parser.add_argument("--backends", default="sqlite,postgres", help="comma-separated")
    parser.add_argument("--seconds", type=float, default=30.0, help="review run length")
    parser.add_argument("--reviewers", type=int, default=32, help="concurrent annotators")
    parser.add_argument("--batches-1000", type=int, default=5, help="imports of 1,000 tasks")
    parser.add_argument("--batches-100", type=int, default=20, help="imports of 100 tasks")
    parser.add_argument("--singles", type=int, default=300, help="imports of one task")
    parser.add_argument("--json", help="write every figure to this file")
    parser.add_argument("--skip-install", action="store_true", help="never pip install")
    parser.add_argument("--startup-timeout", type=float, default=600.0)
    parser.add_argument(
        "--wait-idle",
        type=float,
        default=300.0,
        help="before each timed phase, wait up to this many seconds for the machine to be "
        "under 15%% busy with other work (the share is recorded either way)",
    )
    parser.add_argument(
        "--nice",
        type=int,
        default=0,
        help="scheduling priority of the Label Studio server and this client (negative: ahead "
        "of other work on a shared machine; PostgreSQL's processes are left as they are)",
    )
    parser.add_argument("--pg-host", default="127.0.0.1")
    parser.add_argument("--pg-port", type=int, default=5432)
    parser.add_argument("--pg-user", default="postgres")
    parser.add_argument("--pg-database", default="ls_bench", help="created and dropped")
    parser.add_argument("--no-analyze", action="store_true", help="no ANALYZE after import")
    parser.add_argument("--labelstudio-json", help="take Label Studio's figures from this file")
    parser.add_argument("--loopwise-json", help="take loopwise's figures from this file")
    parser.add_argument("--no-loopwise", action="store_true", help="do not run bench/api.py")
    parser.add_argument(
        "--loopwise-args",
        default="",
        help='extra arguments for bench/api.py, as one string: --loopwise-args="--quick"',
    )
    args = parser.parse_args(argv)
    args.backends = [b.strip() for b in args.backends.split(",") if b.strip()]
    unknown = set(args.backends) - set(BACKENDS)
    if unknown or not args.backends:
        parser.error(f"--backends takes {', '.join(BACKENDS)}; got {args.backends}")
    if args.reviewers < 1 or args.seconds <= 0:
        parser.error("--reviewers and --seconds must be positive")
    return args


def _terminate(signum: int, frame: FrameType | None) -> None:
    raise SystemExit(128 + signum)  # unwind: servers stop, the database is dropped


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    console = Console(width=max(Console().width, 100))
    signal.signal(signal.SIGTERM, _terminate)
    if args.nice:
        os.setpriority(os.PRIO_PROCESS, 0, args.nice)
    started = time.monotonic()
    report: dict[str, Any] = {
        "machine": machine_facts(),
        "protocol": {
            "nice": args.nice,
            "wait_idle_s": args.wait_idle,
            "reviewers": args.reviewers,
            "seconds": args.seconds,
            "batches_1000": args.batches_1000,
            "batches_100": args.batches_100,
            "singles": args.singles,
            "see": "bench/labelstudio_workload.py docstring",
        },
        "issue_labelstudio_figures": ISSUE_FIGURES,
    }
    ok = True
    try:
        if args.labelstudio_json:
            loaded = json.loads(Path(args.labelstudio_json).read_text())
            report["labelstudio"] = loaded.get("labelstudio", loaded)
        else:
            report["labelstudio"] = {}
            ok = run_labelstudio(args, report["labelstudio"], console)
        report["loopwise"] = run_loopwise(args, console)
    except (BenchError, subprocess.CalledProcessError, OSError) as exc:
        console.print(f"[red]failed: {exc}[/red]")
        ok = False
    finally:
        report["total_seconds"] = time.monotonic() - started
        if args.json:
            Path(args.json).parent.mkdir(parents=True, exist_ok=True)
            Path(args.json).write_text(json.dumps(report, indent=2, default=str) + "\n")
    ls = report.get("labelstudio") or {}
    ours = report.get("loopwise") or {}
    for backend in args.backends:
        if backend in ls or backend in ours:
            console.print(comparison_table(backend, ls.get(backend), ours.get(backend)))
            for name, side in (("Label Studio", ls), ("loopwise", ours)):
                error = pick(side, f"{backend}.error")
                if error:
                    console.print(f"[red]{name} on {backend} failed: {error}[/red]")
    if args.json:
        console.print(f"Figures written to {args.json}")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
