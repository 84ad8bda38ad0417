"""Model versions over HTTP: list, train a candidate, evaluate, promote through the gate, roll
back."""

from __future__ import annotations

from typing import Any

import pytest
from sqlalchemy import select

from loopwise.store.tables import ModelVersionRow
from tests.api.conftest import Space, World, error, iso
from tests.factories import NO_HOLDOUT, seed_rows

TRAIN_METRICS = {"train": {"n": 24, "classes": {"ham": 12, "spam": 12}}}
"""What training on :func:`seed_rows` records (every label trains: no held-out share)."""


@pytest.fixture
def labelled(world: World) -> Space:
    """A project with the 24 seed labels, every one for training."""
    space = world.space(training=NO_HOLDOUT)
    world.lw.import_labels(space.name, seed_rows())
    return space


def versions(world: World, space: Space) -> dict[int, tuple[str, bool]]:
    """Each version's stage and whether it was rolled back, as stored."""
    project_id = world.lw.project(space.name).id
    rows = world.scalars(select(ModelVersionRow).where(ModelVersionRow.project_id == project_id))
    return {r.version: (r.stage, r.rolled_back) for r in rows}


def train(world: World, space: Space) -> dict[str, Any]:
    response = world.client.post(space.url("/models"), headers=space.header("admin"))
    assert response.status_code == 201, response.text
    body: dict[str, Any] = response.json()
    return body


def promote(world: World, space: Space, **body: Any) -> dict[str, Any]:
    response = world.client.post(
        space.url("/models/promote"), json=body, headers=space.header("admin")
    )
    assert response.status_code == 200, response.text
    result: dict[str, Any] = response.json()
    return result


class TestTrain:
    def test_201_with_the_new_candidate(self, world: World, labelled: Space) -> None:
        response = world.client.post(labelled.url("/models"), headers=labelled.header("admin"))
        assert response.status_code == 201
        assert response.json() == {
            "version": 1,
            "algorithm": "tfidf_logreg",
            "stage": "candidate",
            "metrics": TRAIN_METRICS,
            "trained_on": 24,
            "created_at": iso(world.clock.now()),
            "promoted_at": None,
        }
        assert versions(world, labelled) == {1: ("candidate", False)}
        assert [
            e.action for e in world.lw.audit_events(labelled.name, entity_type="model_version")
        ] == ["model.trained"]

    def test_409_without_labels(self, world: World, space: Space) -> None:
        response = world.client.post(space.url("/models"), headers=space.header("admin"))
        assert response.status_code == 409
        assert response.json() == error("not_enough_labels", "no resolved training labels yet")
        assert versions(world, space) == {}


class TestListModels:
    def test_every_version_oldest_first(self, world: World, labelled: Space) -> None:
        train(world, labelled)
        promote(world, labelled)
        promoted_at = iso(world.clock.now())
        world.clock.advance(minutes=5)
        train(world, labelled)
        response = world.client.get(labelled.url("/models"), headers=labelled.header("viewer"))
        assert response.status_code == 200
        body = response.json()
        assert [(m["version"], m["stage"], m["trained_on"]) for m in body] == [
            (1, "production", 24),
            (2, "candidate", 24),
        ]
        assert body[1] == {
            "version": 2,
            "algorithm": "tfidf_logreg",
            "stage": "candidate",
            "metrics": TRAIN_METRICS,
            "trained_on": 24,
            "created_at": iso(world.clock.now()),
            "promoted_at": None,
        }
        assert body[0]["promoted_at"] == promoted_at

    def test_empty_without_models(self, world: World, space: Space) -> None:
        assert world.client.get(space.url("/models"), headers=space.header("viewer")).json() == []


class TestEvaluation:
    def test_the_candidate_against_production(self, world: World, labelled: Space) -> None:
        train(world, labelled)
        response = world.client.get(
            labelled.url("/models/1/evaluation"), headers=labelled.header("viewer")
        )
        assert response.status_code == 200
        body = response.json()
        assert body == world.lw.evaluate(labelled.name, 1).to_json()
        assert (body["candidate"], body["production"]) == (1, None)
        assert body["holdout"]["candidate"]["n"] == 0
        assert body["gate"]["promote"] is True

    def test_404_for_an_unknown_version(self, world: World, space: Space) -> None:
        response = world.client.get(
            space.url("/models/7/evaluation"), headers=space.header("viewer")
        )
        assert response.status_code == 404
        assert response.json() == error(
            "model_version_not_found", f"project {space.name!r} has no model version 7", "version"
        )


class TestPromote:
    def test_the_gate_passes_the_first_model(self, world: World, labelled: Space) -> None:
        train(world, labelled)
        body = promote(world, labelled)
        assert (body["promoted"], body["forced"]) == (True, False)
        assert body["report"] == {
            **world.lw.evaluate(labelled.name, 1).to_json(),
            "production": None,
        }
        assert versions(world, labelled) == {1: ("production", False)}
        (promoted_at,) = world.scalars(
            select(ModelVersionRow.promoted_at).where(
                ModelVersionRow.project_id == world.lw.project(labelled.name).id
            )
        )
        assert promoted_at == world.clock.now()

    def test_a_refused_candidate_is_archived_and_force_promotes_it(
        self, world: World, labelled: Space
    ) -> None:
        train(world, labelled)
        promote(world, labelled)
        train(world, labelled)
        refused = promote(world, labelled)
        assert (refused["promoted"], refused["forced"]) == (False, False)
        assert refused["report"]["gate"]["promote"] is False
        assert versions(world, labelled) == {1: ("production", False), 2: ("archived", False)}
        forced = promote(world, labelled, version=2, force=True)
        assert (forced["promoted"], forced["forced"]) == (True, True)
        assert versions(world, labelled) == {1: ("archived", False), 2: ("production", False)}

    def test_404_for_an_unknown_version(self, world: World, space: Space) -> None:
        response = world.client.post(
            space.url("/models/promote"), json={"version": 3}, headers=space.header("admin")
        )
        assert response.status_code == 404
        assert response.json()["error"]["code"] == "model_version_not_found"

    def test_422_for_a_version_below_one(self, world: World, space: Space) -> None:
        response = world.client.post(
            space.url("/models/promote"), json={"version": 0}, headers=space.header("admin")
        )
        assert response.status_code == 422
        assert response.json()["error"]["field"] == "version"


class TestRollback:
    def test_puts_the_previous_production_model_back(self, world: World, labelled: Space) -> None:
        train(world, labelled)
        promote(world, labelled)
        first_promoted = iso(world.clock.now())
        world.clock.advance(minutes=1)
        train(world, labelled)
        promote(world, labelled, version=2, force=True)
        response = world.client.post(
            labelled.url("/models/rollback"), headers=labelled.header("admin")
        )
        assert response.status_code == 200
        body = response.json()
        assert {k: v for k, v in body.items() if k != "metrics"} == {
            "version": 1,
            "algorithm": "tfidf_logreg",
            "stage": "production",
            "trained_on": 24,
            "created_at": first_promoted,
            "promoted_at": first_promoted,
        }
        assert versions(world, labelled) == {1: ("production", False), 2: ("archived", True)}

    def test_409_without_an_earlier_model(self, world: World, labelled: Space) -> None:
        train(world, labelled)
        promote(world, labelled)
        response = world.client.post(
            labelled.url("/models/rollback"), headers=labelled.header("admin")
        )
        assert response.status_code == 409
        assert response.json() == error(
            "promotion_refused", f"project {labelled.name!r} has no earlier production model"
        )
        assert versions(world, labelled) == {1: ("production", False)}
