"""Items in, decisions out: submit one or many, read a decision (waiting for it), list them."""

from __future__ import annotations

import re
import time
from dataclasses import replace
from typing import Any

import orjson
import pytest
from sqlalchemy import func, select

from loopwise.api.routes.v1.items import bulk_json, routed_public
from loopwise.api.schemas import BulkPublic
from loopwise.core.enums import ItemStatus
from loopwise.store.tables import DecisionRow, ItemRow, PredictionRow, ReviewTaskRow
from tests.api.conftest import PROJECT, Space, World, error, iso
from tests.factories import SPAM


def stored(
    world: World, project: str, external_id: str
) -> tuple[ItemRow, DecisionRow, PredictionRow | None]:
    """The item, its decision and its prediction as the database holds them."""
    project_id = world.lw.project(project).id
    ((item, decision, prediction),) = world.rows(
        select(ItemRow, DecisionRow, PredictionRow)
        .join(DecisionRow, DecisionRow.item_id == ItemRow.id)
        .outerjoin(PredictionRow, PredictionRow.id == DecisionRow.prediction_id)
        .where(ItemRow.project_id == project_id, ItemRow.external_id == external_id)
    )
    return item, decision, prediction


def item_count(world: World, project: str) -> int:
    project_id = world.lw.project(project).id
    counted: int = world.scalars(
        select(func.count()).select_from(ItemRow).where(ItemRow.project_id == project_id)
    )[0]
    return counted


def open_task(world: World, item_id: int) -> int:
    (task_id,) = world.scalars(
        select(ReviewTaskRow.id).where(
            ReviewTaskRow.item_id == item_id, ReviewTaskRow.status == "open"
        )
    )
    task: int = task_id
    return task


def scored(external_id: str, probabilities: list[float], **extra: Any) -> dict[str, Any]:
    return {
        "external_id": external_id,
        "payload": f"text of {external_id}",
        "probabilities": probabilities,
        **extra,
    }


class TestSubmitOne:
    def test_decided_by_the_projects_model(self, world: World) -> None:
        external_id = f"spam-{time.monotonic_ns()}"
        response = world.client.post(
            f"/v1/projects/{PROJECT}/items",
            json={"external_id": external_id, "payload": SPAM[0], "metadata": {"channel": "sms"}},
            headers=world.tokens.header("client"),
        )
        assert response.status_code == 200, response.text
        item, decision, prediction = stored(world, PROJECT, external_id)
        assert prediction is not None
        assert prediction.confidence >= 0.75
        assert response.json() == {
            "item_id": item.id,
            "external_id": external_id,
            "status": "decided",
            "route": "auto",
            "label": "spam",
            "predicted_label": "spam",
            "confidence": prediction.confidence,
            "reasons": [f"confidence {prediction.confidence:.3f} at or above threshold 0.750"],
            "ticket": None,
            "duplicate": False,
        }
        assert (item.status, item.payload, item.meta) == (
            "decided",
            {"text": SPAM[0]},
            {"channel": "sms"},
        )
        assert (decision.route, decision.final_label, decision.decided_by) == (
            "auto",
            "spam",
            "model:v1",
        )
        assert prediction.model_version_id is not None
        assert prediction.predicted_label == "spam"

    def test_queued_for_review_with_a_ticket(self, world: World) -> None:
        external_id = f"hello-{time.monotonic_ns()}"
        response = world.client.post(
            f"/v1/projects/{PROJECT}/items",
            json={"external_id": external_id, "payload": {"text": "hello"}},
            headers=world.tokens.header("client"),
        )
        assert response.status_code == 200, response.text
        item, decision, prediction = stored(world, PROJECT, external_id)
        assert prediction is not None
        assert prediction.confidence < 0.75
        assert response.json() == {
            "item_id": item.id,
            "external_id": external_id,
            "status": "queued",
            "route": "human",
            "label": None,
            "predicted_label": prediction.predicted_label,
            "confidence": prediction.confidence,
            "reasons": [f"confidence {prediction.confidence:.3f} below threshold 0.750"],
            "ticket": open_task(world, item.id),
            "duplicate": False,
        }
        assert (item.status, decision.route, decision.final_label) == ("queued", "human", None)

    def test_the_callers_probabilities_are_routed(self, world: World, space: Space) -> None:
        """The A2I case: a project without a model routes the caller's own prediction."""
        response = world.client.post(
            space.url("/items"), json=scored("a2i-1", [0.1, 0.9]), headers=space.header("client")
        )
        assert response.status_code == 200, response.text
        item, decision, prediction = stored(world, space.name, "a2i-1")
        assert response.json() == {
            "item_id": item.id,
            "external_id": "a2i-1",
            "status": "decided",
            "route": "auto",
            "label": "spam",
            "predicted_label": "spam",
            "confidence": 0.9,
            "reasons": ["confidence 0.900 at or above threshold 0.750"],
            "ticket": None,
            "duplicate": False,
        }
        assert prediction is not None
        assert (prediction.probabilities, prediction.model_version_id) == ([0.1, 0.9], None)
        assert (decision.decided_by, decision.final_label) == ("caller-model", "spam")

    def test_an_external_id_is_made_when_none_is_given(self, world: World, space: Space) -> None:
        response = world.client.post(
            space.url("/items"),
            json={"payload": "x", "probabilities": [0.5, 0.5]},
            headers=space.header("client"),
        )
        external_id = response.json()["external_id"]
        assert re.fullmatch(r"[0-9a-f]{32}", external_id)
        assert stored(world, space.name, external_id)[0].id == response.json()["item_id"]

    def test_without_a_model_nor_probabilities_it_is_queued(
        self, world: World, space: Space
    ) -> None:
        response = world.client.post(
            space.url("/items"),
            json={"external_id": "bare", "payload": "x"},
            headers=space.header("client"),
        )
        body = response.json()
        assert (body["status"], body["predicted_label"], body["confidence"], body["reasons"]) == (
            "queued",
            None,
            None,
            ["no production model yet"],
        )

    def test_resubmitting_returns_the_first_answer(self, world: World, space: Space) -> None:
        first = world.client.post(
            space.url("/items"), json=scored("x-1", [0.5, 0.5]), headers=space.header("client")
        )
        again = world.client.post(
            space.url("/items"), json=scored("x-1", [0.5, 0.5]), headers=space.header("client")
        )
        assert again.status_code == 200
        assert again.json() == {**first.json(), "duplicate": True}
        assert item_count(world, space.name) == 1

    def test_409_for_the_same_external_id_with_another_payload(
        self, world: World, space: Space
    ) -> None:
        space.submit("x-1")
        response = world.client.post(
            space.url("/items"),
            json={"external_id": "x-1", "payload": "another text", "probabilities": [0.5, 0.5]},
            headers=space.header("client"),
        )
        assert response.status_code == 409
        body = response.json()["error"]
        assert (body["code"], body["message"]) == (
            "duplicate_external_id",
            "external id 'x-1' was accepted before with another payload",
        )
        item, _, _ = stored(world, space.name, "x-1")
        assert item.payload == {"text": "text of x-1"}
        assert item_count(world, space.name) == 1

    @pytest.mark.parametrize(
        ("body", "field"),
        [
            ({"external_id": "x-1", "payload": {"text": 5}}, "payload.text"),
            ({"external_id": "x-1", "payload": "x", "probabilities": [0.5]}, "probabilities"),
            ({"external_id": "dup", "payload": "another text"}, "external_id"),
        ],
    )
    def test_422_and_409_name_the_field_in_the_body(
        self, world: World, space: Space, body: dict[str, Any], field: str
    ) -> None:
        space.submit("dup")
        response = world.client.post(space.url("/items"), json=body, headers=space.header("client"))
        assert response.json()["error"]["field"] == field

    @pytest.mark.parametrize(
        ("probabilities", "message"),
        [
            ([0.5], "has 1 values; the project has 2 labels"),
            ([-0.5, 1.5], "-0.5 is outside [0, 1]"),
        ],
    )
    def test_422_for_probabilities_that_do_not_fit(
        self, world: World, space: Space, probabilities: list[float], message: str
    ) -> None:
        response = world.client.post(
            space.url("/items"), json=scored("x-1", probabilities), headers=space.header("client")
        )
        assert response.status_code == 422
        assert (response.json()["error"]["code"], response.json()["error"]["message"]) == (
            "invalid_input",
            message,
        )
        assert item_count(world, space.name) == 0


class TestSubmitBulk:
    def test_counts_decided_queued_and_duplicates(self, world: World, space: Space) -> None:
        earlier = space.submit("seen", (0.9, 0.1))
        response = world.client.post(
            space.url("/items/bulk"),
            json={
                "items": [
                    scored("b-0", [0.95, 0.05]),
                    scored("b-1", [0.5, 0.5]),
                    scored("seen", [0.9, 0.1]),
                    scored("b-3", [0.2, 0.8], metadata={"n": 3}),
                    scored("b-1", [0.5, 0.5]),
                ]
            },
            headers=space.header("client"),
        )
        assert response.status_code == 200, response.text
        body = response.json()
        assert (body["decided"], body["queued"], body["duplicates"]) == (3, 2, 2)
        ids = {e: stored(world, space.name, e)[0].id for e in ("b-0", "b-1", "b-3")}
        assert [
            (i["external_id"], i["item_id"], i["status"], i["label"], i["duplicate"])
            for i in body["items"]
        ] == [
            ("b-0", ids["b-0"], "decided", "ham", False),
            ("b-1", ids["b-1"], "queued", None, False),
            ("seen", earlier.item_id, "decided", "ham", True),
            ("b-3", ids["b-3"], "decided", "spam", False),
            ("b-1", ids["b-1"], "queued", None, True),
        ]
        assert body["items"][1]["ticket"] == open_task(world, ids["b-1"])
        assert body["items"][3] == {
            "item_id": ids["b-3"],
            "external_id": "b-3",
            "status": "decided",
            "route": "auto",
            "label": "spam",
            "predicted_label": "spam",
            "confidence": 0.8,
            "reasons": ["confidence 0.800 at or above threshold 0.750"],
            "ticket": None,
            "duplicate": False,
        }
        assert item_count(world, space.name) == 4
        assert stored(world, space.name, "b-3")[0].meta == {"n": 3}

    def test_the_answer_is_the_response_models_encoding(self, world: World, space: Space) -> None:
        """The bulk answer is encoded without the response model: the same JSON it gives,
        with every kind of value (a task id, no label, no confidence, no reasons)."""
        results = world.lw.submit(
            space.name,
            [
                scored("enc-0", [0.5, 0.5]),
                scored("enc-1", [0.97, 0.03]),
                {"external_id": "enc-1", "payload": "text of enc-1", "probabilities": [0.97, 0.03]},
            ],
        )
        results.append(replace(results[0], confidence=None, predicted_label=None, reasons=()))
        expected = BulkPublic(
            items=[routed_public(r) for r in results],
            decided=sum(r.status is ItemStatus.DECIDED for r in results),
            queued=sum(r.status is ItemStatus.QUEUED for r in results),
            duplicates=sum(r.duplicate for r in results),
        )
        assert orjson.loads(bulk_json(results)) == orjson.loads(expected.model_dump_json())
        assert BulkPublic.model_validate_json(bulk_json(results)) == expected

    def test_one_bad_item_refuses_the_batch(self, world: World, space: Space) -> None:
        response = world.client.post(
            space.url("/items/bulk"),
            json={
                "items": [
                    scored("b-0", [0.9, 0.1]),
                    scored("b-1", [0.5, 0.5]),
                    scored("b-2", [0.5, 0.5]),
                    {"external_id": "b-3", "payload": {"txt": "oops"}, "probabilities": [0.5, 0.5]},
                ]
            },
            headers=space.header("client"),
        )
        assert response.status_code == 422
        assert response.json() == error(
            "invalid_payload",
            "unknown field 'txt'; a text payload has only 'text' (put other fields in metadata)",
            "items[3].payload.txt",
        )
        assert item_count(world, space.name) == 0
        assert world.lw.audit_events(space.name, entity_type="item") == []

    def test_a_schema_error_names_the_item(self, world: World, space: Space) -> None:
        response = world.client.post(
            space.url("/items/bulk"),
            json={
                "items": [
                    scored("b-0", [0.9, 0.1]),
                    {"external_id": "b-1", "payload": "x", "metadata": 3},
                ]
            },
            headers=space.header("client"),
        )
        assert response.status_code == 422
        assert response.json()["error"]["field"] == "items[1].metadata"
        assert item_count(world, space.name) == 0

    @pytest.mark.parametrize(
        ("probabilities", "field"),
        [([0.5, -0.5], "items[1].probabilities[1]"), ([0.2, 0.2], "items[1].probabilities")],
        ids=["negative second value", "sum"],
    )
    def test_a_probability_problem_names_its_place(
        self, world: World, space: Space, probabilities: list[float], field: str
    ) -> None:
        response = world.client.post(
            space.url("/items/bulk"),
            json={"items": [scored("b-0", [0.5, 0.5]), scored("b-1", probabilities)]},
            headers=space.header("client"),
        )
        assert response.status_code == 422
        assert response.json()["error"]["field"] == field

    def test_a_clash_with_a_stored_item_refuses_the_batch(self, world: World, space: Space) -> None:
        space.submit("seen")
        response = world.client.post(
            space.url("/items/bulk"),
            json={
                "items": [scored("b-0", [0.9, 0.1]), {"external_id": "seen", "payload": "changed"}]
            },
            headers=space.header("client"),
        )
        assert response.status_code == 409
        assert response.json() == error(
            "duplicate_external_id",
            "external id 'seen' was accepted before with another payload",
            "items[1].external_id",
        )
        assert item_count(world, space.name) == 1

    def test_more_than_10000_items_are_refused(self, world: World, space: Space) -> None:
        items = [{"payload": "x"}] * 10_001
        response = world.client.post(
            space.url("/items/bulk"), json={"items": items}, headers=space.header("client")
        )
        assert response.status_code == 422
        assert response.json()["error"]["field"] == "items"


def decided_body(
    world: World, space: Space, external_id: str, label: str, confidence: float
) -> dict[str, Any]:
    item, decision, _ = stored(world, space.name, external_id)
    return {
        "item_id": item.id,
        "external_id": external_id,
        "status": "decided",
        "route": "auto",
        "label": label,
        "predicted_label": label,
        "confidence": confidence,
        "reasons": [f"confidence {confidence:.3f} at or above threshold 0.750"],
        "decided_by": "caller-model",
        "created_at": iso(decision.created_at),
        "decided_at": iso(decision.created_at),
        "ticket": None,
    }


def queued_body(world: World, space: Space, external_id: str, ticket: int | None) -> dict[str, Any]:
    item, decision, _ = stored(world, space.name, external_id)
    return {
        "item_id": item.id,
        "external_id": external_id,
        "status": "queued",
        "route": "human",
        "label": None,
        "predicted_label": "ham",
        "confidence": 0.5,
        "reasons": ["confidence 0.500 below threshold 0.750"],
        "decided_by": None,
        "created_at": iso(decision.created_at),
        "decided_at": None,
        "ticket": ticket,
    }


class TestGetDecision:
    def test_a_decided_item(self, world: World, space: Space) -> None:
        space.submit("d-1", (0.9, 0.1))
        response = world.client.get(space.url("/decisions/d-1"), headers=space.header("client"))
        assert response.status_code == 200
        assert response.json() == decided_body(world, space, "d-1", "ham", 0.9)

    def test_a_queued_item_carries_its_ticket(self, world: World, space: Space) -> None:
        routed = space.submit("q-1")
        response = world.client.get(space.url("/decisions/q-1"), headers=space.header("viewer"))
        assert response.json() == queued_body(world, space, "q-1", routed.task_id)
        assert routed.task_id == open_task(world, routed.item_id)

    def test_a_resolved_item_has_the_reviewers_label(self, world: World, space: Space) -> None:
        routed = space.submit("r-1")
        space.token("reviewer")
        entry = world.lw.claim_next(space.name, space.account("reviewer"))
        assert entry is not None
        world.clock.advance(seconds=40)
        world.lw.submit_verdict(
            space.name, entry.task.id, space.account("reviewer"), "correct", label="spam"
        )
        response = world.client.get(space.url("/decisions/r-1"), headers=space.header("client"))
        assert response.json() == {
            **queued_body(world, space, "r-1", None),
            "item_id": routed.item_id,
            "status": "resolved",
            "label": "spam",
            "decided_by": space.account("reviewer"),
            "decided_at": iso(world.clock.now()),
        }

    def test_404_for_an_unknown_item(self, world: World, space: Space) -> None:
        response = world.client.get(space.url("/decisions/nope"), headers=space.header("client"))
        assert response.status_code == 404
        assert response.json() == error(
            "item_not_found", f"no item 'nope' in project {space.name!r}", "external_id"
        )

    def test_waiting_returns_at_once_for_a_decided_item(self, world: World, space: Space) -> None:
        space.submit("d-1", (0.9, 0.1))
        started = time.monotonic()
        response = world.client.get(
            space.url("/decisions/d-1?wait=5"), headers=space.header("client")
        )
        assert time.monotonic() - started < 2.5
        assert response.json()["status"] == "decided"

    def test_waiting_returns_a_queued_item_when_the_time_is_up(
        self, world: World, space: Space
    ) -> None:
        routed = space.submit("q-1")
        started = time.monotonic()
        response = world.client.get(
            space.url("/decisions/q-1?wait=0.3"), headers=space.header("client")
        )
        assert time.monotonic() - started >= 0.3
        assert response.json() == queued_body(world, space, "q-1", routed.task_id)


class TestListDecisions:
    @pytest.fixture
    def decided(self, world: World, space: Space) -> Space:
        """Five items: d-0 (ham), q-1, d-2 (spam), q-3, d-4 (ham), in that order."""
        space.submit("d-0", (0.9, 0.1))
        space.submit("q-1")
        space.submit("d-2", (0.1, 0.9))
        space.submit("q-3")
        space.submit("d-4", (0.8, 0.2))
        return space

    def test_oldest_first(self, world: World, decided: Space) -> None:
        response = world.client.get(decided.url("/decisions"), headers=decided.header("viewer"))
        assert response.status_code == 200
        body = response.json()
        assert body["next_after"] is None
        assert body["decisions"][:3] == [
            decided_body(world, decided, "d-0", "ham", 0.9),
            {**queued_body(world, decided, "q-1", None), "ticket": body["decisions"][1]["ticket"]},
            decided_body(world, decided, "d-2", "spam", 0.9),
        ]
        assert [d["external_id"] for d in body["decisions"]] == ["d-0", "q-1", "d-2", "q-3", "d-4"]

    @pytest.mark.parametrize(
        ("query", "expected"),
        [
            ("status=decided", ["d-0", "d-2", "d-4"]),
            ("status=queued", ["q-1", "q-3"]),
            ("status=resolved", []),
            ("route=human", ["q-1", "q-3"]),
            ("route=auto&status=decided", ["d-0", "d-2", "d-4"]),
        ],
    )
    def test_filters(self, world: World, decided: Space, query: str, expected: list[str]) -> None:
        response = world.client.get(
            decided.url(f"/decisions?{query}"), headers=decided.header("viewer")
        )
        assert [d["external_id"] for d in response.json()["decisions"]] == expected

    def test_since(self, world: World, decided: Space) -> None:
        later = world.clock.advance(minutes=1)
        decided.submit("late", (0.9, 0.1))
        response = world.client.get(
            decided.url("/decisions"),
            params={"since": later.isoformat()},
            headers=decided.header("viewer"),
        )
        assert [d["external_id"] for d in response.json()["decisions"]] == ["late"]

    def test_pages_follow_next_after(self, world: World, decided: Space) -> None:
        seen: list[str] = []
        after: int | None = None
        pages = 0
        while True:
            params: dict[str, Any] = {"limit": 2} if after is None else {"limit": 2, "after": after}
            body = world.client.get(
                decided.url("/decisions"), params=params, headers=decided.header("viewer")
            ).json()
            pages += 1
            seen += [d["external_id"] for d in body["decisions"]]
            after = body["next_after"]
            if after is None:
                break
            assert after == body["decisions"][-1]["item_id"]
        assert seen == ["d-0", "q-1", "d-2", "q-3", "d-4"]
        assert pages == 3

    def test_a_queued_item_carries_its_ticket(self, world: World, decided: Space) -> None:
        listed = world.client.get(
            decided.url("/decisions?status=queued"), headers=decided.header("viewer")
        )
        one = world.client.get(decided.url("/decisions/q-1"), headers=decided.header("viewer"))
        assert listed.json()["decisions"][0] == one.json()
