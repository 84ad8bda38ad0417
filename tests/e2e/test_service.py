"""The service quickstart (docs/quickstart-service.md) against a real ``loopwise serve``
process: set up with the CLI, submit with plain HTTP as a client, review as a reviewer, and
receive the signed webhooks."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from loopwise import Loopwise, Settings
from loopwise.datasets import load_sms_spam
from loopwise.webhooks import Verifier
from tests.integration.services.test_webhooks import Receiver
from tests.servers import free_port, wait_ready

LOOPWISE = str(Path(sys.executable).with_name("loopwise"))


class Cli:
    def __init__(self, database_url: str, data_dir: Path) -> None:
        self.base = [LOOPWISE, "--database-url", database_url, "--data-dir", str(data_dir)]
        self.env = {**os.environ, "OMP_NUM_THREADS": "1", "COLUMNS": "200"}

    def __call__(self, *args: str) -> str:
        done = subprocess.run(
            [*self.base, *args], capture_output=True, text=True, env=self.env, timeout=120
        )
        assert done.returncode == 0, done.stderr + done.stdout
        return done.stdout


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    r = Receiver()
    yield r
    r.close()


@pytest.mark.slow
def test_quickstart(
    database_url: str, tmp_path: Path, receiver: Receiver, caplog: pytest.LogCaptureFixture
) -> None:
    cli = Cli(database_url, tmp_path)
    with Loopwise(Settings(database_url=database_url, data_dir=tmp_path)) as lw:
        # the quickstart does this with `loopwise project create`, `items import --labelled`,
        # `models train` and `models promote` (tests/cli covers those commands)
        lw.create_project("sms", ["ham", "spam"])
        data = load_sms_spam()
        seed = zip(data.texts[:300], data.labels[:300], strict=True)
        lw.import_labels(
            "sms",
            [
                {"external_id": f"seed-{i}", "payload": t, "label": y}
                for i, (t, y) in enumerate(seed)
            ],
        )
        lw.train("sms")
        assert lw.promote("sms").promoted
    cli("users", "create", "shop", "--role", "client", "--projects", "sms")
    cli("users", "create", "ann", "--role", "reviewer", "--projects", "sms")
    shop = cli("tokens", "create", "shop").strip()
    ann = cli("tokens", "create", "ann").strip()
    assert shop.startswith("lw_")
    assert ann.startswith("lw_")
    secret = cli("webhooks", "add", "sms", receiver.url).strip().splitlines()[-1]
    assert secret.startswith("whsec_")

    port = free_port()
    server = subprocess.Popen(
        [*cli.base, "serve", "--port", str(port), "--log-level", "warning"],
        env=cli.env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )
    base = f"http://127.0.0.1:{port}"
    try:
        if not wait_ready(base):
            pytest.fail("the server did not become ready")
        as_shop = {"Authorization": f"Bearer {shop}"}
        as_ann = {"Authorization": f"Bearer {ann}"}
        with httpx.Client(base_url=base, timeout=30) as http:
            confident = http.post(
                "/v1/projects/sms/items",
                json={"external_id": "m-1", "payload": "hi", "probabilities": [0.01, 0.99]},
                headers=as_shop,
            ).json()
            assert (confident["status"], confident["label"]) == ("decided", "spam")
            unsure = http.post(
                "/v1/projects/sms/items",
                json={
                    "external_id": "m-2",
                    "payload": "Are you coming to the gym later?",
                    "probabilities": [0.55, 0.45],
                },
                headers=as_shop,
            ).json()
            assert unsure["status"] == "queued", unsure
            assert http.post("/v1/projects/sms/queue/claim", headers=as_shop).status_code == 403

            entry = http.post("/v1/projects/sms/queue/claim", headers=as_ann).json()["entry"]
            assert entry["item"]["external_id"] == "m-2"
            verdict = http.post(
                f"/v1/projects/sms/tasks/{entry['task']['id']}/verdict",
                json={"verdict": "correct", "label": "ham", "error_category": "new_pattern"},
                headers=as_ann,
            )
            assert verdict.json()["resolved"] is True
            final = http.get("/v1/projects/sms/decisions/m-2?wait=5", headers=as_shop).json()
            assert (final["status"], final["label"]) == ("resolved", "ham")
            metrics = http.get("/metrics").text
            assert 'loopwise_decisions_total{project="sms",route="auto"} 1.0' in metrics

        deadline = time.monotonic() + 15
        while len(receiver.requests) < 3 and time.monotonic() < deadline:
            time.sleep(0.1)
        verifier = Verifier(secret)
        events = [verifier.verify(body, headers) for headers, body in receiver.requests]
        seen = sorted((e["type"], e["data"]["external_id"], e["data"]["label"]) for e in events)
        assert seen == [
            ("decision.made", "m-1", "spam"),
            ("decision.made", "m-2", "ham"),
            ("task.resolved", "m-2", "ham"),
        ]
    finally:
        os.killpg(server.pid, signal.SIGTERM)
        output, _ = server.communicate(timeout=30)
    # uvicorn shuts down gracefully on SIGTERM, then re-raises it: the status says so
    assert server.returncode in (0, -signal.SIGTERM), output
    assert b"Traceback" not in output
    for token in (shop, ann):
        assert token.encode() not in output
