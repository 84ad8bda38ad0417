"""The import and review workload that ``bench/compare_labelstudio.py`` runs against Label Studio.

Everything here talks plain HTTP/1.1 (``http.client``, keep-alive, one connection per thread) to
a Label Studio server on loopback; nothing imports Label Studio itself, so this module runs in
the repository's own virtual environment while Label Studio runs in its own.

Workload (the same kind of work as ``bench/api.py`` runs against loopwise):

1. **Set-up.** A text-classification project (``Text`` + ``Choices`` ``ham``/``spam``, single
   choice), ``maximum_annotations = 1`` (one annotation per task, the project's overlap) and
   Label Studio's default sampling (sequential). ``reviewers`` annotator accounts are created
   the way people join: the admin's invite link (``GET /api/invite``), the sign-up form
   (``POST /user/signup/?token=…`` with its CSRF cookie), then each account's own API token
   (``GET /api/current-user/token`` in that session). Every annotator thus calls the API as
   itself with its own legacy API token (``Authorization: Token …``).
2. **Import.** SMS spam texts (the bundled data set, cycled), each task carrying one prediction
   (a ``choices`` result, the true label 85% of the time, and a score in [0.5, 0.99]), through
   ``POST /api/projects/{id}/import`` by one client, one request after the other: batches of
   1,000, batches of 100, then one task per request. An untimed import of 10 tasks warms the
   server up first. ``tasks_per_s`` is tasks over the summed request times (client side,
   from sending the request to reading the whole answer); every answer must be ``201`` with the
   right ``task_count``.
3. **Review.** ``reviewers`` threads, each with its own connection and token, start together
   (a barrier) and loop for ``seconds``: ``GET /api/projects/{id}/next/`` (timed: next-task
   latency), then ``POST /api/tasks/{task}/annotations/`` with a choice (timed: submit latency;
   the prediction's choice 85% of the time, the other one otherwise). No think time. A reviewer
   that got a task always submits before stopping. ``annotations_per_s`` is accepted (``201``)
   annotations over the wall time from the barrier to the last reviewer's stop.
4. **Checks.** ``over_annotated``: tasks that ended with more non-cancelled annotations than
   ``maximum_annotations``, read back from the server (``GET /api/tasks/{id}/annotations/``
   for every task that any reviewer was handed). From the reviewers' own timestamps (one
   monotonic clock, one process): ``double_handouts`` counts tasks that two reviewers held at
   the same time, each having received it from ``/next`` and neither having yet sent its
   annotation (the intervals from receiving the task to sending the annotation overlap), so the
   server certainly handed the task to the second before it could know of the first's
   annotation; ``double_handouts_possible`` widens each interval to [sending ``/next``,
   receiving the submit's answer], so it also counts hand-outs that the timestamps cannot
   order; ``handed_after_annotated`` counts tasks handed out after another reviewer's
   annotation of them had been accepted.
"""

from __future__ import annotations

import csv
import http.client
import json
import os
import random
import re
import statistics
import threading
import time
import urllib.parse
from collections import Counter, defaultdict
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

LABELS = ("ham", "spam")
LABEL_CONFIG = (
    "<View>"
    '<Text name="text" value="$text"/>'
    '<Choices name="label" toName="text" choice="single" showInLine="true">'
    '<Choice value="ham"/><Choice value="spam"/>'
    "</Choices>"
    "</View>"
)
MAXIMUM_ANNOTATIONS = 1
MODEL_VERSION = "bench-model-1"
REVIEWER_PASSWORD = "Bench-reviewer-pass-1"  # a throwaway local account
DATASET = Path(__file__).resolve().parent.parent / "src" / "loopwise" / "datasets" / "sms_spam.csv"


# --------------------------------------------------------------------------------------------
# HTTP
# --------------------------------------------------------------------------------------------


class HTTPFailure(RuntimeError):
    """An answer that the workload cannot go on from (wrong status or body)."""


@dataclass
class Answer:
    """One HTTP answer: status, headers, body and the client-side time it took."""

    status: int
    body: bytes
    headers: http.client.HTTPMessage
    seconds: float

    def json(self) -> Any:
        return json.loads(self.body) if self.body else None

    def text(self, limit: int = 300) -> str:
        return self.body[:limit].decode("utf-8", "replace")


class Client:
    """A keep-alive HTTP/1.1 client for one thread, with a token and a small cookie jar."""

    def __init__(self, base_url: str, token: str | None = None, timeout: float = 120.0) -> None:
        parsed = urllib.parse.urlsplit(base_url)
        if parsed.scheme != "http" or not parsed.hostname:
            raise ValueError(f"expected an http:// URL, got {base_url!r}")
        self.host = parsed.hostname
        self.port = parsed.port or 80
        self.token = token
        self.timeout = timeout
        self.cookies: dict[str, str] = {}
        self._conn: http.client.HTTPConnection | None = None
        self._used = False

    def close(self) -> None:
        if self._conn is not None:
            self._conn.close()
            self._conn = None

    def _connection(self) -> http.client.HTTPConnection:
        if self._conn is None:
            self._conn = http.client.HTTPConnection(self.host, self.port, timeout=self.timeout)
            self._used = False
        return self._conn

    def request(
        self,
        method: str,
        path: str,
        *,
        json_body: Any = None,
        form: dict[str, str] | None = None,
        headers: dict[str, str] | None = None,
    ) -> Answer:
        """Send one request and read the whole answer; time it from send to last byte.

        A keep-alive connection that the server closed while idle is reopened and the request
        sent again once (the server had not read it: it answered nothing).
        """
        body: bytes | None = None
        sent = {"Accept": "application/json"}
        if self.token:
            sent["Authorization"] = f"Token {self.token}"
        if json_body is not None:
            body = json.dumps(json_body).encode()
            sent["Content-Type"] = "application/json"
        elif form is not None:
            body = urllib.parse.urlencode(form).encode()
            sent["Content-Type"] = "application/x-www-form-urlencoded"
        if self.cookies:
            sent["Cookie"] = "; ".join(f"{k}={v}" for k, v in self.cookies.items())
        sent.update(headers or {})
        for attempt in (1, 2):
            conn = self._connection()
            reused = self._used
            start = time.perf_counter()
            try:
                conn.request(method, path, body=body, headers=sent)
                response = conn.getresponse()
                data = response.read()
            except (http.client.RemoteDisconnected, BrokenPipeError, ConnectionResetError):
                self.close()
                if attempt == 1 and reused:
                    continue
                raise
            except Exception:
                self.close()
                raise
            elapsed = time.perf_counter() - start
            self._used = True
            if response.will_close:
                self.close()
            for cookie in response.headers.get_all("Set-Cookie") or []:
                name, _, rest = cookie.partition("=")
                self.cookies[name.strip()] = rest.split(";", 1)[0]
            return Answer(response.status, data, response.headers, elapsed)
        raise AssertionError("unreachable")

    def expect(self, status: int, method: str, path: str, **kwargs: Any) -> Answer:
        """:meth:`request`, raising :class:`HTTPFailure` unless the answer has ``status``."""
        answer = self.request(method, path, **kwargs)
        if answer.status != status:
            raise HTTPFailure(
                f"{method} {path}: expected {status}, got {answer.status}: {answer.text()}"
            )
        return answer


def wait_healthy(
    base_url: str, timeout: float, alive: Callable[[], bool], interval: float = 0.5
) -> float:
    """Poll ``/health`` until it answers ``200``; return the seconds waited.

    Raises ``RuntimeError`` when ``alive()`` turns false (the server process exited) or after
    ``timeout`` seconds.
    """
    start = time.monotonic()
    while True:
        if not alive():
            raise RuntimeError("the Label Studio process exited before it was healthy")
        client = Client(base_url, timeout=5.0)
        try:
            if client.request("GET", "/health").status == 200:
                return time.monotonic() - start
        except OSError:
            pass
        finally:
            client.close()
        if time.monotonic() - start > timeout:
            raise RuntimeError(f"Label Studio did not answer /health within {timeout:.0f} s")
        time.sleep(interval)


# --------------------------------------------------------------------------------------------
# Data
# --------------------------------------------------------------------------------------------


def load_texts(path: Path = DATASET) -> list[tuple[str, str]]:
    """Distinct (text, label) pairs of the bundled SMS spam data set, in file order.

    The same reading as ``loopwise.datasets.load_sms_spam`` (texts stripped, a repeated text
    keeps its first label), without importing loopwise.
    """
    pairs: list[tuple[str, str]] = []
    seen: set[str] = set()
    with path.open(encoding="utf-8", newline="") as handle:
        for row in csv.DictReader(handle):
            text, label = (row.get("text") or "").strip(), (row.get("label") or "").strip()
            if text and label and text not in seen:
                seen.add(text)
                pairs.append((text, label))
    if not pairs:
        raise RuntimeError(f"no texts in {path}")
    return pairs


def choice_result(label: str) -> list[dict[str, Any]]:
    """A Label Studio ``choices`` result picking ``label``."""
    return [
        {"from_name": "label", "to_name": "text", "type": "choices", "value": {"choices": [label]}}
    ]


class TaskMaker:
    """Makes tasks with one prediction each, cycling through the data set."""

    def __init__(self, pairs: Sequence[tuple[str, str]], seed: int = 7) -> None:
        self.pairs = pairs
        self.rng = random.Random(seed)
        self.next_index = 0

    def make(self, n: int) -> list[dict[str, Any]]:
        tasks = []
        for _ in range(n):
            text, label = self.pairs[self.next_index % len(self.pairs)]
            self.next_index += 1
            predicted = label if self.rng.random() < 0.85 else other_label(label)
            tasks.append(
                {
                    "data": {"text": text},
                    "predictions": [
                        {
                            "model_version": MODEL_VERSION,
                            "score": round(self.rng.uniform(0.5, 0.99), 4),
                            "result": choice_result(predicted),
                        }
                    ],
                }
            )
        return tasks


def other_label(label: str) -> str:
    return LABELS[1] if label == LABELS[0] else LABELS[0]


# --------------------------------------------------------------------------------------------
# Statistics and CPU
# --------------------------------------------------------------------------------------------


def percentile(values: Sequence[float], q: float) -> float | None:
    """Linear-interpolated percentile (as numpy's default) of ``values``; None when empty."""
    if not values:
        return None
    ordered = sorted(values)
    pos = (len(ordered) - 1) * q / 100.0
    lo = int(pos)
    hi = min(lo + 1, len(ordered) - 1)
    return ordered[lo] + (ordered[hi] - ordered[lo]) * (pos - lo)


def latency_summary(seconds: Sequence[float], prefix: str) -> dict[str, float | int | None]:
    """``{prefix}_p50_ms`` … ``{prefix}_max_ms`` and ``{prefix}_count`` from durations in s."""
    ms = [s * 1000.0 for s in seconds]
    return {
        f"{prefix}_count": len(ms),
        f"{prefix}_p50_ms": percentile(ms, 50),
        f"{prefix}_p90_ms": percentile(ms, 90),
        f"{prefix}_p99_ms": percentile(ms, 99),
        f"{prefix}_max_ms": max(ms) if ms else None,
        f"{prefix}_mean_ms": statistics.fmean(ms) if ms else None,
    }


CLOCK_TICKS = 100.0


def _proc_cpu_seconds(pid: int, reaped_children: bool = False) -> float | None:
    """User + system CPU seconds of one process (all its threads), from ``/proc``; with
    ``reaped_children``, plus those of its children that exited and were waited for."""
    try:
        raw = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    fields = raw[raw.rindex(")") + 2 :].split()
    ticks = int(fields[11]) + int(fields[12])
    if reaped_children:
        ticks += int(fields[13]) + int(fields[14])
    return ticks / CLOCK_TICKS


def _children(pid: int) -> list[int]:
    try:
        tasks = Path(f"/proc/{pid}/task").iterdir()
        found: list[int] = []
        for task in tasks:
            text = (task / "children").read_text().split()
            found.extend(int(t) for t in text)
        return found
    except OSError:
        return []


def process_tree_cpu(pid: int) -> float:
    """CPU seconds of ``pid`` and its living descendants."""
    total, stack, seen = 0.0, [pid], set()
    while stack:
        current = stack.pop()
        if current in seen:
            continue
        seen.add(current)
        total += _proc_cpu_seconds(current) or 0.0
        stack.extend(_children(current))
    return total


def postgres_cpu() -> float:
    """CPU seconds of every ``postgres`` process (all databases: other work counts).

    Label Studio opens a connection per request (Django's ``CONN_MAX_AGE = 0``), so backends
    come and go: the postmaster's reaped children's time counts those that have exited.
    """
    total = 0.0
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            raw = (entry / "stat").read_text()
        except OSError:
            continue
        if raw[raw.index("(") + 1 : raw.rindex(")")] == "postgres":
            total += _proc_cpu_seconds(int(entry.name), reaped_children=True) or 0.0
    return total


def machine_ticks() -> tuple[int, int] | None:
    """(busy, total) jiffies of the whole machine from ``/proc/stat``."""
    try:
        first = Path("/proc/stat").read_text().splitlines()[0].split()
    except OSError:
        return None
    values = [int(v) for v in first[1:]]
    idle = values[3] + (values[4] if len(values) > 4 else 0)
    return sum(values) - idle, sum(values)


def busy_share(seconds: float = 2.0) -> float | None:
    """The machine's busy share over the next ``seconds``."""
    before = machine_ticks()
    time.sleep(seconds)
    after = machine_ticks()
    if before is None or after is None or after[1] <= before[1]:
        return None
    return (after[0] - before[0]) / (after[1] - before[1])


def quiet_machine(wait: float, below: float = 0.15) -> float | None:
    """Wait up to ``wait`` seconds for the machine to be under ``below`` busy; return the last
    busy share seen (other work than this benchmark's, which is idle while this runs)."""
    deadline = time.monotonic() + wait
    while True:
        share = busy_share()
        if share is None or share < below or time.monotonic() >= deadline:
            return share


@dataclass
class CpuReport:
    """CPU use over one phase; filled in when the :func:`cpu_meter` block ends."""

    figures: dict[str, float | None] = field(default_factory=dict)


@contextmanager
def cpu_meter(server_pid: int | None, with_postgres: bool) -> Iterator[CpuReport]:
    """Measure wall time, the machine's busy share and the CPU of client, server and PostgreSQL.

    ``client_cpu_share`` and the others are CPU seconds over wall seconds times the number of
    cores, i.e. shares of the whole machine (2 cores here); ``other_share`` is the part of the
    machine's busy share that none of them used (on SQLite, PostgreSQL's CPU is not counted
    and so is part of it).
    """
    report = CpuReport()
    cores = os.cpu_count() or 1
    wall0, client0, ticks0 = time.monotonic(), time.process_time(), machine_ticks()
    server0 = process_tree_cpu(server_pid) if server_pid else None
    pg0 = postgres_cpu() if with_postgres else None
    try:
        yield report
    finally:
        wall = max(time.monotonic() - wall0, 1e-9)
        client = time.process_time() - client0
        ticks1 = machine_ticks()
        busy = None
        if ticks0 and ticks1 and ticks1[1] > ticks0[1]:
            busy = (ticks1[0] - ticks0[0]) / (ticks1[1] - ticks0[1])
        server = (
            process_tree_cpu(server_pid) - server0 if server_pid and server0 is not None else None
        )
        pg = postgres_cpu() - pg0 if pg0 is not None else None
        other = None
        if busy is not None:
            other = max(0.0, busy - (client + (server or 0.0) + (pg or 0.0)) / (wall * cores))
        report.figures = {
            "wall_s": wall,
            "cores": float(cores),
            "machine_busy": busy,
            "client_cpu_s": client,
            "client_cpu_share": client / (wall * cores),
            "server_cpu_s": server,
            "server_cpu_share": server / (wall * cores) if server is not None else None,
            "postgres_cpu_s": pg,
            "postgres_cpu_share": pg / (wall * cores) if pg is not None else None,
            # The machine's busy share that none of the three used: other work on the machine.
            "other_share": other,
            "other_cores": other * cores if other is not None else None,
        }


# --------------------------------------------------------------------------------------------
# Set-up: project and annotators
# --------------------------------------------------------------------------------------------


def create_project(admin: Client, title: str) -> dict[str, Any]:
    """Create the text-classification project; return Label Studio's project JSON."""
    answer = admin.expect(
        201,
        "POST",
        "/api/projects/",
        json_body={
            "title": title,
            "label_config": LABEL_CONFIG,
            "maximum_annotations": MAXIMUM_ANNOTATIONS,
        },
    )
    project: dict[str, Any] = answer.json()
    if project.get("maximum_annotations") != MAXIMUM_ANNOTATIONS:
        raise HTTPFailure(f"project overlap not set: {project.get('maximum_annotations')}")
    return project


_CSRF_INPUT = re.compile(r'name="csrfmiddlewaretoken"\s+value="([^"]+)"')


def sign_up(base_url: str, invite_path: str, email: str, password: str) -> str:
    """Join through the invite link's sign-up form as a person would; return the API token."""
    client = Client(base_url, timeout=60.0)
    try:
        page = client.expect(200, "GET", invite_path, headers={"Accept": "text/html"})
        csrf = client.cookies.get("csrftoken")
        match = _CSRF_INPUT.search(page.text(limit=1_000_000))
        form_token = match.group(1) if match else csrf
        if not csrf or not form_token:
            raise HTTPFailure("the sign-up page set no CSRF cookie")
        answer = client.request(
            "POST",
            invite_path,
            form={"csrfmiddlewaretoken": form_token, "email": email, "password": password},
            headers={"Accept": "text/html", "Referer": base_url + invite_path},
        )
        if answer.status != 302:
            raise HTTPFailure(f"sign-up of {email}: expected 302, got {answer.status}")
        token = client.expect(200, "GET", "/api/current-user/token").json()["token"]
        if not isinstance(token, str) or not token:
            raise HTTPFailure(f"no API token for {email}")
        return token
    finally:
        client.close()


def create_annotators(base_url: str, admin: Client, n: int) -> list[str]:
    """Create ``n`` annotator accounts through the invite link; return their API tokens.

    One after the other: on SQLite, Label Studio answers concurrent sign-ups with
    ``database is locked`` (500).
    """
    invite = admin.expect(200, "GET", "/api/invite").json()["invite_url"]
    emails = [f"annotator{i:02d}@bench.local" for i in range(1, n + 1)]
    tokens = [sign_up(base_url, invite, email, REVIEWER_PASSWORD) for email in emails]
    if len(set(tokens)) != n:
        raise HTTPFailure("annotators do not have distinct tokens")
    for token in tokens:
        client = Client(base_url, token)
        try:
            client.expect(200, "GET", "/api/current-user/whoami")
        finally:
            client.close()
    return tokens


# --------------------------------------------------------------------------------------------
# Import
# --------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class ImportPlan:
    """How many requests of each size the import phase sends."""

    batches_1000: int = 5
    batches_100: int = 20
    singles: int = 300
    warmup_tasks: int = 10

    def sizes(self) -> list[tuple[str, int, int]]:
        """(key, tasks per request, requests) for each timed step, in order."""
        return [
            ("1000", 1000, self.batches_1000),
            ("100", 100, self.batches_100),
            ("1", 1, self.singles),
        ]


def import_tasks(
    admin: Client,
    project_id: int,
    maker: TaskMaker,
    plan: ImportPlan,
    server_pid: int | None = None,
    with_postgres: bool = False,
) -> dict[str, Any]:
    """Run the import phase; return figures keyed by batch size ("1000", "100", "1").

    With ``server_pid``, each size also gets the server's CPU per task and the cores it used
    while the requests ran (1.0: one core busy, all that one Python process can use), and with
    ``with_postgres`` PostgreSQL's CPU per task.
    """
    path = f"/api/projects/{project_id}/import"
    if plan.warmup_tasks:
        admin.expect(201, "POST", path, json_body=maker.make(plan.warmup_tasks))
    results: dict[str, Any] = {}
    for key, size, requests in plan.sizes():
        if requests <= 0:
            continue
        durations: list[float] = []
        server_seconds = 0.0
        cpu_before = process_tree_cpu(server_pid) if server_pid else None
        pg_before = postgres_cpu() if with_postgres else None
        for _ in range(requests):
            tasks = maker.make(size)
            # One task per request goes in as a JSON object, as a client sending tasks one at a
            # time would; batches as a JSON list.
            body: Any = tasks[0] if size == 1 else tasks
            answer = admin.expect(201, "POST", path, json_body=body)
            reply = answer.json()
            if reply.get("task_count") != size or reply.get("prediction_count") != size:
                raise HTTPFailure(f"import of {size} tasks answered {answer.text()}")
            durations.append(answer.seconds)
            server_seconds += float(reply.get("duration") or 0.0)
        total = sum(durations)
        server_cpu = (
            process_tree_cpu(server_pid) - cpu_before
            if server_pid and cpu_before is not None
            else None
        )
        pg_cpu = postgres_cpu() - pg_before if pg_before is not None else None
        results[key] = {
            "tasks": size * requests,
            "requests": requests,
            "seconds": total,
            "tasks_per_s": size * requests / total,
            # Label Studio's own "duration" of each import (inside the view, without HTTP,
            # authentication and middleware): an upper bound that no client sees.
            "server_reported_seconds": server_seconds,
            "server_reported_tasks_per_s": (
                size * requests / server_seconds if server_seconds > 0 else None
            ),
            **latency_summary(durations, "request"),
            "server_cpu_ms_per_task": (
                server_cpu * 1000.0 / (size * requests) if server_cpu is not None else None
            ),
            "server_cores_used": server_cpu / total if server_cpu is not None else None,
            "postgres_cpu_ms_per_task": (
                pg_cpu * 1000.0 / (size * requests) if pg_cpu is not None else None
            ),
        }
    return results


def project_counts(admin: Client, project_id: int) -> dict[str, Any]:
    """Task, annotation and prediction counts that Label Studio reports for the project."""
    data = admin.expect(200, "GET", f"/api/projects/{project_id}/").json()
    keys = (
        "task_number",
        "total_annotations_number",
        "total_predictions_number",
        "num_tasks_with_annotations",
    )
    return {key: data.get(key) for key in keys}


# --------------------------------------------------------------------------------------------
# Review
# --------------------------------------------------------------------------------------------


@dataclass
class Hold:
    """One task handed to one reviewer by ``/next``, with the submit that followed."""

    reviewer: int
    task_id: int
    next_sent: float
    next_received: float
    submit_sent: float | None = None
    submit_received: float | None = None
    accepted: bool = False


@dataclass
class ReviewerLog:
    """What one reviewer thread saw."""

    next_s: list[float] = field(default_factory=list)
    submit_s: list[float] = field(default_factory=list)
    pair_s: list[float] = field(default_factory=list)
    holds: list[Hold] = field(default_factory=list)
    empty: int = 0
    errors: Counter[str] = field(default_factory=Counter)
    error_samples: list[str] = field(default_factory=list)
    stopped: float = 0.0

    def error(self, what: str, detail: str) -> None:
        self.errors[what] += 1
        if len(self.error_samples) < 5:
            self.error_samples.append(f"{what}: {detail[:300]}")


def reviewer_loop(
    index: int,
    base_url: str,
    token: str,
    project_id: int,
    barrier: threading.Barrier,
    seconds: float,
    seed: int,
) -> ReviewerLog:
    """One annotator: ``/next`` then submit, until ``seconds`` after the barrier."""
    log = ReviewerLog()
    client = Client(base_url, token)
    rng = random.Random(seed)
    try:
        client.expect(200, "GET", "/api/current-user/whoami")  # open the connection
        barrier.wait()
        deadline = time.perf_counter() + seconds
        while time.perf_counter() < deadline:
            sent = time.perf_counter()
            try:
                answer = client.request("GET", f"/api/projects/{project_id}/next/")
            except OSError as exc:
                log.error("next:transport", repr(exc))
                time.sleep(0.05)
                continue
            received = time.perf_counter()
            if answer.status == 404:
                log.empty += 1
                time.sleep(0.2)
                continue
            if answer.status != 200:
                log.error(f"next:{answer.status}", answer.text())
                time.sleep(0.05)
                continue
            log.next_s.append(answer.seconds)
            task = answer.json()
            hold = Hold(index, int(task["id"]), sent, received)
            log.holds.append(hold)
            label = predicted_label(task) or rng.choice(LABELS)
            if rng.random() >= 0.85:
                label = other_label(label)
            hold.submit_sent = time.perf_counter()
            try:
                submit = client.request(
                    "POST",
                    f"/api/tasks/{hold.task_id}/annotations/",
                    json_body={
                        "result": choice_result(label),
                        "lead_time": round(hold.submit_sent - received, 3),
                        "project": project_id,
                    },
                )
            except OSError as exc:
                log.error("submit:transport", repr(exc))
                continue
            hold.submit_received = time.perf_counter()
            if submit.status == 201:
                hold.accepted = True
                log.submit_s.append(submit.seconds)
                log.pair_s.append(hold.submit_received - sent)
            else:
                log.error(f"submit:{submit.status}", submit.text())
    except threading.BrokenBarrierError:
        log.error("barrier", "broken")
    except Exception as exc:
        log.error("reviewer", repr(exc))
    finally:
        log.stopped = time.perf_counter()
        client.close()
    return log


def predicted_label(task: dict[str, Any]) -> str | None:
    """The choice of the task's first prediction, if any."""
    for prediction in task.get("predictions") or []:
        for result in prediction.get("result") or []:
            choices = (result.get("value") or {}).get("choices") or []
            if choices:
                return str(choices[0])
    return None


def handout_checks(holds: Sequence[Hold]) -> dict[str, int]:
    """Double hand-outs seen from the reviewers' timestamps (see the module docstring)."""
    inf = float("inf")
    by_task: dict[int, list[Hold]] = defaultdict(list)
    for hold in holds:
        by_task[hold.task_id].append(hold)
    certain = possible = after_annotated = several = 0
    for task_holds in by_task.values():
        if len({h.reviewer for h in task_holds}) < 2:
            continue
        several += 1
        is_certain = is_possible = is_after = False
        for i, a in enumerate(task_holds):
            a_submit = a.submit_sent if a.submit_sent is not None else inf
            a_end = a.submit_received if a.submit_received is not None else inf
            for b in task_holds[i + 1 :]:
                if a.reviewer == b.reviewer:
                    continue
                b_submit = b.submit_sent if b.submit_sent is not None else inf
                b_end = b.submit_received if b.submit_received is not None else inf
                # Both had it in hand, neither had sent its annotation: the server gave it to
                # the second before it could know of the first's annotation.
                if max(a.next_received, b.next_received) < min(a_submit, b_submit):
                    is_certain = True
                if max(a.next_sent, b.next_sent) < min(a_end, b_end):
                    is_possible = True
                for first, second in ((a, b), (b, a)):
                    done = first.submit_received
                    if first.accepted and done is not None and second.next_sent > done:
                        is_after = True
        certain += is_certain
        possible += is_possible
        after_annotated += is_after
    return {
        "double_handouts": certain,
        "double_handouts_possible": possible,
        "handed_after_annotated": after_annotated,
        "tasks_handed_to_several": several,
    }


def annotation_counts(base_url: str, token: str, task_ids: Sequence[int]) -> dict[int, int]:
    """Non-cancelled annotations of each task, read back from the server."""
    local = threading.local()

    def count(task_id: int) -> tuple[int, int]:
        client: Client | None = getattr(local, "client", None)
        if client is None:
            client = local.client = Client(base_url, token)
        items = client.expect(200, "GET", f"/api/tasks/{task_id}/annotations/").json()
        return task_id, sum(1 for a in items if not a.get("was_cancelled"))

    with ThreadPoolExecutor(max_workers=4) as pool:
        return dict(pool.map(count, task_ids))


def review(
    base_url: str,
    admin_token: str,
    tokens: Sequence[str],
    project_id: int,
    seconds: float,
    server_pid: int | None,
    with_postgres: bool,
) -> dict[str, Any]:
    """Run the concurrent review phase and its checks; return its figures."""
    barrier = threading.Barrier(len(tokens) + 1)
    logs: list[ReviewerLog] = []
    with ThreadPoolExecutor(max_workers=len(tokens)) as pool:
        futures = [
            pool.submit(reviewer_loop, i, base_url, tok, project_id, barrier, seconds, 1000 + i)
            for i, tok in enumerate(tokens)
        ]
        barrier.wait()
        start = time.perf_counter()
        with cpu_meter(server_pid, with_postgres) as cpu:
            logs = [f.result() for f in futures]
    stop = max(log.stopped for log in logs)
    wall = stop - start
    holds = [h for log in logs for h in log.holds]
    accepted = sum(1 for h in holds if h.accepted)
    errors: Counter[str] = Counter()
    samples: list[str] = []
    for log in logs:
        errors.update(log.errors)
        samples.extend(log.error_samples)
    touched = sorted({h.task_id for h in holds})
    counts = annotation_counts(base_url, admin_token, touched)
    over = sorted(t for t, c in counts.items() if c > MAXIMUM_ANNOTATIONS)
    server_s, pg_s = cpu.figures.get("server_cpu_s"), cpu.figures.get("postgres_cpu_s")
    return {
        "reviewers": len(tokens),
        "seconds": seconds,
        "elapsed_s": wall,
        "annotations": accepted,
        "annotations_per_s": accepted / wall if wall > 0 else None,
        **latency_summary([s for log in logs for s in log.next_s], "next"),
        **latency_summary([s for log in logs for s in log.submit_s], "submit"),
        **latency_summary([s for log in logs for s in log.pair_s], "next_submit"),
        "empty_next": sum(log.empty for log in logs),
        "errors": sum(errors.values()),
        "errors_by_kind": dict(errors),
        "error_samples": samples[:10],
        "tasks_handed_out": len(touched),
        "annotations_on_server": sum(counts.values()),
        "over_annotated": len(over),
        "over_annotated_task_ids": over[:50],
        **handout_checks(holds),
        "cpu": cpu.figures,
        "server_cpu_ms_per_annotation": (
            server_s * 1000.0 / accepted if server_s is not None and accepted else None
        ),
        "postgres_cpu_ms_per_annotation": (
            pg_s * 1000.0 / accepted if pg_s is not None and accepted else None
        ),
    }
