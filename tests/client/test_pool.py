"""Active learning through the Python client, against the real service: the pool, queries, the
settings, a promotion's query, and the library's errors."""

from __future__ import annotations

import pytest

from loopwise.client import (
    ActiveLearning,
    Chosen,
    PoolCandidate,
    PoolRemoval,
    PoolStatus,
    QueryResult,
)
from loopwise.errors import (
    DuplicateExternalId,
    EmptyPool,
    InvalidInput,
    InvalidPayload,
    NotAllowed,
)
from tests.client.conftest import Connect, Space, World
from tests.factories import sms_rows


def candidates(n: int) -> list[dict[str, str]]:
    texts = ("see you at {}", "win a free prize now {}")
    return [{"external_id": f"c{i}", "payload": texts[i % 2].format(i)} for i in range(n)]


def test_candidates_are_added_and_the_best_queued(
    connect: Connect, world: World, retrainable: Space
) -> None:
    client = connect("client")
    assert client.add_to_pool(retrainable.name, candidates(8)) == 8
    assert client.add_to_pool(retrainable.name, candidates(9)) == 1  # a retry adds nothing twice
    assert client.pool_status(retrainable.name) == PoolStatus(waiting=9, chosen=0)
    result = client.query(retrainable.name, 3, strategy="margin", seed=0)
    assert isinstance(result, QueryResult)
    assert (result.strategy, result.considered, result.model_version) == ("margin", 9, 1)
    assert [c.rank for c in result.chosen] == [0, 1, 2]
    assert all(isinstance(c, Chosen) and c.task_id > 0 for c in result.chosen)
    retrainable.token("reviewer")  # the account, made on first use
    entry = world.lw.claim_next(retrainable.name, retrainable.account("reviewer"))
    assert entry is not None
    assert entry.item.external_id == result.chosen[0].external_id  # the first pick first
    assert client.pool_status(retrainable.name) == PoolStatus(waiting=6, chosen=3)
    assert result.awaiting_labels == 0
    again = client.query(retrainable.name, 2, strategy="coreset", seed=0)
    assert again.awaiting_labels == 3  # the first three (one claimed) wait for their labels


def test_settings_and_a_promotions_query(connect: Connect, world: World, seeded: Space) -> None:
    admin = connect("admin")
    assert admin.active_learning(seeded.name) == ActiveLearning("default", 50, 0.1, True)
    changed = admin.set_active_learning(seeded.name, {"batch": 2})
    assert changed == ActiveLearning("default", 2, 0.1, True)
    connect("client").add_to_pool(seeded.name, candidates(5))
    admin.train(seeded.name)
    promotion = admin.promote(seeded.name, force=True)
    assert promotion.promoted
    assert promotion.query is not None
    assert (promotion.query.considered, len(promotion.query.chosen)) == (5, 2)
    assert promotion.query_error is None


def test_a_promotion_whose_query_fails_says_why(
    connect: Connect, world: World, space: Space
) -> None:
    world.lw.import_labels(space.name, sms_rows(300))  # a vocabulary past bait's 2,047 columns
    admin = connect("admin")
    admin.set_active_learning(space.name, {"strategy": "bait"})
    connect("client").add_to_pool(space.name, candidates(5))
    admin.train(space.name)
    promotion = admin.promote(space.name, force=True)
    assert (promotion.promoted, promotion.query) == (True, None)
    assert promotion.query_error is not None
    assert promotion.query_error.startswith("pool.features: bait needs class x feature")


def test_errors_are_the_librarys(connect: Connect, space: Space) -> None:
    client = connect("client")
    with pytest.raises(EmptyPool) as empty:
        client.query(space.name, 1)
    assert empty.value.field == "pool"
    client.add_to_pool(space.name, candidates(1))
    with pytest.raises(DuplicateExternalId) as clash:
        client.add_to_pool(space.name, [{"external_id": "c0", "payload": "another text"}])
    assert clash.value.field == "items[0].external_id"
    with pytest.raises(InvalidInput) as bad:
        connect("admin").set_active_learning(space.name, {"explore": 1.5})
    assert bad.value.field == "explore"
    with pytest.raises(NotAllowed):
        connect("client").set_active_learning(space.name, {"batch": 5})  # admins' setting
    with pytest.raises(NotAllowed):
        connect("reviewer").query(space.name, 1)


def test_a_pool_of_any_size_is_added_in_batches(connect: Connect, space: Space) -> None:
    client = connect("client")
    many = ({"external_id": f"m{i}", "payload": f"message number {i}"} for i in range(25))
    assert client.add_to_pool_many(space.name, many, batch_size=10) == 25
    again = ({"external_id": f"m{i}", "payload": f"message number {i}"} for i in range(30))
    assert client.add_to_pool_many(space.name, again, batch_size=10) == 5  # the rest were there
    assert client.pool_status(space.name) == PoolStatus(waiting=30, chosen=0)
    bad = [{"external_id": f"n{i}", "payload": "" if i == 23 else f"new {i}"} for i in range(30)]
    with pytest.raises(InvalidPayload) as refused:
        client.add_to_pool_many(space.name, bad, batch_size=10)
    assert refused.value.field == "items[23].payload.text"  # its place in all, not its batch's
    # each batch is a transaction: the two before the failing one stay added
    assert client.pool_status(space.name) == PoolStatus(waiting=50, chosen=0)
    twice = [{"external_id": f"t{i}", "payload": f"twice {i}"} for i in range(13)]
    twice.append({"external_id": "t11", "payload": "another text"})
    with pytest.raises(DuplicateExternalId) as clash:
        client.add_to_pool_many(space.name, twice, batch_size=10)
    assert clash.value.field == "items[13].external_id"
    assert "'t11' is in items[11] with another payload" in clash.value.message
    with pytest.raises(InvalidInput) as size:
        client.add_to_pool_many(space.name, bad, batch_size=0)
    assert size.value.field == "batch_size"


def test_candidates_are_removed_by_id_payload_or_all(connect: Connect, space: Space) -> None:
    client = connect("client")
    client.add_to_pool(space.name, candidates(4))
    chosen = client.query(space.name, 1, strategy="random", seed=0).chosen[0].external_id
    client.add_to_pool(space.name, [{"payload": "added without an id"}])
    kept = [c["external_id"] for c in candidates(4) if c["external_id"] != chosen]

    removed = client.remove_from_pool(
        space.name, [kept[0], {"payload": "added without an id"}, chosen, "never-added"]
    )

    assert removed == PoolRemoval(removed=2, chosen=1, not_found=1)
    assert client.pool_status(space.name) == PoolStatus(waiting=2, chosen=1)
    with pytest.raises(DuplicateExternalId) as clash:
        client.remove_from_pool(space.name, [{"external_id": kept[1], "payload": "another"}])
    assert clash.value.field == "items[0].external_id"
    with pytest.raises(InvalidInput) as neither:
        client.remove_from_pool(space.name)
    assert neither.value.field == "items"
    with pytest.raises(NotAllowed):
        connect("reviewer").remove_from_pool(space.name, everything=True)
    everything = client.remove_from_pool(space.name, everything=True)
    assert everything == PoolRemoval(removed=2, chosen=1, not_found=0)
    assert client.pool_status(space.name) == PoolStatus(waiting=0, chosen=1)


def test_the_pool_is_listed_a_page_at_a_time(connect: Connect, space: Space) -> None:
    client = connect("client")
    client.add_to_pool(space.name, candidates(5))
    chosen = client.query(space.name, 1, strategy="random", seed=0).chosen[0]

    page = client.pool_candidates(space.name, limit=2)

    waiting = [c["external_id"] for c in candidates(5) if c["external_id"] != chosen.external_id]
    assert [c.external_id for c in page.candidates] == waiting[:2]
    assert all(isinstance(c, PoolCandidate) and c.item_id is None for c in page.candidates)
    assert page.next_after == page.candidates[-1].id
    every = list(client.iter_pool_candidates(space.name, state="all", page_size=2))
    assert [c.external_id for c in every] == [f"c{i}" for i in range(5)]
    (picked,) = client.iter_pool_candidates(space.name, state="chosen")
    assert (picked.external_id, picked.item_id) == (chosen.external_id, chosen.item_id)
    assert picked.chosen_at is not None
    with pytest.raises(InvalidInput) as bad:
        client.pool_candidates(space.name, state="pending")
    assert bad.value.field == "state"
    with pytest.raises(NotAllowed):
        connect("reviewer").pool_candidates(space.name)
