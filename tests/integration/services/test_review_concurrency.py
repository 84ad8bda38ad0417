"""Many reviewers working one queue at once, each through a ``Loopwise`` of their own (as
separate worker processes would): no task is ever held by two people, nobody answers an item
twice, every task gets exactly the answers it needs, and no item is lost.

PostgreSQL serves concurrent claimers with ``FOR UPDATE SKIP LOCKED``; SQLite serialises the
writers. The same test runs on both.
"""

from __future__ import annotations

import threading
import time
from collections import Counter, defaultdict
from concurrent.futures import ThreadPoolExecutor

import pytest

from loopwise import Loopwise, Settings, Stage, Verdict
from loopwise.testing import FrozenClock
from tests.factories import LEANING, NO_HOLDOUT, add_reviewers
from tests.integration.helpers import assert_no_item_lost, rows

ITEMS = 200
REVIEWERS = 8
DOUBLE_EVERY = 4
"""Every 4th item matches a rule asking for 2 independent reviews (50 of the 200)."""
SPLIT_EVERY = 20
"""On every 20th item the reviewers' answers depend on who they are, so double-reviewed
ones can split 1-1 and go to an expert."""


def item_number(external_id: str) -> int:
    return int(external_id.split("-")[1])


def work(settings: Settings, clock: FrozenClock, name: str, start: threading.Barrier) -> int:
    """Claim and answer until nothing is left that ``name`` may take; verdicts given."""
    done = 0
    with Loopwise(settings, clock=clock, migrate=False) as app:
        mine = int(name.split("-")[1])
        start.wait()
        while True:
            entry = app.claim_next("sms", name)
            if entry is None:
                waiting = app.queue("sms", stage=Stage.REVIEW, limit=1000)
                answered = {
                    e.task.id
                    for e in waiting
                    if any(r.reviewer == name for r in app.reviews_of_item(e.item.id))
                }
                if all(e.task.id in answered for e in waiting):
                    return done
                time.sleep(0.005)  # someone else holds what is left; it may come back
                continue
            assert entry.task.claimed_by == name
            number = item_number(entry.item.external_id)
            if number % SPLIT_EVERY == 0 and mine % 2:
                app.submit_verdict("sms", entry.task.id, name, Verdict.CORRECT, label="ham")
            else:
                app.submit_verdict("sms", entry.task.id, name, Verdict.APPROVE)
            done += 1


@pytest.mark.slow
def test_reviewers_in_parallel_never_share_a_task_nor_lose_an_item(
    lw: Loopwise, settings: Settings, clock: FrozenClock
) -> None:
    lw.create_project(
        "sms",
        ["ham", "spam"],
        routing={"ood": None, "rules": [{"name": "double", "when": "double", "reviews": 2}]},
        training=NO_HOLDOUT,
        # Two agreeing answers always settle (a consensus never overrules every reviewer of a
        # task), so only 1-1 splits escalate.
        review={"min_agreement": 0.66, "aggregator": "dawid_skene"},
    )
    names = [f"r-{i}" for i in range(REVIEWERS)]
    add_reviewers(lw, "sms", *names)
    batch = [
        {
            "external_id": f"it-{i}",
            "payload": f"message {i}",
            "probabilities": list(LEANING),
            "metadata": {"double": i % DOUBLE_EVERY == 0},
        }
        for i in range(ITEMS)
    ]
    routed = lw.submit("sms", batch)
    assert all(r.task_id is not None for r in routed)
    start = threading.Barrier(REVIEWERS)

    with ThreadPoolExecutor(max_workers=REVIEWERS) as pool:
        futures = [pool.submit(work, settings, clock, name, start) for name in names]
        verdicts = [f.result(timeout=300) for f in futures]
    assert sum(n > 0 for n in verdicts) >= 2, verdicts  # the work was shared

    tasks = {t["id"]: t for t in rows(lw, "review_task")}
    review_tasks = [t for t in tasks.values() if t["stage"] == "review"]
    reviews = rows(lw, "review")
    assert sum(verdicts) == len(reviews)
    assert len(review_tasks) == ITEMS
    # Nobody answered an item twice; every task got exactly the answers it asked for.
    assert max(Counter((r["item_id"], r["reviewer"]) for r in reviews).values()) == 1
    answers = Counter(r["task_id"] for r in reviews)
    assert {t["id"]: t["required_reviews"] for t in review_tasks} == dict(answers)
    assert sorted(Counter(t["required_reviews"] for t in review_tasks).items()) == [
        (1, ITEMS - ITEMS // DOUBLE_EVERY),
        (2, ITEMS // DOUBLE_EVERY),
    ]
    # Claims and verdicts on each task alternate, holder by holder: never two at once.
    trail: dict[int, list[tuple[str, str]]] = defaultdict(list)
    for event in rows(lw, "audit_event"):
        if event["action"] in ("task.claimed", "review.submitted"):
            trail[int(event["entity_id"])].append((event["action"], event["actor"]))
    for task_id, steps in trail.items():
        holders = [actor for action, actor in steps[::2]]
        assert [action for action, _ in steps] == ["task.claimed", "review.submitted"] * len(
            holders
        ), f"task {task_id}: {steps}"
        assert [actor for _, actor in steps[1::2]] == holders
        assert len(set(holders)) == len(holders)
    assert rows(lw, "audit_event", action="task.lease_expired") == []
    # Every item is resolved, or escalated after a 1-1 split and waiting for an expert.
    escalated = {t["item_id"] for t in review_tasks if t["status"] == "escalated"}
    experts = [t for t in tasks.values() if t["stage"] == "expert"]
    assert {t["item_id"] for t in experts} == escalated
    assert all(t["status"] == "open" for t in experts)
    may_split = {r.item_id for r in routed if item_number(r.external_id) % SPLIT_EVERY == 0}
    assert escalated <= may_split
    statuses = Counter(i["status"] for i in rows(lw, "item"))
    # Counter to Counter: a status with no items (no 1-1 split this run) counts as 0
    assert statuses == Counter({"resolved": ITEMS - len(escalated), "queued": len(escalated)})
    assert len(rows(lw, "label")) == ITEMS - len(escalated)
    assert_no_item_lost(lw, "sms", [r.external_id for r in routed])
