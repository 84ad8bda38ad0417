"""The dashboard over HTTP: every chart as JSON, one chart as CSV, and who may read them."""

from __future__ import annotations

import csv
import io
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from fastapi.testclient import TestClient

from loopwise.core.enums import Role
from loopwise.services import accounts
from tests.api.conftest import OTHER, Space, World, corrected_twice
from tests.integration.services.test_dashboard import KEYS


@pytest.fixture
def client(world: World) -> TestClient:
    """The test client of the shared served database."""
    return world.client


@pytest.fixture
def worked(world: World) -> tuple[Space, datetime]:
    """At 01:00 of a new day: a-0 and a-1 decided by the caller's model, q-1 (the model said
    ham at 0.6) corrected to spam by two people half a minute apart (overlap 2), q-0 queued a
    minute later. Returns the project and that day."""
    now = world.clock.now()
    next_day = datetime(now.year, now.month, now.day, 1, tzinfo=UTC) + timedelta(days=1)
    world.clock.advance(seconds=(next_day - now).total_seconds())
    space = corrected_twice(world)
    return space, next_day - timedelta(hours=1)


def charts(body: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {c["key"]: c for c in body["charts"]}


class TestDashboard:
    def test_a_viewer_reads_every_chart(
        self, world: World, client: TestClient, worked: tuple[Space, datetime]
    ) -> None:
        space, day = worked
        response = client.get(space.url("/dashboard"), headers=space.header("viewer"))
        assert response.status_code == 200
        body = response.json()
        assert (body["as_of"], body["period"]) == (world.clock.now().isoformat(), "day")
        found = charts(body)
        assert list(found) == list(KEYS)
        stamp = int(day.timestamp())
        automation = found["automation"]
        assert automation == {
            "key": "automation",
            "title": "Automation rate and decision accuracy",
            "kind": "line",
            "x_label": "day routed (UTC)",
            "y_label": "share",
            "x_is_time": True,
            "columns": [
                "period",
                "decisions",
                "automation_rate",
                "checked",
                "accuracy",
                "auto_checked",
                "auto_accuracy",
            ],
            "data": [[stamp], [4], [0.5], [1], [0.0], [0], [None]],
            "note": automation["note"],
            "series": ["automation_rate", "accuracy", "auto_accuracy"],
            "summary": {},
        }
        assert found["queue"]["data"] == [[0], [1], [0.0], [0]]
        assert found["queue"]["categories"] == ["normal"]
        assert found["latency"]["data"] == [[stamp], [1], [1.0], [1.0]]
        assert found["agreement"]["data"] == [[stamp], [1], [1.0], [1.0], [1.0]]
        assert found["reviewers"]["categories"] == [
            space.account("expert"),
            space.account("reviewer"),
        ]
        assert found["reviewers"]["data"] == [
            [0, 1],
            [1, 1],
            [None, None],
            [0, 0],
            [None, None],
            [None, None],
            [None, None],
            [None, None],
        ]
        assert found["errors"]["data"] == [[], []]
        assert found["model_accuracy"]["data"] == [[], [], [], [], [], []]
        assert found["calibration"]["data"] == [[0.6], [0.0], [1], [0.5], [pytest.approx(0.6)]]
        assert found["calibration"]["summary"] == {"ece": pytest.approx(0.6), "predictions": 1.0}

    def test_by_hour(self, client: TestClient, worked: tuple[Space, datetime]) -> None:
        space, day = worked
        response = client.get(space.url("/dashboard?period=hour"), headers=space.header("client"))
        assert response.status_code == 200
        automation = charts(response.json())["automation"]
        assert automation["data"][:3] == [[int(day.timestamp()) + 3600], [4], [0.5]]

    def test_an_empty_project(self, client: TestClient, space: Space) -> None:
        body = client.get(space.url("/dashboard"), headers=space.header("viewer")).json()
        assert all(all(column == [] for column in c["data"]) for c in body["charts"])

    def test_an_unknown_period(self, client: TestClient, space: Space) -> None:
        response = client.get(space.url("/dashboard?period=week"), headers=space.header("viewer"))
        assert response.status_code == 422
        assert response.json()["error"]["field"] == "period"

    def test_an_unknown_project(self, world: World, client: TestClient) -> None:
        response = client.get("/v1/projects/nope/dashboard", headers=world.tokens.header("admin"))
        assert response.status_code == 404
        assert response.json()["error"]["code"] == "project_not_found"


class TestWhoMayRead:
    @pytest.mark.parametrize("role", ["admin", "client", "reviewer", "expert", "viewer"])
    def test_members_and_admins(self, client: TestClient, space: Space, role: str) -> None:
        response = client.get(space.url("/dashboard"), headers=space.header(role))
        assert response.status_code == 200

    def test_a_client_of_another_project_is_refused(
        self, world: World, client: TestClient, space: Space
    ) -> None:
        name = f"{space.name}-foreign-client"
        world.lw.add_reviewer(name, role=Role.CLIENT, projects=[OTHER])
        token = accounts.create_token(world.lw.ctx, name)[0]
        for path in ("/dashboard", "/dashboard/automation.csv"):
            response = client.get(space.url(path), headers={"Authorization": f"Bearer {token}"})
            assert response.status_code == 403
            assert response.json()["error"]["code"] == "not_allowed"

    def test_an_outsider_and_nobody(self, client: TestClient, space: Space) -> None:
        outsider = client.get(space.url("/dashboard"), headers=space.header("outsider"))
        assert outsider.status_code == 403
        assert client.get(space.url("/dashboard")).status_code == 401


class TestCsv:
    def test_one_chart_as_a_download(
        self, client: TestClient, worked: tuple[Space, datetime]
    ) -> None:
        space, day = worked
        response = client.get(space.url("/dashboard/latency.csv"), headers=space.header("viewer"))
        assert response.status_code == 200
        assert response.headers["content-type"] == "text/csv; charset=utf-8"
        assert response.headers["content-disposition"] == 'attachment; filename="latency.csv"'
        assert list(csv.reader(io.StringIO(response.text))) == [
            ["period", "resolved", "median_minutes", "p90_minutes"],
            [day.isoformat(), "1", "1.0", "1.0"],
        ]

    @pytest.mark.parametrize("key", KEYS)
    def test_every_chart_has_one(self, client: TestClient, space: Space, key: str) -> None:
        response = client.get(space.url(f"/dashboard/{key}.csv"), headers=space.header("viewer"))
        assert response.status_code == 200
        assert response.text.count("\n") == 1  # an empty project: the header alone

    def test_an_unknown_chart(self, client: TestClient, space: Space) -> None:
        response = client.get(space.url("/dashboard/pie.csv"), headers=space.header("viewer"))
        assert response.status_code == 404
        error = response.json()["error"]
        assert (error["code"], error["field"]) == ("not_found", "key")
        assert error["message"].startswith("no chart 'pie'; there are automation, ")

    def test_a_key_that_is_no_slug(self, client: TestClient, space: Space) -> None:
        response = client.get(
            space.url("/dashboard/Pie%20Chart.csv"), headers=space.header("viewer")
        )
        assert response.status_code == 422
        assert response.json()["error"]["field"] == "key"
