"""``/v1/me`` and ``/v1/projects``: create, list, read, change the routing policy, the review
settings and the training settings."""

from __future__ import annotations

from typing import Any

from sqlalchemy import select

from loopwise.core.entities import TrainingConfig
from loopwise.core.enums import DEFAULT_ERROR_TAXONOMY
from loopwise.core.policy import RoutingConfig
from loopwise.core.review import ReviewConfig
from loopwise.store.tables import ProjectRow
from tests.api.conftest import OTHER, PROJECT, Space, World, error, iso


def stored(world: World, name: str) -> ProjectRow | None:
    rows = world.scalars(select(ProjectRow).where(ProjectRow.name == name))
    return rows[0] if rows else None


def public(row: ProjectRow) -> dict[str, Any]:
    """What the API shows of a stored project."""
    return {
        "name": row.name,
        "labels": row.labels,
        "input_kind": row.input_kind,
        "feature_names": row.feature_names,
        "routing": row.routing,
        "review": row.review,
        "training": row.training,
        "error_taxonomy": row.error_taxonomy,
        "guideline": row.guideline,
        "created_at": iso(row.created_at),
    }


def actions(world: World, project: str) -> list[tuple[str, str]]:
    return [(e.action, e.actor) for e in world.lw.audit_events(project)]


class TestMe:
    def test_the_tokens_account(self, world: World, space: Space) -> None:
        response = world.client.get("/v1/me", headers=space.header("expert"))
        assert response.status_code == 200
        assert response.json() == {
            "name": space.account("expert"),
            "role": "expert",
            "projects": [space.name],
        }

    def test_an_admin_belongs_to_no_project_and_may_act_on_all(self, world: World) -> None:
        response = world.client.get("/v1/me", headers=world.tokens.header("admin"))
        assert response.json() == {"name": "admin-1", "role": "admin", "projects": []}


class TestCreateProject:
    def test_201_with_the_stored_project(self, world: World, space: Space) -> None:
        name = f"{space.name}-new"
        response = world.client.post(
            "/v1/projects",
            json={
                "name": name,
                "labels": ["cat", "dog", "bird"],
                "routing": {"auto_threshold": 0.8, "ood": None},
                "review": {"overlap": 2},
                "training": {"metric": "macro_f1", "split_seed": 11},
                "error_taxonomy": ["blurry", "cropped"],
                "guideline": "Birds have feathers.",
            },
            headers=space.header("admin"),
        )
        assert response.status_code == 201, response.text
        row = stored(world, name)
        assert row is not None
        assert response.json() == {
            "name": name,
            "labels": ["cat", "dog", "bird"],
            "input_kind": "text",
            "feature_names": [],
            "routing": RoutingConfig(auto_threshold=0.8, ood=None).to_json(),
            "review": ReviewConfig(overlap=2).to_json(),
            "training": TrainingConfig(metric="macro_f1", split_seed=11).to_json(),
            "error_taxonomy": ["blurry", "cropped"],
            "guideline": "Birds have feathers.",
            "created_at": iso(world.clock.now()),
        }
        assert public(row) == response.json()
        assert actions(world, name) == [("project.created", space.account("admin"))]

    def test_defaults_and_a_tabular_project(self, world: World, space: Space) -> None:
        name = f"{space.name}-loans"
        response = world.client.post(
            "/v1/projects",
            json={
                "name": name,
                "labels": ["repaid", "default"],
                "input_kind": "tabular",
                "feature_names": ["age", "income"],
            },
            headers=space.header("admin"),
        )
        assert response.status_code == 201, response.text
        body = response.json()
        assert (body["input_kind"], body["feature_names"]) == ("tabular", ["age", "income"])
        assert body["error_taxonomy"] == list(DEFAULT_ERROR_TAXONOMY)
        assert (body["routing"], body["review"], body["training"]) == (
            RoutingConfig().to_json(),
            ReviewConfig().to_json(),
            TrainingConfig().to_json(),
        )
        row = stored(world, name)
        assert row is not None
        assert public(row) == body

    def test_409_for_a_name_taken(self, world: World, space: Space) -> None:
        response = world.client.post(
            "/v1/projects",
            json={"name": space.name, "labels": ["a", "b"]},
            headers=space.header("admin"),
        )
        assert response.status_code == 409
        assert response.json() == error(
            "duplicate_project", f"a project named {space.name!r} exists already", "name"
        )
        row = stored(world, space.name)
        assert row is not None
        assert row.labels == ["ham", "spam"]

    def test_422_for_labels_listed_twice(self, world: World, space: Space) -> None:
        name = f"{space.name}-twice"
        response = world.client.post(
            "/v1/projects",
            json={"name": name, "labels": ["a", "b", "a"]},
            headers=space.header("admin"),
        )
        assert response.status_code == 422
        assert response.json() == error("invalid_payload", "'a' is listed twice", "labels[2]")
        assert stored(world, name) is None

    def test_422_for_too_few_labels(self, world: World, space: Space) -> None:
        name = f"{space.name}-one"
        response = world.client.post(
            "/v1/projects", json={"name": name, "labels": ["only"]}, headers=space.header("admin")
        )
        assert response.status_code == 422
        assert response.json() == error(
            "invalid_input", "List should have at least 2 items after validation, not 1", "labels"
        )
        assert stored(world, name) is None

    def test_422_for_a_blank_label(self, world: World, space: Space) -> None:
        name = f"{space.name}-blank"
        response = world.client.post(
            "/v1/projects", json={"name": name, "labels": ["a", " "]}, headers=space.header("admin")
        )
        assert response.status_code == 422
        assert response.json() == error(
            "invalid_payload", "must be a non-empty string", "labels[1]"
        )
        assert stored(world, name) is None

    def test_422_for_a_bad_policy_names_it(self, world: World, space: Space) -> None:
        name = f"{space.name}-policy"
        response = world.client.post(
            "/v1/projects",
            json={"name": name, "labels": ["a", "b"], "routing": {"auto_threshold": 1.5}},
            headers=space.header("admin"),
        )
        assert response.status_code == 422
        assert response.json() == error(
            "invalid_input", "Input should be less than or equal to 1", "routing.auto_threshold"
        )
        assert stored(world, name) is None


class TestListProjects:
    def test_members_see_only_their_projects(self, world: World, space: Space) -> None:
        response = world.client.get("/v1/projects", headers=space.header("viewer"))
        assert response.status_code == 200
        row = stored(world, space.name)
        assert row is not None
        assert response.json() == [public(row)]

    def test_the_outsider_sees_only_theirs(self, world: World) -> None:
        response = world.client.get("/v1/projects", headers=world.tokens.header("outsider"))
        assert [p["name"] for p in response.json()] == [OTHER]

    def test_admins_see_every_project(self, world: World, space: Space) -> None:
        response = world.client.get("/v1/projects", headers=space.header("admin"))
        names = [p["name"] for p in response.json()]
        assert names == [p.name for p in world.lw.projects()]
        assert {PROJECT, OTHER, space.name} <= set(names)


class TestGetProject:
    def test_the_stored_project(self, world: World) -> None:
        response = world.client.get(
            f"/v1/projects/{PROJECT}", headers=world.tokens.header("client")
        )
        assert response.status_code == 200
        row = stored(world, PROJECT)
        assert row is not None
        assert response.json() == public(row)
        assert response.json()["routing"]["auto_threshold"] == 0.75

    def test_404_for_a_missing_project(self, world: World) -> None:
        response = world.client.get("/v1/projects/none-such", headers=world.tokens.header("admin"))
        assert response.status_code == 404
        assert response.json() == error(
            "project_not_found", "no project named 'none-such'", "project"
        )


class TestSetPolicy:
    def test_replaces_the_policy_and_raises_its_version(self, world: World, space: Space) -> None:
        policy = {"auto_threshold": 0.6, "ood": None, "always_review": ["spam"]}
        response = world.client.put(
            space.url("/policy"), json=policy, headers=space.header("admin")
        )
        assert response.status_code == 200, response.text
        row = stored(world, space.name)
        assert row is not None
        expected = RoutingConfig(auto_threshold=0.6, ood=None, always_review=("spam",), version=2)
        assert row.routing == expected.to_json()
        assert response.json() == public(row)
        assert actions(world, space.name)[-1] == ("project.policy_changed", space.account("admin"))

    def test_the_new_policy_routes_the_next_item(self, world: World, space: Space) -> None:
        world.client.put(
            space.url("/policy"),
            json={"auto_threshold": 0.95, "ood": None},
            headers=space.header("admin"),
        )
        assert space.submit("x-1", (0.9, 0.1)).status.value == "queued"

    def test_422_names_the_setting_and_keeps_the_old_policy(
        self, world: World, space: Space
    ) -> None:
        before = stored(world, space.name)
        response = world.client.put(
            space.url("/policy"), json={"auto_threshold": 2}, headers=space.header("admin")
        )
        assert response.status_code == 422
        assert response.json() == error(
            "invalid_input", "Input should be less than or equal to 1", "auto_threshold"
        )
        after = stored(world, space.name)
        assert before is not None
        assert after is not None
        assert after.routing == before.routing

    def test_422_for_an_unknown_setting(self, world: World, space: Space) -> None:
        response = world.client.put(
            space.url("/policy"), json={"threshold": 0.5}, headers=space.header("admin")
        )
        assert response.status_code == 422
        assert response.json() == error("invalid_input", "unknown field 'threshold'", "threshold")

    def test_422_for_a_label_outside_the_set(self, world: World, space: Space) -> None:
        response = world.client.put(
            space.url("/policy"), json={"always_review": ["eggs"]}, headers=space.header("admin")
        )
        assert response.status_code == 422
        assert response.json()["error"]["field"] == "always_review[0]"

    def test_a_body_that_is_not_an_object(self, world: World, space: Space) -> None:
        response = world.client.put(space.url("/policy"), json=["x"], headers=space.header("admin"))
        assert response.status_code == 422
        assert response.json()["error"]["code"] == "invalid_input"


class TestSetReviewConfig:
    def test_replaces_the_review_settings(self, world: World, space: Space) -> None:
        response = world.client.put(
            space.url("/review-config"),
            json={"overlap": 3, "aggregator": "majority_vote", "lease_seconds": 60},
            headers=space.header("admin"),
        )
        assert response.status_code == 200, response.text
        row = stored(world, space.name)
        assert row is not None
        expected = ReviewConfig(overlap=3, aggregator="majority_vote", lease_seconds=60)
        assert row.review == expected.to_json()
        assert response.json() == public(row)
        assert actions(world, space.name)[-1] == (
            "project.review_config_changed",
            space.account("admin"),
        )

    def test_422_keeps_the_old_settings(self, world: World, space: Space) -> None:
        response = world.client.put(
            space.url("/review-config"), json={"overlap": 0}, headers=space.header("admin")
        )
        assert response.status_code == 422
        assert response.json()["error"]["code"] == "invalid_input"
        row = stored(world, space.name)
        assert row is not None
        assert row.review == ReviewConfig().to_json()

    def test_422_names_the_setting_as_sent(self, world: World, space: Space) -> None:
        response = world.client.put(
            space.url("/review-config"), json={"overlap": 0}, headers=space.header("admin")
        )
        assert response.json() == error(
            "invalid_input", "Input should be greater than or equal to 1", "overlap"
        )


class TestCreateWithTraining:
    def test_422_names_the_setting_and_nothing_is_written(self, world: World, space: Space) -> None:
        name = f"{space.name}-bad"
        response = world.client.post(
            "/v1/projects",
            json={"name": name, "labels": ["a", "b"], "training": {"holdout_share": 1}},
            headers=space.header("admin"),
        )
        assert response.json() == error(
            "invalid_input", "Input should be less than 1", "training.holdout_share"
        )
        assert response.status_code == 422
        assert stored(world, name) is None


class TestSetTrainingConfig:
    def test_replaces_the_settings_whole_and_audits(self, world: World, space: Space) -> None:
        response = world.client.put(
            space.url("/training"),
            json={"holdout_share": 0.3, "min_improvement": 0.01, "metric": "macro_f1"},
            headers=space.header("admin"),
        )
        assert response.status_code == 200, response.text
        row = stored(world, space.name)
        assert row is not None
        expected = TrainingConfig(holdout_share=0.3, min_improvement=0.01, metric="macro_f1")
        assert row.training == expected.to_json()
        assert response.json() == public(row)
        assert world.lw.project(space.name).training == expected
        event = world.lw.audit_events(space.name)[-1]
        assert (event.action, event.actor) == (
            "project.training_changed",
            space.account("admin"),
        )
        assert (event.before, event.after) == (TrainingConfig().to_json(), expected.to_json())

    def test_422_names_the_setting_as_sent_and_keeps_the_old(
        self, world: World, space: Space
    ) -> None:
        for body, message, field in [
            ({"metric": "auc"}, "Input should be 'accuracy' or 'macro_f1'", "metric"),
            ({"golden_share": "0.1"}, "Input should be a valid number", "golden_share"),
            ({"split_seed": True}, "Input should be a valid integer", "split_seed"),
            (
                {"min_improvement": -0.5},
                "Input should be greater than or equal to 0",
                "min_improvement",
            ),
            ({"holdout": 0.1}, None, "holdout"),
            ([0.1], None, "body"),
        ]:
            response = world.client.put(
                space.url("/training"), json=body, headers=space.header("admin")
            )
            assert response.status_code == 422, body
            got = response.json()["error"]
            assert got["field"] == field, body
            if message is not None:
                assert got["message"] == message
        row = stored(world, space.name)
        assert row is not None
        assert row.training == TrainingConfig().to_json()

    def test_409_for_the_split_once_there_are_labels_the_gate_still_changes(
        self, world: World, space: Space
    ) -> None:
        world.lw.import_labels(space.name, [{"payload": "win cash now", "label": "spam"}])
        response = world.client.put(
            space.url("/training"), json={"split_seed": 5}, headers=space.header("admin")
        )
        assert response.status_code == 409
        assert response.json()["error"]["field"] == "split_seed"
        assert "fixed once the project has labels" in response.json()["error"]["message"]
        response = world.client.put(
            space.url("/training"),
            json={"min_improvement": 0.02, "golden_share": 0.5},
            headers=space.header("admin"),
        )
        assert response.status_code == 200, response.text
        assert (
            response.json()["training"]
            == TrainingConfig(golden_share=0.5, min_improvement=0.02).to_json()
        )

    def test_only_admins_change_them(self, world: World, space: Space) -> None:
        for role in ("client", "reviewer", "expert", "viewer", "outsider"):
            response = world.client.put(
                space.url("/training"), json={"metric": "macro_f1"}, headers=space.header(role)
            )
            assert response.status_code == 403, role
        row = stored(world, space.name)
        assert row is not None
        assert row.training == TrainingConfig().to_json()
