"""A pool query sets aside the candidates whose payload an item people see already holds
(queued for review, or resolved) under another external id, and records them as that item's."""

from __future__ import annotations

from typing import Any

import pytest

from loopwise import Loopwise
from loopwise.core.policy import RoutingConfig
from loopwise.errors import EmptyPool, NotEnoughInPool
from loopwise.services import pool as pool_service
from loopwise.services.pool import PoolStatus
from tests.factories import NO_HOLDOUT, make_text_project, seeded_model, sms_rows
from tests.integration.helpers import events, item_id, one, rows


def candidates(n: int) -> list[dict[str, Any]]:
    """``n`` unlabelled SMS texts, ids ``sms-<i>``."""
    return [{k: v for k, v in row.items() if k != "label"} for row in sms_rows(n, skip=300)]


def pool_row(lw: Loopwise, external_id: str) -> dict[str, Any]:
    return one(lw, "pool_item", external_id=external_id)


def repeat_two(lw: Loopwise, pool: list[dict[str, Any]]) -> None:
    """Send the first candidate's text as a client's item (queued: there is no model) and
    import a label for the second's, both under other external ids."""
    lw.submit("sms", [{"external_id": "client-1", "payload": pool[0]["payload"]}])
    lw.import_labels(
        "sms", [{"external_id": "gold-1", "payload": pool[1]["payload"], "label": "ham"}]
    )
    assert one(lw, "item", external_id="client-1")["status"] == "queued"
    assert one(lw, "item", external_id="gold-1")["status"] == "resolved"


def test_a_query_sets_aside_candidates_people_have_seen_and_chooses_from_the_rest(
    lw: Loopwise,
) -> None:
    make_text_project(lw)
    pool = candidates(6)
    lw.add_to_pool("sms", pool)
    repeat_two(lw, pool)
    # not known until a query looks: adding and ingesting do not compare payloads
    assert lw.pool_status("sms") == PoolStatus(waiting=6, chosen=0)

    # up to 5 of 6 (as a promotion asks): the picks hold at least one of the two repeats
    result = pool_service.query(lw.ctx, "sms", 5, up_to=True)

    chosen = {c.external_id for c in result.chosen}
    assert chosen == {p["external_id"] for p in pool[2:]}
    assert result.considered == 4
    assert pool_row(lw, pool[0]["external_id"])["item_id"] == item_id(lw, "client-1")
    assert pool_row(lw, pool[1]["external_id"])["item_id"] == item_id(lw, "gold-1")
    assert pool_row(lw, pool[0]["external_id"])["queried_at"] is None  # no query chose it
    assert lw.pool_status("sms") == PoolStatus(waiting=0, chosen=6)
    texts = [r["payload"]["text"] for r in rows(lw, "item")]
    assert len(texts) == len(set(texts))  # no text is an item twice
    assert [e["after"]["set_aside"] for e in events(lw, "pool.queried")] == [2]
    listed = {c.external_id: c for c in lw.pool_candidates("sms", state="chosen")}
    assert listed[pool[1]["external_id"]].item_id == item_id(lw, "gold-1")
    assert listed[pool[1]["external_id"]].chosen_at is None
    with pytest.raises(EmptyPool):
        lw.query("sms", 1)


def test_a_query_left_short_by_them_still_records_them(lw: Loopwise) -> None:
    make_text_project(lw)
    pool = candidates(6)
    lw.add_to_pool("sms", pool)
    repeat_two(lw, pool)

    with pytest.raises(NotEnoughInPool) as info:
        lw.query("sms", 5)  # 4 are left once the two are set aside

    assert info.value.field == "n"
    assert "the pool has 4 left" in info.value.message
    assert lw.pool_status("sms") == PoolStatus(waiting=4, chosen=2)
    assert events(lw, "pool.queried") == []  # nothing chosen, no task made
    assert [(e["actor"], e["after"]) for e in events(lw, "pool.set_aside")] == [
        ("system", {"set_aside": 2, "left": 4, "asked": 5})
    ]
    assert len(rows(lw, "review_task")) == 1  # client-1's
    result = lw.query("sms", 4)
    assert {c.external_id for c in result.chosen} == {p["external_id"] for p in pool[2:]}
    assert [e["after"]["set_aside"] for e in events(lw, "pool.queried")] == [0]


def test_when_every_candidate_repeats_the_pool_is_empty(lw: Loopwise) -> None:
    make_text_project(lw)
    pool = candidates(2)
    lw.add_to_pool("sms", pool)
    repeat_two(lw, pool)
    with pytest.raises(EmptyPool):
        pool_service.query(lw.ctx, "sms", 2, up_to=True, actor="admin")
    assert lw.pool_status("sms") == PoolStatus(waiting=0, chosen=2)
    assert [(e["actor"], e["after"]) for e in events(lw, "pool.set_aside")] == [
        ("admin", {"set_aside": 2, "left": 0, "asked": 2})
    ]


def test_a_candidate_repeating_an_item_the_model_decided_alone_may_be_chosen(
    lw: Loopwise,
) -> None:
    """No person saw an item the model decided, so asking about its text is not wasted."""
    make_text_project(lw, training=NO_HOLDOUT, routing=RoutingConfig(auto_threshold=0.6, ood=None))
    seeded_model(lw)
    pool = candidates(8)
    lw.add_to_pool("sms", pool)
    copies = [{"external_id": f"copy-{p['external_id']}", "payload": p["payload"]} for p in pool]
    routed = lw.submit("sms", copies)
    seen = {p["external_id"] for p, r in zip(pool, routed, strict=True) if r.status == "queued"}
    decided = {p["external_id"] for p in pool} - seen
    assert seen
    assert decided  # both kinds, or the test shows nothing

    result = pool_service.query(lw.ctx, "sms", len(pool), up_to=True, strategy="random")

    assert {c.external_id for c in result.chosen} == decided
    assert {
        r["external_id"]
        for r in rows(lw, "pool_item")
        if r["item_id"] is not None and r["queried_at"] is None
    } == seen
