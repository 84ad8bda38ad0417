"""A real server and Debian's Chromium for the browser tests and ``bench/review_ui.py``.

The server is uvicorn in a thread of this process, serving a :class:`~loopwise.Loopwise` the
test can read directly; the browser is Playwright driving the system ``chromium`` (never a
downloaded one: the network is closed). Without ``chromium`` the tests skip, unless
``LOOPWISE_TEST_BROWSER=required`` (CI), when they fail.
"""

from __future__ import annotations

import os
import shutil
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import uvicorn

from loopwise import Loopwise
from loopwise.api import create_app
from tests.servers import free_port

CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]
__all__ = ["CHROMIUM_ARGS", "chromium", "chromium_path", "free_port", "live_server", "sign_in"]
ARTIFACTS = Path(os.environ.get("LOOPWISE_TEST_ARTIFACTS", "test-artifacts")) / "ui"


def chromium_path() -> str | None:
    return shutil.which("chromium") or shutil.which("chromium-browser")


@contextmanager
def live_server(lw: Loopwise) -> Iterator[str]:
    """Serve ``lw`` on a free loopback port; yields the base URL."""
    port = free_port()
    app = create_app(loopwise=lw, deliver_webhooks=False)
    server = uvicorn.Server(
        uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning", lifespan="on")
    )
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 20
    while not server.started:
        if time.monotonic() > deadline or not thread.is_alive():
            raise RuntimeError("the test server did not start")
        time.sleep(0.02)
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        thread.join(timeout=10)


@contextmanager
def chromium() -> Iterator[Any]:
    """A headless Chromium browser (Playwright ``Browser``)."""
    from playwright.sync_api import sync_playwright

    path = chromium_path()
    if path is None:
        raise RuntimeError("Debian's chromium is not installed (apt-get install chromium)")
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=path, headless=True, args=CHROMIUM_ARGS)
        try:
            yield browser
        finally:
            browser.close()


def sign_in(page: Any, base: str, token: str, next_path: str) -> None:
    """Sign in through the form, by keyboard."""
    page.goto(f"{base}/ui/login?next={next_path}")
    page.locator("#token").fill(token)
    page.keyboard.press("Enter")
    page.wait_for_url(f"{base}{next_path}")


def wait_for_task(page: Any, not_id: str | None = None, timeout: float = 10_000) -> str:
    """The id of the task the review page shows, once it is not ``not_id`` and idle."""
    page.wait_for_function(
        """(old) => {
            const id = document.body.dataset.taskId;
            return id && id !== old && !document.body.dataset.busy;
        }""",
        arg=not_id or "",
        timeout=timeout,
    )
    shown: str = page.evaluate("document.body.dataset.taskId")
    return shown
