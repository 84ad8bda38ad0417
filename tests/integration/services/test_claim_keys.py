"""Claims made with a key, and giving them back by key (``loopwise.services.claim_keys``): the
task of a claim made goes back to the queue, a claim whose key came back first takes nothing,
and a claim and the give-back of its key never pass each other."""

from __future__ import annotations

import threading
from datetime import timedelta
from typing import Any

import pytest

from loopwise import Loopwise
from loopwise.errors import InvalidInput, NotAllowed
from loopwise.store import queue as store_queue
from loopwise.testing import FrozenClock
from tests.factories import NO_HOLDOUT, add_reviewers, make_text_project, text_items
from tests.integration.helpers import events, one, refused, rows
from tests.integration.services.test_review_workflow_gold import HAM_GOLD, AlwaysGold

KEY = "a" * 32
OTHER_KEY = "b" * 32


def project_with_work(lw: Loopwise, n: int = 3) -> list[int]:
    """``n`` queued items (no model: every one goes to people), reviewers alice and bob; the
    task ids."""
    make_text_project(lw, training=NO_HOLDOUT)
    add_reviewers(lw, "sms", "alice", "bob")
    routed = lw.submit("sms", text_items([f"message {i}" for i in range(n)]))
    return [r.task_id for r in routed if r.task_id is not None]


def task_state(lw: Loopwise, task_id: int) -> tuple[str, str | None, str | None]:
    row = one(lw, "review_task", id=task_id)
    return row["status"], row["claimed_by"], row["claim_key"]


class TestReleaseClaims:
    def test_the_task_of_a_claim_made_goes_back_to_the_queue(self, lw: Loopwise) -> None:
        project_with_work(lw)
        entry = lw.claim_next("sms", "alice", claim_key=KEY)
        assert entry is not None
        kept = lw.claim_next("sms", "alice", claim_key=OTHER_KEY)
        assert kept is not None
        assert task_state(lw, entry.task.id) == ("claimed", "alice", KEY)

        assert lw.release_claims("sms", "alice", [KEY]) == 1

        assert task_state(lw, entry.task.id) == ("open", None, None)
        assert task_state(lw, kept.task.id) == ("claimed", "alice", OTHER_KEY)
        released = events(lw, "task.released")
        assert [(e["actor"], e["entity_id"], e["after"]) for e in released] == [
            ("alice", str(entry.task.id), {"claim_key": KEY})
        ]
        assert rows(lw, "released_claim") == []
        again = lw.claim_next("sms", "bob")
        assert again is not None
        assert again.task.id == entry.task.id  # the best task again, for anyone

    def test_a_claim_whose_key_came_back_first_takes_nothing(self, lw: Loopwise) -> None:
        tasks = project_with_work(lw)

        assert lw.release_claims("sms", "alice", [KEY]) == 0
        assert lw.claim_next("sms", "alice", claim_key=KEY) is None

        assert [task_state(lw, t) for t in tasks] == [("open", None, None)] * 3
        assert events(lw, "task.claimed") == []
        assert [(r["reviewer"], r["claim_key"]) for r in rows(lw, "released_claim")] == [
            ("alice", KEY)
        ]
        # the key is alice's: bob's claim with it is his own, and alice's other keys claim
        assert lw.claim_next("sms", "bob", claim_key=KEY) is not None
        assert lw.claim_next("sms", "alice", claim_key=OTHER_KEY) is not None
        assert lw.claim_next("sms", "alice") is not None

    def test_keys_given_back_are_forgotten_after_a_day(
        self, lw: Loopwise, clock: FrozenClock
    ) -> None:
        project_with_work(lw)
        lw.release_claims("sms", "alice", [KEY])
        clock.advance(seconds=timedelta(days=1, seconds=1).total_seconds())

        lw.release_claims("sms", "alice", [OTHER_KEY])

        assert [r["claim_key"] for r in rows(lw, "released_claim")] == [OTHER_KEY]
        assert lw.claim_next("sms", "alice", claim_key=KEY) is not None

    def test_someone_elses_key_gives_back_nothing_of_theirs(self, lw: Loopwise) -> None:
        project_with_work(lw)
        entry = lw.claim_next("sms", "bob", claim_key=KEY)
        assert entry is not None

        assert lw.release_claims("sms", "alice", [KEY]) == 0

        assert task_state(lw, entry.task.id) == ("claimed", "bob", KEY)

    def test_a_gold_task_claimed_with_a_key_is_withdrawn(self, lw: Loopwise) -> None:
        project_with_work(lw)
        lw.set_review_config("sms", {"gold_rate": 0.5})
        lw.add_gold_items("sms", HAM_GOLD)
        lw.ctx.random = AlwaysGold()
        entry = lw.claim_next("sms", "alice", claim_key=KEY)
        assert entry is not None
        assert rows(lw, "honeypot", item_id=entry.item.id)  # a gold task

        assert lw.release_claims("sms", "alice", [KEY]) == 1

        assert task_state(lw, entry.task.id) == ("cancelled", None, None)

    def test_bad_keys_and_callers_are_refused_and_nothing_is_written(
        self, lw: Loopwise, subtests: pytest.Subtests
    ) -> None:
        project_with_work(lw)
        lw.add_reviewer("outsider", projects=[])
        cases: list[tuple[Any, str]] = [
            ([], "claim_keys"),
            (KEY, "claim_keys"),
            ([KEY] * 51, "claim_keys"),
            ([KEY, "short"], "claim_keys[1]"),
            (["x" * 65], "claim_keys[0]"),
            (["has space in it ok"], "claim_keys[0]"),
            ([7], "claim_keys[0]"),
        ]
        for keys, field in cases:
            with subtests.test(keys=keys), refused(lw, InvalidInput, field):
                lw.release_claims("sms", "alice", keys)
        for key in ("short", "x" * 65, "ключ" * 8):
            with subtests.test(key=key), refused(lw, InvalidInput, "claim_key"):
                lw.claim_next("sms", "alice", claim_key=key)
        with refused(lw, NotAllowed, "project"):
            lw.release_claims("sms", "outsider", [KEY])


class TestRace:
    def test_a_key_given_back_while_its_claim_is_being_made_gets_the_task_back(
        self, lw: Loopwise, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        """The give-back waits for the claim: without the lock it would find no task, remember
        the key, and the claim would then take a task no page knows of."""
        project_with_work(lw)
        inside, go = threading.Event(), threading.Event()
        real = store_queue.claim_best

        def slow(*args: Any, **kwargs: Any) -> Any:
            inside.set()
            assert go.wait(10)
            return real(*args, **kwargs)

        monkeypatch.setattr(store_queue, "claim_best", slow)
        got: dict[str, Any] = {}
        claimer = threading.Thread(
            target=lambda: got.update(entry=lw.claim_next("sms", "alice", claim_key=KEY))
        )
        claimer.start()
        assert inside.wait(10)
        giver = threading.Thread(
            target=lambda: got.update(released=lw.release_claims("sms", "alice", [KEY]))
        )
        giver.start()
        giver.join(0.5)
        assert giver.is_alive(), "the give-back did not wait for the claim in flight"
        go.set()
        claimer.join(10)
        giver.join(10)

        entry = got["entry"]
        assert entry is not None
        assert got["released"] == 1
        assert task_state(lw, entry.task.id) == ("open", None, None)
        assert rows(lw, "released_claim") == []
