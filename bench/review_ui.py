"""Review-page benchmark: how long a reviewer waits for the next task after a verdict key.

Run ``.venv/bin/python bench/review_ui.py [--tasks 300] [--warmup 20] [--database-url URL]
[--json PATH]``.

Protocol
--------
1. **Seed.** A fresh database (SQLite in a temporary directory unless ``--database-url``): one
   project on the bundled SMS spam data with a TF-IDF + logistic-regression model trained on
   1,000 labelled texts and promoted, and ``tasks + warmup + 10`` other texts submitted with
   probabilities that queue every one for review. One reviewer with a token.
2. **Server.** ``loopwise serve`` in its own process (uvicorn, one worker, as a user runs it),
   on a free loopback port.
3. **Browser.** Debian's Chromium (headless, through Playwright) signs in and opens the review
   page, which shows a task and claims the next one ahead of time. For each task the script
   presses a binary verdict key (``1``, ``2`` or ``Enter``, chosen at random with a fixed seed)
   and waits for the next task. In the page, a key listener (capture phase, so before the
   page's own) notes ``performance.now()`` at the key press, and a ``MutationObserver`` on the
   task id notes when the next task is in the DOM; the figure is taken at the next animation
   frame after that (the task painted). ``next_task_p50_ms`` / ``next_task_p95_ms`` are over
   the timed tasks (after ``--warmup``). ``server_ms_per_task`` is the application's own time
   (its ``Server-Timing: app`` header, read from Resource Timing) summed over every ``/v1``
   request the page made during the timed tasks (verdict, claim ahead, heartbeats), per task;
   ``time_to_first_byte_ms_per_task`` the same requests as the browser saw them
   (``responseStart - requestStart``: the server, uvicorn and Chromium's network process on
   the same two cores).
4. **Baseline, same run.** What a page without the claim ahead would make a reviewer wait at
   least: the same server, a plain HTTP client (httpx, one keep-alive connection) posting a
   verdict and then claiming the next task, ``--tasks`` times; p50 / p95 of the pair.
5. **Checks.** Every timed key press produced exactly one review in the database, and nothing
   is left held after the page is closed.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import random
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

# Run as ``python bench/review_ui.py``, this file's directory comes first on ``sys.path``,
# where ``queue.py`` would shadow the standard library's ``queue``: put the project root there.
ROOT = Path(__file__).resolve().parent.parent
if sys.path and os.path.abspath(sys.path[0]) == os.path.dirname(os.path.abspath(__file__)):
    sys.path[0] = str(ROOT)

import httpx  # noqa: E402
import numpy as np  # noqa: E402
from sqlalchemy import func, select  # noqa: E402
from tests.servers import free_port, wait_ready  # noqa: E402
from tests.web.browser import CHROMIUM_ARGS, chromium_path  # noqa: E402

from loopwise import Loopwise, Settings  # noqa: E402
from loopwise.core.enums import Role  # noqa: E402
from loopwise.datasets import load_sms_spam  # noqa: E402
from loopwise.services import accounts  # noqa: E402
from loopwise.store.tables import ReviewRow, ReviewTaskRow  # noqa: E402

PROJECT = "sms"
INSTRUMENT = """
(() => {
  window.__lat = [];
  let t0 = null;
  window.addEventListener("keydown", () => { t0 = performance.now(); }, true);
  new MutationObserver(() => {
    if (t0 === null || !document.body.dataset.taskId) return;
    const start = t0;
    t0 = null;
    requestAnimationFrame(() => window.__lat.push(performance.now() - start));
  }).observe(document.body, { attributes: true, attributeFilter: ["data-task-id"] });
})();
"""


def seed(lw: Loopwise, n: int) -> str:
    data = load_sms_spam()
    rng = random.Random(0)
    order = list(range(len(data.texts)))
    rng.shuffle(order)
    lw.create_project(PROJECT, sorted(set(data.labels)), guideline="Spam sells or tricks.")
    train = order[:1000]
    lw.import_labels(
        PROJECT,
        [
            {"external_id": f"t{i}", "payload": data.texts[i], "label": data.labels[i]}
            for i in train
        ],
    )
    candidate = lw.train(PROJECT)
    lw.promote(PROJECT, candidate.version, force=True)
    queued = order[1000 : 1000 + n]
    lw.submit(
        PROJECT,
        [
            {"external_id": f"q{i}", "payload": data.texts[i], "probabilities": [0.6, 0.4]}
            for i in queued
        ],
    )
    lw.add_reviewer("rita", role=Role.REVIEWER, projects=[PROJECT], max_open_tasks=3)
    return accounts.create_token(lw.ctx, "rita")[0]


def start_server(env: dict[str, str], port: int) -> subprocess.Popen[bytes]:
    proc = subprocess.Popen(
        [str(ROOT / ".venv/bin/loopwise"), "serve", "--port", str(port), "--log-level", "warning"],
        env=env,
    )
    if wait_ready(f"http://127.0.0.1:{port}", 60):
        return proc
    proc.kill()
    raise RuntimeError("loopwise serve did not start")


def browser_run(base: str, token: str, tasks: int, warmup: int) -> dict[str, Any]:
    from playwright.sync_api import sync_playwright

    path = chromium_path()
    if path is None:
        raise SystemExit("needs Debian's chromium: apt-get install chromium")
    rng = random.Random(1)
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=path, headless=True, args=CHROMIUM_ARGS)
        page = browser.new_page(viewport={"width": 1366, "height": 768})
        page.goto(f"{base}/ui/login?next=/ui/projects/{PROJECT}/review")
        page.locator("#token").fill(token)
        page.keyboard.press("Enter")
        page.wait_for_function("document.body.dataset.taskId")
        page.evaluate(INSTRUMENT)
        page.evaluate("performance.setResourceTimingBufferSize(100000)")
        shown = page.evaluate("document.body.dataset.taskId")
        started = 0.0
        for i in range(warmup + tasks):
            if i == warmup:
                page.evaluate("window.__lat = []; performance.clearResourceTimings()")
                started = time.perf_counter()
            page.keyboard.press(rng.choice(["1", "2", "Enter"]))
            page.wait_for_function(
                "(old) => document.body.dataset.taskId !== old && !document.body.dataset.busy",
                arg=shown,
            )
            shown = page.evaluate("document.body.dataset.taskId")
        wall = time.perf_counter() - started
        page.wait_for_timeout(100)
        latencies = page.evaluate("window.__lat")
        server = page.evaluate(
            """performance.getEntriesByType("resource")
                 .filter(e => e.name.includes("/v1/"))
                 .map(e => [e.name.split("/v1/")[1].split("?")[0],
                            (e.serverTiming.find(t => t.name === "app") || {}).duration,
                            e.responseStart - e.requestStart])"""
        )
        page.goto(f"{base}/ui/")  # leave: the page gives back what it holds
        page.wait_for_timeout(300)
        browser.close()
    lat = np.asarray(latencies, dtype=float)
    kinds: dict[str, list[float]] = {}
    for name, ms, _ in server:
        kind = "verdict" if name.endswith("/verdict") else name.rsplit("/", 1)[-1]
        kinds.setdefault(kind, []).append(ms)
    return {
        "samples": len(lat),
        "next_task_p50_ms": float(np.percentile(lat, 50)),
        "next_task_p95_ms": float(np.percentile(lat, 95)),
        "next_task_max_ms": float(lat.max()),
        "server_ms_per_task": float(sum(ms for _, ms, _ in server) / tasks),
        "time_to_first_byte_ms_per_task": float(sum(ttfb for _, _, ttfb in server) / tasks),
        "server_ms_by_request": {k: round(float(np.mean(v)), 2) for k, v in kinds.items()},
        "requests_per_task": round(len(server) / tasks, 2),
        "verdicts_per_hour_tool_bound": round(3600 / (wall / tasks)),
    }


def baseline(base: str, token: str, tasks: int) -> dict[str, float]:
    """Verdict then claim, one after the other: the wait without the claim ahead."""
    url = f"{base}/v1/projects/{PROJECT}"
    pairs = []
    with httpx.Client(headers={"Authorization": f"Bearer {token}"}, timeout=30) as http:
        entry = http.post(f"{url}/queue/claim?explain=true", json={}).json()["entry"]
        for _ in range(tasks):
            t0 = time.perf_counter()
            r = http.post(f"{url}/tasks/{entry['task']['id']}/verdict", json={"verdict": "approve"})
            r.raise_for_status()
            entry = http.post(f"{url}/queue/claim?explain=true", json={}).json()["entry"]
            pairs.append((time.perf_counter() - t0) * 1000)
            if entry is None:
                break
        if entry is not None:
            http.post(f"{url}/tasks/{entry['task']['id']}/release")
    arr = np.asarray(pairs)
    return {
        "verdict_then_claim_p50_ms": float(np.percentile(arr, 50)),
        "verdict_then_claim_p95_ms": float(np.percentile(arr, 95)),
        "samples": len(arr),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--tasks", type=int, default=300)
    parser.add_argument("--warmup", type=int, default=20)
    parser.add_argument("--database-url", default="")
    parser.add_argument("--json", type=Path)
    args = parser.parse_args()
    directory = Path(tempfile.mkdtemp(prefix="lw-review-ui-"))
    url = args.database_url or f"sqlite:///{directory / 'loopwise.db'}"
    settings = Settings(data_dir=directory, database_url=url)
    with Loopwise(settings) as lw:
        t0 = time.perf_counter()
        token = seed(lw, 2 * args.tasks + args.warmup + 10)
        print(f"seeded in {time.perf_counter() - t0:.1f} s ({url.split(':')[0]})")
    port = free_port()
    env = {
        **os.environ,
        "LOOPWISE_DATABASE_URL": url,
        "LOOPWISE_DATA_DIR": str(directory),
    }
    server = start_server(env, port)
    base = f"http://127.0.0.1:{port}"
    try:
        ui = browser_run(base, token, args.tasks, args.warmup)
        base_line = baseline(base, token, args.tasks)
    finally:
        server.terminate()
        server.wait(timeout=30)
    with Loopwise(settings) as lw, lw.ctx.read() as tx:
        reviews = tx.session.scalar(select(func.count()).select_from(ReviewRow))
        held = tx.session.scalar(
            select(func.count()).select_from(ReviewTaskRow).where(ReviewTaskRow.status == "claimed")
        )
    expected = args.tasks + args.warmup + base_line["samples"]
    result = {
        **{k: ui[k] for k in ("next_task_p50_ms", "next_task_p95_ms", "server_ms_per_task")},
        "ui": ui,
        "baseline_no_claim_ahead": base_line,
        "checks": {"reviews": reviews, "expected_reviews": expected, "left_held": held},
        "backend": url.split(":")[0].split("+")[0],
        "machine": f"{os.cpu_count()} cores, {platform.machine()}, "
        f"Python {platform.python_version()}",
        "measured_at": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()),
        "command": "python bench/review_ui.py " + " ".join(sys.argv[1:]),
    }
    print(
        f"next task shown after a verdict key: p50 {ui['next_task_p50_ms']:.1f} ms, "
        f"p95 {ui['next_task_p95_ms']:.1f} ms, max {ui['next_task_max_ms']:.1f} ms "
        f"({ui['samples']} tasks; target p95 < 100 ms)"
    )
    print(
        f"server time per task {ui['server_ms_per_task']:.1f} ms "
        f"(time to first byte in the browser {ui['time_to_first_byte_ms_per_task']:.1f} ms; "
        f"{ui['requests_per_task']} requests a task; mean server ms by request "
        f"{ui['server_ms_by_request']}); the tool allows {ui['verdicts_per_hour_tool_bound']:,} "
        "verdicts an hour"
    )
    print(
        f"baseline, same run, verdict then claim without the claim ahead: "
        f"p50 {base_line['verdict_then_claim_p50_ms']:.1f} ms, "
        f"p95 {base_line['verdict_then_claim_p95_ms']:.1f} ms"
    )
    print(f"checks: {reviews} reviews for {expected} verdicts, {held} tasks left held")
    if reviews != expected or held:
        raise SystemExit("check failed: a verdict lost or doubled, or a task left held")
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
