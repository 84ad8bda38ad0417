"""Liveness, readiness and Prometheus metrics: public, and telling the truth."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from prometheus_client.parser import text_string_to_metric_families

from loopwise import Loopwise, Settings, __version__
from loopwise.api import create_app
from loopwise.store.db import head_revision
from tests.api.conftest import Space, World


def value(text: str, name: str, **labels: str) -> float:
    """The sample ``name{labels}`` of a Prometheus text page (0 when it is absent)."""
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            if sample.name == name and sample.labels == labels:
                return float(sample.value)
    return 0.0


def scrape(world: World) -> str:
    response = world.client.get("/metrics")
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/plain")
    return response.text


@pytest.fixture
def offline(tmp_path: Path, request: pytest.FixtureRequest) -> Iterator[TestClient]:
    """An app over a database it cannot reach (``request.param``: a URL; ``{tmp}`` stands for
    a directory, which SQLite cannot open as a database file)."""
    url = str(request.param).replace("{tmp}", str(tmp_path))
    settings = Settings(data_dir=tmp_path, database_url=url)
    lw = Loopwise(settings, migrate=False)
    try:
        yield TestClient(create_app(loopwise=lw, deliver_webhooks=False))
    finally:
        lw.close()


class TestHealth:
    def test_answers_without_a_token(self, world: World) -> None:
        response = world.client.get("/health")
        assert response.status_code == 200
        assert response.json() == {"status": "ok", "version": __version__}


class TestReady:
    def test_ready_at_the_head_migration(self, world: World) -> None:
        response = world.client.get("/ready")
        assert response.status_code == 200
        head = head_revision()
        assert head is not None
        assert response.json() == {
            "status": "ready",
            "database": "ok",
            "migration": head,
            "expected": head,
        }

    @pytest.mark.parametrize(
        "offline",
        [
            "postgresql+psycopg://loopwise@127.0.0.1:1/nowhere?connect_timeout=2",
            "sqlite:///{tmp}",
        ],
        indirect=True,
        ids=["postgres closed port", "sqlite directory"],
    )
    def test_503_when_the_database_is_unreachable(self, offline: TestClient) -> None:
        response = offline.get("/ready")
        assert response.status_code == 503
        assert response.json() == {
            "status": "not ready",
            "database": "unreachable: OperationalError",
        }

    def test_503_when_the_schema_is_behind(self, tmp_path: Path) -> None:
        settings = Settings(data_dir=tmp_path, database_url=f"sqlite:///{tmp_path / 'new.db'}")
        with Loopwise(settings, migrate=False) as lw:
            response = TestClient(create_app(loopwise=lw, deliver_webhooks=False)).get("/ready")
        assert response.status_code == 503
        assert response.json() == {
            "status": "not ready",
            "database": "ok",
            "migration": None,
            "expected": head_revision(),
        }


class TestMetrics:
    def test_counts_http_requests(self, world: World) -> None:
        before = value(
            scrape(world),
            "loopwise_http_requests_total",
            method="GET",
            route="/health",
            status="200",
        )
        world.client.get("/health")
        world.client.get("/health")
        after = value(
            scrape(world),
            "loopwise_http_requests_total",
            method="GET",
            route="/health",
            status="200",
        )
        assert after == before + 2

    def test_counts_unmatched_paths_under_one_label(self, world: World) -> None:
        before = value(
            scrape(world),
            "loopwise_http_requests_total",
            method="GET",
            route="unmatched",
            status="404",
        )
        world.client.get("/no/such/path/1")
        world.client.get("/no/such/path/2")
        after = value(
            scrape(world),
            "loopwise_http_requests_total",
            method="GET",
            route="unmatched",
            status="404",
        )
        assert after == before + 2

    def test_labels_requests_by_the_full_route_template(self, world: World, space: Space) -> None:
        world.client.get(space.url("/decisions"), headers=space.header("viewer"))
        text = scrape(world)
        assert (
            value(
                text,
                "loopwise_http_requests_total",
                method="GET",
                route="/v1/projects/{project}/decisions",
                status="200",
            )
            >= 1
        )

    def test_counts_decisions_by_route(self, world: World, space: Space) -> None:
        space.submit("auto-1", (0.9, 0.1))
        space.submit("auto-2", (0.1, 0.9))
        space.submit("queued-1")
        claimed = world.client.post(space.url("/queue/claim"), headers=space.header("reviewer"))
        task = claimed.json()["entry"]["task"]["id"]
        world.client.post(
            space.url(f"/tasks/{task}/verdict"),
            json={"verdict": "correct", "label": "spam"},
            headers=space.header("reviewer"),
        )
        text = scrape(world)
        counted = {
            route: value(text, "loopwise_decisions_total", project=space.name, route=route)
            for route in ("auto", "reviewer")
        }
        assert counted == {"auto": 2.0, "reviewer": 1.0}
        assert value(text, "loopwise_items_routed_total", project=space.name, route="human") == 1
        assert value(text, "loopwise_verdicts_total", project=space.name, verdict="correct") == 1

    def test_queue_depth_by_priority(self, world: World, space: Space) -> None:
        world.lw.set_policy(
            space.name,
            {
                "auto_threshold": 0.75,
                "ood": None,
                "rules": [{"name": "vip", "when": "vip", "priority": "urgent"}],
            },
        )
        space.submit("normal-1")
        space.submit("normal-2")
        space.submit("urgent-1", metadata={"vip": True})
        text = scrape(world)
        depth = {
            level: value(
                text, "loopwise_queue_depth", project=space.name, stage="review", priority=level
            )
            for level in ("urgent", "high", "normal", "low")
        }
        assert depth == {"urgent": 1.0, "high": 0.0, "normal": 2.0, "low": 0.0}

    def test_counts_lease_expiries(self, world: World, space: Space) -> None:
        space.submit("x-1")
        space.submit("x-2")
        first = world.client.post(space.url("/queue/claim"), headers=space.header("reviewer"))
        lease = first.json()["entry"]["task"]["lease_expires_at"]
        assert value(scrape(world), "loopwise_lease_expiries_total", project=space.name) == 0
        world.clock.advance(seconds=world.lw.settings.lease_seconds + 1)
        world.client.post(space.url("/queue/claim"), headers=space.header("expert"))
        assert lease is not None
        assert value(scrape(world), "loopwise_lease_expiries_total", project=space.name) == 1


SERVED = """
import sys, tempfile
from pathlib import Path
from fastapi.testclient import TestClient
from threadpoolctl import threadpool_info
from loopwise import Settings
from loopwise.api import create_app

def blas():  # process-wide pools (OpenMP's are per thread: serve sets OMP_NUM_THREADS)
    return sorted({lib["num_threads"] for lib in threadpool_info() if lib["user_api"] == "blas"})

settings = Settings(data_dir=Path(tempfile.mkdtemp()), compute_threads=1)
with TestClient(create_app(settings, deliver_webhooks=False, limit_threads=sys.argv[1] == "1")):
    print(blas())
"""


@pytest.mark.parametrize(("limit", "pools"), [(False, "[2]"), (True, "[1]")])
def test_a_server_process_caps_its_blas_threads(limit: bool, pools: str) -> None:
    """In a fresh process (thread pools are process state) with two BLAS threads to start."""
    env = {**os.environ, "OPENBLAS_NUM_THREADS": "2", "OMP_NUM_THREADS": "2"}
    done = subprocess.run(
        [sys.executable, "-c", SERVED, "1" if limit else "0"],
        capture_output=True,
        text=True,
        env=env,
        timeout=120,
        check=True,
    )
    assert done.stdout.strip() == pools
