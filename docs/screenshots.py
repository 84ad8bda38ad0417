"""Take the screenshots in docs/review-ui.md from a real demo run.

Run ``.venv/bin/python docs/screenshots.py [--out docs/img]``: the demo (``loopwise demo``) in a
temporary data directory, then ``loopwise serve`` on it and Debian's Chromium through
Playwright, signed in as the demo's reviewer, its expert and an admin.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
if sys.path and os.path.abspath(sys.path[0]) == os.path.dirname(os.path.abspath(__file__)):
    sys.path[0] = str(ROOT)

from tests.servers import free_port, wait_ready  # noqa: E402
from tests.web.browser import CHROMIUM_ARGS, chromium_path  # noqa: E402

from loopwise import Loopwise, Settings  # noqa: E402
from loopwise.core.enums import Role  # noqa: E402
from loopwise.services import accounts  # noqa: E402

LOOPWISE = str(ROOT / ".venv/bin/loopwise")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--out", type=Path, default=ROOT / "docs/img")
    args = parser.parse_args()
    directory = Path(tempfile.mkdtemp(prefix="lw-shots-"))
    env = {**os.environ, "LOOPWISE_DATA_DIR": str(directory)}
    env.pop("LOOPWISE_DATABASE_URL", None)
    subprocess.run(
        [LOOPWISE, "demo", "--project", "demo-sms-spam"], env=env, check=True, capture_output=True
    )
    with Loopwise(Settings(data_dir=directory)) as lw:
        lw.add_reviewer("boss", role=Role.ADMIN)
        tokens = {name: accounts.create_token(lw.ctx, name)[0] for name in ("alice", "boss")}
        expert = next(r.name for r in lw.reviewers("demo-sms-spam") if r.role is Role.EXPERT)
        tokens["expert"] = accounts.create_token(lw.ctx, expert)[0]
        # one escalation for the expert view
        entry = lw.claim_next("demo-sms-spam", "bob")
        if entry is not None:
            lw.submit_verdict(
                "demo-sms-spam", entry.task.id, "bob", "escalate", comment="not sure: promo or not?"
            )
    port = free_port()
    server = subprocess.Popen(
        [LOOPWISE, "serve", "--port", str(port), "--log-level", "warning"], env=env
    )
    base = f"http://127.0.0.1:{port}"
    try:
        if not wait_ready(base, 60):
            raise RuntimeError("loopwise serve did not start")
        shoot(base, tokens, args.out)
    finally:
        server.terminate()
        server.wait(timeout=30)


def shoot(base: str, tokens: dict[str, str], out: Path) -> None:
    from playwright.sync_api import sync_playwright

    out.mkdir(parents=True, exist_ok=True)
    project = "/ui/projects/demo-sms-spam"
    with sync_playwright() as p:
        browser = p.chromium.launch(
            executable_path=chromium_path(), headless=True, args=CHROMIUM_ARGS
        )

        def page_as(token: str, path: str) -> object:
            page = browser.new_page(viewport={"width": 1366, "height": 768})
            page.goto(f"{base}/ui/login?next={path}")
            page.locator("#token").fill(token)
            page.keyboard.press("Enter")
            page.wait_for_url(f"{base}{path}")
            return page

        page = page_as(tokens["alice"], f"{project}/review")
        page.wait_for_function("document.body.dataset.taskId")
        page.screenshot(path=str(out / "ui-review.png"))
        page.close()
        page = page_as(tokens["expert"], f"{project}/review")
        page.wait_for_function("document.body.dataset.taskId")
        page.screenshot(path=str(out / "ui-review-expert.png"))
        page.close()
        page = page_as(tokens["boss"], f"{project}/dashboard")
        page.wait_for_function("document.body.dataset.chartsReady === '1'")
        page.set_viewport_size({"width": 1366, "height": 1500})
        page.screenshot(path=str(out / "ui-dashboard.png"))
        page.goto(f"{base}{project}/admin")
        page.screenshot(path=str(out / "ui-admin.png"))
        browser.close()


if __name__ == "__main__":
    main()
