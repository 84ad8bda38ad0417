"""What a query hands its strategy besides the candidates: the items waiting for a label, in
the same feature space, so a query made before people answer the last one spreads away from
it (on SQLite and PostgreSQL, with and without a model)."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest

from loopwise import Loopwise
from loopwise.active_learning import Coreset, Pool
from loopwise.services import pool_inputs
from loopwise.store.pool import awaiting_label
from tests.factories import (
    NO_HOLDOUT,
    add_reviewers,
    make_tabular_project,
    make_text_project,
    tabular_rows,
    text_items,
)
from tests.integration.helpers import events

BIG = [
    "win a free cruise prize tonight",
    "meeting moved to thursday afternoon",
    "parcel held at the depot collect",
    "account locked verify your password",
]
SMALL = [
    "mum says dinner at seven",
    "football tickets for saturday",
    "dentist appointment tomorrow morning",
    "phone upgrade offer ends today",
]
WORDS = ["alpha", "bravo", "charlie", "delta", "echo", "foxtrot"]


def groups(big: int = 6, small: int = 2) -> list[dict[str, Any]]:
    """Candidates in eight groups of near-duplicates (one word apart, a word no other group
    has): four of ``big`` texts, four of ``small``; external id ``<group>-<variant>``."""
    rows = []
    for g, base in enumerate(BIG + SMALL):
        for v in range(big if g < len(BIG) else small):
            rows.append({"external_id": f"{g}-{v}", "payload": f"{base} {WORDS[v]}{g}"})
    return rows


CORNERS = [
    (age, income, debt) for age in (0.0, 100.0) for income in (0.0, 200.0) for debt in (0.0, 150.0)
]


def blobs(size: int = 4) -> list[dict[str, Any]]:
    """Loan candidates in eight tight groups of ``size`` at the corners of a box around the
    labelled rows; external id ``<group>-<member>``."""
    return [
        {
            "external_id": f"{g}-{m}",
            "payload": {"features": [age + 0.3 * m, income - 0.2 * m, debt + 0.1 * m]},
        }
        for g, (age, income, debt) in enumerate(CORNERS)
        for m in range(size)
    ]


def group_of(external_id: str) -> int:
    return int(external_id.split("-")[0])


def picked_groups(lw: Loopwise, n: int, strategy: str) -> list[int]:
    result = lw.query("sms", n, strategy=strategy, seed=0)
    return [group_of(c.external_id) for c in result.chosen]


def test_a_cold_query_leaves_the_groups_an_earlier_query_took(lw: Loopwise) -> None:
    make_text_project(lw, training=NO_HOLDOUT)
    lw.set_active_learning("sms", {"explore": 0.0})  # the cold start's k-means alone
    lw.add_to_pool("sms", groups(big=5, small=5))
    first = picked_groups(lw, 4, "default")
    assert len(set(first)) == 4
    second = picked_groups(lw, 4, "default")
    # the other four groups, not near-duplicates of the first four picks
    assert sorted(first + second) == list(range(8))
    assert [e["after"]["awaiting_labels"] for e in events(lw, "pool.queried")] == [0, 4]


def test_with_a_model_a_query_spreads_away_from_the_picks_still_in_review(
    lw: Loopwise, monkeypatch: pytest.MonkeyPatch
) -> None:
    make_tabular_project(lw, training=NO_HOLDOUT)
    lw.set_active_learning("loans", {"explore": 0.0})
    lw.import_labels("loans", tabular_rows(20))
    lw.promote("loans", lw.train("loans").version, force=True)
    lw.add_to_pool("loans", blobs())
    seen: list[Pool] = []
    select = Coreset.select

    def spy(self: Coreset, pool: Pool, n: int, rng: np.random.Generator) -> Any:
        seen.append(pool)
        return select(self, pool, n, rng)

    monkeypatch.setattr(Coreset, "select", spy)
    taken: list[int] = []
    for _ in range(4):
        result = lw.query("loans", 2, strategy="coreset", seed=0)
        taken += [group_of(c.external_id) for c in result.chosen]
    assert sorted(taken) == list(range(8))  # each group once, though nobody answered yet
    assert [0 if p.pending is None else p.pending.shape[0] for p in seen] == [0, 2, 4, 6]
    last = seen[-1]
    assert last.pending is not None
    assert last.pending_probabilities is not None
    assert last.pending.shape == (6, 3)  # the model's scaled columns, as the candidates'
    assert last.pending_probabilities.shape == (6, 2)
    np.testing.assert_allclose(last.pending_probabilities.sum(axis=1), 1.0)


def test_items_people_are_asked_about_count_and_labelled_ones_do_not(lw: Loopwise) -> None:
    make_text_project(lw, training=NO_HOLDOUT)
    add_reviewers(lw, "sms", "alice")
    routed = lw.submit("sms", text_items([f"{BIG[0]} {w}" for w in WORDS[:2]], prefix="live"))
    assert all(r.task_id is not None for r in routed)
    entry = lw.claim_next("sms", "alice")
    assert entry is not None
    lw.submit_verdict("sms", entry.task.id, "alice", "correct", label="spam")
    lw.set_active_learning("sms", {"explore": 0.0})
    lw.add_to_pool("sms", groups())
    chosen = picked_groups(lw, 3, "kmeans")
    # the live item still waiting stands for the cruise texts; the one resolved is labelled
    assert 0 not in chosen
    assert [e["after"]["awaiting_labels"] for e in events(lw, "pool.queried")] == [1]


def test_the_newest_waiting_items_are_read_up_to_the_limit(
    lw: Loopwise, monkeypatch: pytest.MonkeyPatch
) -> None:
    make_text_project(lw, training=NO_HOLDOUT)
    routed = lw.submit("sms", text_items([f"message number {i}" for i in range(5)]))
    ids = [r.item_id for r in routed]
    with lw.ctx.read() as tx:
        assert awaiting_label(tx.session, lw.project("sms").id, 3) == ids[::-1][:3]
    monkeypatch.setattr(pool_inputs, "PENDING_LIMIT", 2)
    lw.add_to_pool("sms", groups())
    lw.query("sms", 2, strategy="kmeans", seed=0)
    assert [e["after"]["awaiting_labels"] for e in events(lw, "pool.queried")] == [2]
