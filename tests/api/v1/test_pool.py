"""Active learning over HTTP: candidates into the pool, its status, queries that queue the most
informative for review, the settings, and a promotion's query; bad input named by field."""

from __future__ import annotations

from typing import Any

import pytest
from sqlalchemy import select

from loopwise.core.enums import Priority
from loopwise.store.tables import AuditEventRow, ItemRow, ReviewTaskRow
from tests.api.conftest import Space, World
from tests.factories import NO_HOLDOUT, seed_rows, sms_rows


def candidates(n: int, start: int = 0) -> list[dict[str, Any]]:
    """``n`` unlabelled texts, ids ``c<i>``: odd ones spam-like, even ones ham-like."""
    texts = ("see you at {}", "win a free prize now {}")
    return [
        {"external_id": f"c{i}", "payload": texts[i % 2].format(i)} for i in range(start, start + n)
    ]


def add(world: World, space: Space, items: list[dict[str, Any]], role: str = "client") -> Any:
    return world.client.post(space.url("/pool"), json={"items": items}, headers=space.header(role))


@pytest.fixture
def modelled(world: World) -> Space:
    """A project with a production model (trained on the 24 seed labels)."""
    space = world.space(training=NO_HOLDOUT)
    world.lw.import_labels(space.name, seed_rows())
    world.lw.promote(space.name, world.lw.train(space.name).version, force=True)
    return space


class TestAddToPool:
    def test_candidates_are_added_once(self, world: World, space: Space) -> None:
        response = add(world, space, candidates(3))
        assert response.status_code == 200, response.text
        assert response.json() == {"added": 3, "skipped": 0}
        again = add(world, space, candidates(4))  # a retry with one more
        assert again.json() == {"added": 1, "skipped": 3}
        status = world.client.get(space.url("/pool"), headers=space.header("viewer"))
        assert status.json() == {"waiting": 4, "chosen": 0}
        assert world.lw.pool_status(space.name).waiting == 4

    @pytest.mark.parametrize(
        ("row", "status", "code", "field"),
        [
            ({"payload": ""}, 422, "invalid_payload", "items[1].payload.text"),
            ({"payload": "x", "label": "ham"}, 422, "invalid_input", "items[1].label"),
            (
                {"payload": "x", "probabilities": [1, 0]},
                422,
                "invalid_input",
                "items[1].probabilities",
            ),
            (
                {"external_id": "c0", "payload": "another"},
                409,
                "duplicate_external_id",
                "items[1].external_id",
            ),
        ],
    )
    def test_bad_candidates_refuse_the_request_whole(
        self, world: World, space: Space, row: dict[str, Any], status: int, code: str, field: str
    ) -> None:
        add(world, space, candidates(1))
        response = add(world, space, [{"external_id": "fresh", "payload": "fine"}, row])
        assert response.status_code == status, response.text
        body = response.json()["error"]
        assert (body["code"], body["field"]) == (code, field)
        assert world.lw.pool_status(space.name).waiting == 1  # nothing of it was added


class TestQuery:
    def test_the_most_informative_are_queued_for_review(
        self, world: World, modelled: Space
    ) -> None:
        add(world, modelled, candidates(12))
        response = world.client.post(
            modelled.url("/pool/query"),
            json={"n": 3, "strategy": "margin", "seed": 0},
            headers=modelled.header("client"),
        )
        assert response.status_code == 200, response.text
        body = response.json()
        assert (body["strategy"], body["considered"], body["model_version"]) == ("margin", 12, 1)
        assert [c["rank"] for c in body["chosen"]] == [0, 1, 2]
        chosen = {c["external_id"] for c in body["chosen"]}
        assert len(chosen) == 3
        tasks = world.scalars(
            select(ReviewTaskRow).where(
                ReviewTaskRow.id.in_([c["task_id"] for c in body["chosen"]])
            )
        )
        assert {t.priority for t in tasks} == {Priority.DISCOVERY}
        items = world.scalars(
            select(ItemRow).where(ItemRow.id.in_([c["item_id"] for c in body["chosen"]]))
        )
        assert {i.external_id for i in items} == chosen
        assert all(c["predicted_label"] in ("ham", "spam") for c in body["chosen"])
        actors = world.scalars(
            select(AuditEventRow.actor).where(
                AuditEventRow.action == "pool.queried",
                AuditEventRow.project_id == world.lw.project(modelled.name).id,
            )
        )
        assert actors == [modelled.account("client")]
        assert world.lw.pool_status(modelled.name).chosen == 3

    def test_the_projects_batch_and_strategy_by_default(self, world: World, space: Space) -> None:
        add(world, space, candidates(6))
        put = world.client.put(
            space.url("/active-learning"), json={"batch": 2}, headers=space.header("admin")
        )
        assert put.status_code == 200, put.text
        response = world.client.post(space.url("/pool/query"), headers=space.header("client"))
        assert response.status_code == 200, response.text
        body = response.json()
        assert (body["strategy"], body["model_version"], len(body["chosen"])) == (
            "default",
            None,
            2,
        )
        assert body["awaiting_labels"] == 0
        again = world.client.post(space.url("/pool/query"), headers=space.header("client"))
        assert again.status_code == 200, again.text
        assert again.json()["awaiting_labels"] == 2  # the first two wait for their labels

    @pytest.mark.parametrize(
        ("body", "pool", "field", "message"),
        [
            ({"n": 1}, 0, "pool", "the pool has no unlabelled item left"),
            ({"n": 5}, 2, "n", ""),
            ({"strategy": "clairvoyance"}, 2, "strategy", "'clairvoyance' is not a strategy"),
            ({"n": 0}, 2, "n", ""),
        ],
    )
    def test_bad_queries_are_refused_by_field(
        self, world: World, space: Space, body: dict[str, Any], pool: int, field: str, message: str
    ) -> None:
        if pool:
            add(world, space, candidates(pool))
        response = world.client.post(
            space.url("/pool/query"), json=body, headers=space.header("client")
        )
        assert response.status_code == 422, response.text
        detail = response.json()["error"]
        assert detail["field"] == field
        assert message in detail["message"]
        assert world.lw.pool_status(space.name).chosen == 0


class TestSettings:
    def test_read_and_replaced_whole(self, world: World, space: Space) -> None:
        got = world.client.get(space.url("/active-learning"), headers=space.header("reviewer"))
        assert got.json() == {
            "strategy": "default",
            "batch": 50,
            "explore": 0.1,
            "requery_after_promotion": True,
        }
        put = world.client.put(
            space.url("/active-learning"),
            json={"strategy": "margin", "batch": 20},
            headers=space.header("admin"),
        )
        assert put.json() == {
            "strategy": "margin",
            "batch": 20,
            "explore": 0.1,
            "requery_after_promotion": True,
        }
        assert world.lw.project(space.name).active_learning.batch == 20

    @pytest.mark.parametrize(
        ("body", "field"),
        [
            ({"batch": 0}, "batch"),
            ({"strategy": "clairvoyance"}, "strategy"),
            ({"size": 3}, "size"),
        ],
    )
    def test_bad_settings_are_refused_by_field(
        self, world: World, space: Space, body: dict[str, Any], field: str
    ) -> None:
        response = world.client.put(
            space.url("/active-learning"), json=body, headers=space.header("admin")
        )
        assert response.status_code == 422, response.text
        assert response.json()["error"]["field"] == field
        assert world.lw.project(space.name).active_learning.batch == 50


def test_a_promotion_answers_the_query_it_set_off(world: World) -> None:
    space = world.space(training=NO_HOLDOUT)
    world.lw.import_labels(space.name, seed_rows())
    add(world, space, candidates(5))
    world.lw.train(space.name)
    response = world.client.post(
        space.url("/models/promote"), json={"force": True}, headers=space.header("admin")
    )
    assert response.status_code == 200, response.text
    query = response.json()["query"]
    assert (query["strategy"], query["considered"], query["model_version"]) == ("default", 5, 1)
    assert len(query["chosen"]) == 5  # the batch (50) is more than waits: all five


def test_a_promotion_whose_query_fails_stands_and_says_why(world: World) -> None:
    space = world.space(training=NO_HOLDOUT)
    world.lw.set_active_learning(space.name, {"strategy": "bait"})  # refuses TF-IDF's width
    world.lw.import_labels(space.name, sms_rows(300))  # a vocabulary past bait's 2,047 columns
    add(world, space, candidates(5))
    world.lw.train(space.name)
    response = world.client.post(
        space.url("/models/promote"), json={"force": True}, headers=space.header("admin")
    )
    assert response.status_code == 200, response.text
    answer = response.json()
    assert (answer["promoted"], answer["query"]) == (True, None)
    assert answer["query_error"].startswith("pool.features: bait needs class x feature")


def test_an_empty_request_body_is_refused(world: World, space: Space) -> None:
    response = world.client.post(
        space.url("/pool"), json={"items": []}, headers=space.header("client")
    )
    assert response.status_code == 422
    assert response.json()["error"]["field"].startswith("items")


def remove(world: World, space: Space, body: dict[str, Any], role: str = "client") -> Any:
    return world.client.post(space.url("/pool/remove"), json=body, headers=space.header(role))


class TestRemoveFromPool:
    def test_named_candidates_go_chosen_ones_stay_and_a_retry_removes_nothing(
        self, world: World, space: Space
    ) -> None:
        add(world, space, candidates(5))
        add(world, space, [{"payload": "no id given"}])
        picked = world.client.post(
            space.url("/pool/query"),
            json={"n": 1, "strategy": "random", "seed": 3},
            headers=space.header("client"),
        ).json()["chosen"][0]["external_id"]
        others = [c["external_id"] for c in candidates(5) if c["external_id"] != picked]
        body = {
            "items": [
                {"external_id": others[0]},
                {"external_id": others[1], "payload": candidates(5)[int(others[1][1:])]["payload"]},
                {"external_id": picked},
                {"payload": "no id given"},
                {"external_id": "never-added"},
            ]
        }

        response = remove(world, space, body)

        assert response.status_code == 200, response.text
        assert response.json() == {"removed": 3, "chosen": 1, "not_found": 1}
        assert world.lw.pool_status(space.name).waiting == 2
        with world.lw.ctx.read() as tx:
            event = tx.session.scalars(
                select(AuditEventRow).where(
                    AuditEventRow.action == "pool.removed",
                    AuditEventRow.project_id == world.lw.project(space.name).id,
                )
            ).one()
        assert event.actor == space.account("client")
        again = remove(world, space, body)
        assert again.json() == {"removed": 0, "chosen": 1, "not_found": 4}

    def test_all_removes_every_waiting_candidate(self, world: World, space: Space) -> None:
        add(world, space, candidates(4))
        response = remove(world, space, {"all": True})
        assert response.status_code == 200, response.text
        assert response.json() == {"removed": 4, "chosen": 0, "not_found": 0}
        assert world.lw.pool_status(space.name).waiting == 0

    @pytest.mark.parametrize(
        ("body", "status", "code", "field"),
        [
            ({}, 422, "invalid_input", "items"),
            ({"items": [{"external_id": "c0"}], "all": True}, 422, "invalid_input", "all"),
            ({"items": []}, 422, "invalid_input", "items"),
            ({"items": [{}]}, 422, "invalid_input", "items[0]"),
            ({"items": [{"payload": ""}]}, 422, "invalid_payload", "items[0].payload.text"),
            ({"items": [{"external_id": "c0", "label": "ham"}]}, 422, "invalid_input", None),
            (
                {"items": [{"external_id": "c0", "payload": "another"}]},
                409,
                "duplicate_external_id",
                "items[0].external_id",
            ),
        ],
    )
    def test_bad_requests_are_refused_by_field_and_remove_nothing(
        self,
        world: World,
        space: Space,
        body: dict[str, Any],
        status: int,
        code: str,
        field: str | None,
    ) -> None:
        add(world, space, candidates(2))
        response = remove(world, space, body)
        assert response.status_code == status, response.text
        error = response.json()["error"]
        assert error["code"] == code
        if field is not None:
            assert error["field"] == field
        else:
            assert error["field"].startswith("items[0]")
        assert world.lw.pool_status(space.name).waiting == 2

    def test_a_reviewer_may_not_remove(self, world: World, space: Space) -> None:
        add(world, space, candidates(2))
        response = remove(world, space, {"all": True}, role="reviewer")
        assert response.status_code == 403
        assert world.lw.pool_status(space.name).waiting == 2


class TestListPool:
    def test_candidates_are_listed_page_by_page(self, world: World, space: Space) -> None:
        add(world, space, candidates(5))
        picked = world.client.post(
            space.url("/pool/query"),
            json={"n": 1, "strategy": "random", "seed": 3},
            headers=space.header("client"),
        ).json()["chosen"][0]

        first = world.client.get(
            space.url("/pool/candidates"), params={"limit": 2}, headers=space.header("viewer")
        )

        assert first.status_code == 200, first.text
        body = first.json()
        waiting = [
            c["external_id"] for c in candidates(5) if c["external_id"] != picked["external_id"]
        ]
        assert [c["external_id"] for c in body["candidates"]] == waiting[:2]
        assert body["candidates"][0]["payload"] == {
            "text": candidates(5)[int(waiting[0][1:])]["payload"]
        }
        assert body["candidates"][0]["item_id"] is None
        rest = world.client.get(
            space.url("/pool/candidates"),
            params={"after": body["next_after"]},
            headers=space.header("client"),
        ).json()
        assert [c["external_id"] for c in rest["candidates"]] == waiting[2:]
        assert rest["next_after"] is None
        chosen = world.client.get(
            space.url("/pool/candidates"), params={"state": "chosen"}, headers=space.header("admin")
        ).json()["candidates"]
        assert [(c["external_id"], c["item_id"]) for c in chosen] == [
            (picked["external_id"], picked["item_id"])
        ]

    @pytest.mark.parametrize(
        ("params", "field"),
        [({"state": "pending"}, "state"), ({"limit": 0}, "limit"), ({"after": -1}, "after")],
    )
    def test_bad_parameters_are_refused_by_field(
        self, world: World, space: Space, params: dict[str, Any], field: str
    ) -> None:
        response = world.client.get(
            space.url("/pool/candidates"), params=params, headers=space.header("client")
        )
        assert response.status_code == 422
        assert response.json()["error"]["field"] == field

    def test_a_reviewer_may_not_read_the_pool(self, world: World, space: Space) -> None:
        response = world.client.get(space.url("/pool/candidates"), headers=space.header("reviewer"))
        assert response.status_code == 403
