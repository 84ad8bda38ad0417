"""The review queue over HTTP: list, claim, heartbeat, release (by task, or by claim key),
verdict, undo. The reviewer is always the token's account."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from sqlalchemy import select

from loopwise.store.tables import ItemRow, LabelRow, ReviewRow, ReviewTaskRow
from tests.api.conftest import Space, World, error, iso


def task_row(world: World, task_id: int) -> ReviewTaskRow:
    (row,) = world.scalars(select(ReviewTaskRow).where(ReviewTaskRow.id == task_id))
    found: ReviewTaskRow = row
    return found


def reviews(world: World, task_id: int) -> list[tuple[str, str, str | None]]:
    rows = world.scalars(
        select(ReviewRow).where(ReviewRow.task_id == task_id).order_by(ReviewRow.id)
    )
    return [(r.reviewer, r.verdict, r.label) for r in rows]


def claim(world: World, space: Space, role: str = "reviewer", body: Any = None) -> dict[str, Any]:
    response = world.client.post(space.url("/queue/claim"), json=body, headers=space.header(role))
    assert response.status_code == 200, response.text
    entry: dict[str, Any] = response.json()["entry"]
    return entry


def lease(seconds: int, world: World) -> str:
    return iso(world.clock.now() + timedelta(seconds=seconds))


def entry_body(
    world: World, space: Space, external_id: str, *, claimed_by: str | None
) -> dict[str, Any]:
    """The queue entry of an item submitted with :meth:`Space.submit` (probabilities 0.5)."""
    (item,) = world.scalars(
        select(ItemRow).where(
            ItemRow.project_id == world.lw.project(space.name).id,
            ItemRow.external_id == external_id,
        )
    )
    (task,) = world.scalars(select(ReviewTaskRow).where(ReviewTaskRow.item_id == item.id))
    return {
        "task": {
            "id": task.id,
            "stage": "review",
            "priority": 2,
            "priority_score": 1.0,
            "status": "open" if claimed_by is None else "claimed",
            "claimed_by": claimed_by,
            "lease_expires_at": None
            if task.lease_expires_at is None
            else iso(task.lease_expires_at),
            "created_at": iso(task.created_at),
            "due_at": iso(task.created_at + timedelta(days=1)),
            "required_reviews": 1,
            "required_tags": [],
        },
        "item": {
            "id": item.id,
            "external_id": external_id,
            "payload": {"text": f"text of {external_id}"},
            "metadata": {},
            "status": "queued",
            "created_at": iso(item.created_at),
        },
        "prediction": {
            "predicted_label": "ham",
            "confidence": 0.5,
            "uncertainty": 1.0,
            "probabilities": [0.5, 0.5],
        },
        "reasons": ["confidence 0.500 below threshold 0.750"],
        "earlier_reviews": [],
    }


class TestQueue:
    def test_open_tasks_in_serving_order(self, world: World, space: Space) -> None:
        space.submit("q-1")
        space.submit("q-2", (0.7, 0.3))
        response = world.client.get(space.url("/queue"), headers=space.header("viewer"))
        assert response.status_code == 200
        body = response.json()
        assert [e["item"]["external_id"] for e in body] == ["q-1", "q-2"]
        assert body[0] == entry_body(world, space, "q-1", claimed_by=None)

    def test_paging_and_stage(self, world: World, space: Space) -> None:
        for i in range(3):
            space.submit(f"q-{i}")
        second = world.client.get(
            space.url("/queue?limit=1&offset=1"), headers=space.header("viewer")
        )
        assert [e["item"]["external_id"] for e in second.json()] == ["q-1"]
        experts = world.client.get(space.url("/queue?stage=expert"), headers=space.header("viewer"))
        assert experts.json() == []


class TestClaim:
    def test_the_best_task_under_a_lease(self, world: World, space: Space) -> None:
        space.submit("q-1")
        entry = claim(world, space)
        assert entry == {
            **entry_body(world, space, "q-1", claimed_by=space.account("reviewer")),
        }
        assert entry["task"]["lease_expires_at"] == lease(300, world)
        stored = task_row(world, entry["task"]["id"])
        assert stored.lease_expires_at is not None
        assert (stored.status, stored.claimed_by, iso(stored.lease_expires_at)) == (
            "claimed",
            space.account("reviewer"),
            lease(300, world),
        )

    def test_entry_null_when_nothing_is_left(self, world: World, space: Space) -> None:
        response = world.client.post(space.url("/queue/claim"), headers=space.header("reviewer"))
        assert response.status_code == 200
        assert response.json() == {"entry": None, "explanation": None}

    def test_an_expert_asking_for_expert_work_when_there_is_none(
        self, world: World, space: Space
    ) -> None:
        space.submit("q-1")
        assert claim(world, space, "expert", {"stage": "expert"}) is None

    def test_expert_work_is_refused_to_a_reviewer(self, world: World, space: Space) -> None:
        space.submit("q-1")
        response = world.client.post(
            space.url("/queue/claim"), json={"stage": "expert"}, headers=space.header("reviewer")
        )
        assert response.status_code == 403
        assert response.json() == error(
            "not_allowed",
            f"{space.account('reviewer')!r} is a reviewer; expert tasks need the expert role",
            "stage",
        )
        assert world.scalars(
            select(ReviewTaskRow.status).where(
                ReviewTaskRow.project_id == world.lw.project(space.name).id
            )
        ) == ["open"]

    def test_409_past_the_limit_of_held_tasks(self, world: World, space: Space) -> None:
        for i in range(4):
            space.submit(f"q-{i}")
        for _ in range(3):
            claim(world, space)
        response = world.client.post(space.url("/queue/claim"), headers=space.header("reviewer"))
        assert response.status_code == 409
        assert response.json() == error(
            "limit_reached",
            f"{space.account('reviewer')!r} holds 3 tasks, their limit;"
            " finish or release one first",
            "reviewer",
        )


class TestHeartbeat:
    def test_extends_the_lease(self, world: World, space: Space) -> None:
        space.submit("q-1")
        task_id = claim(world, space)["task"]["id"]
        world.clock.advance(seconds=200)
        response = world.client.post(
            space.url(f"/tasks/{task_id}/heartbeat"), headers=space.header("reviewer")
        )
        assert response.status_code == 200
        assert response.json() == {"task_id": task_id, "lease_expires_at": lease(300, world)}
        assert task_row(world, task_id).lease_expires_at == world.clock.now() + timedelta(
            seconds=300
        )

    def test_409_once_the_lease_has_lapsed(self, world: World, space: Space) -> None:
        space.submit("q-1")
        entry = claim(world, space)
        world.clock.advance(seconds=300)
        response = world.client.post(
            space.url(f"/tasks/{entry['task']['id']}/heartbeat"), headers=space.header("reviewer")
        )
        assert response.status_code == 409
        assert response.json() == error(
            "lease_expired",
            f"your lease on task {entry['task']['id']} expired at "
            f"{entry['task']['lease_expires_at'].replace('Z', '+00:00')}",
            "task_id",
        )

    def test_404_for_a_task_of_another_project(self, world: World, space: Space) -> None:
        other = world.space()
        other.submit("q-1")
        task_id = claim(world, other)["task"]["id"]
        response = world.client.post(
            space.url(f"/tasks/{task_id}/heartbeat"), headers=space.header("reviewer")
        )
        assert response.status_code == 404
        assert response.json() == error(
            "task_not_found", f"no review task {task_id} in project {space.name!r}", "task_id"
        )


class TestRelease:
    def test_gives_the_task_back(self, world: World, space: Space) -> None:
        space.submit("q-1")
        task_id = claim(world, space)["task"]["id"]
        response = world.client.post(
            space.url(f"/tasks/{task_id}/release"), headers=space.header("reviewer")
        )
        assert response.status_code == 204
        assert response.content == b""
        stored = task_row(world, task_id)
        assert (stored.status, stored.claimed_by, stored.lease_expires_at) == ("open", None, None)
        assert claim(world, space, "expert")["task"]["id"] == task_id


class TestReleaseByClaimKey:
    KEY = "0123456789abcdef0123456789abcdef"

    def test_a_claim_made_with_a_key_is_given_back_by_it(self, world: World, space: Space) -> None:
        space.submit("q-1")
        task_id = claim(world, space, body={"claim_key": self.KEY})["task"]["id"]
        assert task_row(world, task_id).claim_key == self.KEY
        response = world.client.post(
            space.url("/queue/release"),
            json={"claim_keys": [self.KEY]},
            headers=space.header("reviewer"),
        )
        assert (response.status_code, response.json()) == (200, {"released": 1})
        stored = task_row(world, task_id)
        assert (stored.status, stored.claimed_by, stored.claim_key) == ("open", None, None)

    def test_a_key_given_back_first_makes_its_claim_take_nothing(
        self, world: World, space: Space
    ) -> None:
        space.submit("q-1")
        response = world.client.post(
            space.url("/queue/release"),
            json={"claim_keys": [self.KEY]},
            headers=space.header("reviewer"),
        )
        assert response.json() == {"released": 0}
        response = world.client.post(
            space.url("/queue/claim"),
            json={"claim_key": self.KEY},
            headers=space.header("reviewer"),
        )
        assert response.json() == {"entry": None, "explanation": None}
        taken = claim(world, space)  # a claim without that key takes the task
        assert taken["task"]["claimed_by"] == space.account("reviewer")

    def test_422_names_the_key_at_fault(self, world: World, space: Space) -> None:
        for url, body, field in [
            ("/queue/release", {"claim_keys": []}, "claim_keys"),
            ("/queue/release", {"claim_keys": [self.KEY, "short"]}, "claim_keys[1]"),
            ("/queue/release", {}, "claim_keys"),
            ("/queue/claim", {"claim_key": "not a key"}, "claim_key"),
        ]:
            response = world.client.post(
                space.url(url), json=body, headers=space.header("reviewer")
            )
            assert response.status_code == 422, (url, body)
            assert response.json()["error"]["field"] == field, (url, body)

    def test_only_people_who_review_give_back(self, world: World, space: Space) -> None:
        for role, status in [("viewer", 403), ("client", 403), ("outsider", 403)]:
            response = world.client.post(
                space.url("/queue/release"),
                json={"claim_keys": [self.KEY]},
                headers=space.header(role),
            )
            assert response.status_code == status, role


class TestVerdict:
    def test_a_correction_resolves_the_item(self, world: World, space: Space) -> None:
        space.submit("q-1")
        task_id = claim(world, space)["task"]["id"]
        world.clock.advance(seconds=45)
        response = world.client.post(
            space.url(f"/tasks/{task_id}/verdict"),
            json={
                "verdict": "correct",
                "label": "spam",
                "error_category": "ambiguous_input",
                "comment": "a prize",
            },
            headers=space.header("reviewer"),
        )
        assert response.status_code == 200, response.text
        (review_id,) = world.scalars(select(ReviewRow.id).where(ReviewRow.task_id == task_id))
        assert response.json() == {
            "review": {
                "id": review_id,
                "task_id": task_id,
                "reviewer": space.account("reviewer"),
                "verdict": "correct",
                "label": "spam",
                "error_category": "ambiguous_input",
                "comment": "a prize",
                "created_at": iso(world.clock.now()),
                "stage": "review",
            },
            "resolved": True,
            "final_label": "spam",
            "escalated": False,
            "break_suggested": False,
        }
        assert task_row(world, task_id).status == "done"
        ((status, label, source),) = world.rows(
            select(ItemRow.status, LabelRow.value, LabelRow.source)
            .join(LabelRow, LabelRow.item_id == ItemRow.id)
            .where(
                ItemRow.external_id == "q-1", ItemRow.project_id == world.lw.project(space.name).id
            )
        )
        assert (status, label, source) == ("resolved", "spam", "reviewer")

    def test_an_approval_takes_the_models_label(self, world: World, space: Space) -> None:
        space.submit("q-1", (0.6, 0.4))
        task_id = claim(world, space)["task"]["id"]
        response = world.client.post(
            space.url(f"/tasks/{task_id}/verdict"),
            json={"verdict": "approve"},
            headers=space.header("reviewer"),
        )
        assert (response.json()["resolved"], response.json()["final_label"]) == (True, "ham")
        assert reviews(world, task_id) == [(space.account("reviewer"), "approve", "ham")]

    def test_an_escalation_goes_to_the_experts(self, world: World, space: Space) -> None:
        space.submit("q-1")
        task_id = claim(world, space)["task"]["id"]
        response = world.client.post(
            space.url(f"/tasks/{task_id}/verdict"),
            json={"verdict": "escalate", "comment": "unsure"},
            headers=space.header("reviewer"),
        )
        assert {k: v for k, v in response.json().items() if k != "review"} == {
            "resolved": False,
            "final_label": None,
            "escalated": True,
            "break_suggested": False,
        }
        assert task_row(world, task_id).status == "escalated"
        expert_task = claim(world, space, "expert")
        assert expert_task["task"]["stage"] == "expert"
        assert [r["verdict"] for r in expert_task["earlier_reviews"]] == ["escalate"]

    def test_422_for_a_label_outside_the_set(self, world: World, space: Space) -> None:
        space.submit("q-1")
        task_id = claim(world, space)["task"]["id"]
        response = world.client.post(
            space.url(f"/tasks/{task_id}/verdict"),
            json={"verdict": "correct", "label": "eggs"},
            headers=space.header("reviewer"),
        )
        assert response.status_code == 422
        assert response.json() == error(
            "invalid_label", "'eggs' is not in the project's label set ['ham', 'spam']", "label"
        )
        assert reviews(world, task_id) == []
        assert task_row(world, task_id).status == "claimed"

    def test_422_for_an_approval_without_a_suggestion(self, world: World, space: Space) -> None:
        world.lw.submit(space.name, [{"external_id": "bare", "payload": "x"}])
        task_id = claim(world, space)["task"]["id"]
        response = world.client.post(
            space.url(f"/tasks/{task_id}/verdict"),
            json={"verdict": "approve"},
            headers=space.header("reviewer"),
        )
        assert response.status_code == 422
        assert response.json() == error(
            "invalid_input", "there is no model suggestion to approve; give a label", "verdict"
        )

    def test_409_on_a_resolved_task(self, world: World, space: Space) -> None:
        space.submit("q-1")
        task_id = claim(world, space)["task"]["id"]
        url = space.url(f"/tasks/{task_id}/verdict")
        world.client.post(
            url, json={"verdict": "correct", "label": "ham"}, headers=space.header("reviewer")
        )
        response = world.client.post(
            url, json={"verdict": "correct", "label": "spam"}, headers=space.header("reviewer")
        )
        assert response.status_code == 409
        assert response.json() == error("not_task_holder", f"task {task_id} is resolved", "task_id")
        assert reviews(world, task_id) == [(space.account("reviewer"), "correct", "ham")]

    def test_409_after_the_lease_lapsed(self, world: World, space: Space) -> None:
        space.submit("q-1")
        task_id = claim(world, space)["task"]["id"]
        world.clock.advance(seconds=301)
        response = world.client.post(
            space.url(f"/tasks/{task_id}/verdict"),
            json={"verdict": "correct", "label": "ham"},
            headers=space.header("reviewer"),
        )
        assert response.status_code == 409
        assert response.json()["error"]["code"] == "lease_expired"
        assert reviews(world, task_id) == []


class TestUndo:
    def test_takes_back_the_last_verdict(self, world: World, space: Space) -> None:
        space.submit("q-1")
        entry = claim(world, space)
        task_id = entry["task"]["id"]
        verdict = world.client.post(
            space.url(f"/tasks/{task_id}/verdict"),
            json={"verdict": "correct", "label": "spam"},
            headers=space.header("reviewer"),
        )
        world.clock.advance(seconds=60)
        response = world.client.post(space.url("/queue/undo"), headers=space.header("reviewer"))
        assert response.status_code == 200
        assert response.json() == verdict.json()["review"]
        assert reviews(world, task_id) == []
        stored = task_row(world, task_id)
        assert (stored.status, stored.claimed_by) == ("claimed", space.account("reviewer"))
        (status,) = world.scalars(select(ItemRow.status).where(ItemRow.id == entry["item"]["id"]))
        assert status == "queued"

    def test_409_after_the_window(self, world: World, space: Space) -> None:
        space.submit("q-1")
        task_id = claim(world, space)["task"]["id"]
        world.client.post(
            space.url(f"/tasks/{task_id}/verdict"),
            json={"verdict": "correct", "label": "spam"},
            headers=space.header("reviewer"),
        )
        world.clock.advance(seconds=121)
        response = world.client.post(space.url("/queue/undo"), headers=space.header("reviewer"))
        assert response.status_code == 409
        assert response.json()["error"]["code"] == "undo_window_closed"
        assert reviews(world, task_id) == [(space.account("reviewer"), "correct", "spam")]

    def test_404_with_nothing_to_undo(self, world: World, space: Space) -> None:
        response = world.client.post(space.url("/queue/undo"), headers=space.header("reviewer"))
        assert response.status_code == 404
        assert response.json() == error(
            "task_not_found",
            f"{space.account('reviewer')!r} has no verdict to undo here",
            "reviewer",
        )

    def test_only_the_callers_own_verdict(self, world: World, space: Space) -> None:
        space.submit("q-1")
        task_id = claim(world, space)["task"]["id"]
        world.client.post(
            space.url(f"/tasks/{task_id}/verdict"),
            json={"verdict": "correct", "label": "spam"},
            headers=space.header("reviewer"),
        )
        response = world.client.post(space.url("/queue/undo"), headers=space.header("expert"))
        assert response.status_code == 404
        assert reviews(world, task_id) == [(space.account("reviewer"), "correct", "spam")]
