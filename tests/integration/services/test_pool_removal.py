"""Removing candidates from the pool: by external id, by payload, or every waiting one; a chosen
candidate stays; a removed candidate's id and stored features never come back."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest

from loopwise import Loopwise
from loopwise.errors import (
    DuplicateExternalId,
    InvalidInput,
    InvalidPayload,
    LoopwiseError,
    ProjectNotFound,
)
from loopwise.services import pool_features
from loopwise.services.pool_removal import PoolRemoval
from loopwise.store.features import FeatureStore
from tests.factories import make_tabular_project, make_text_project, seeded_model
from tests.integration.helpers import events, nothing_written, refused, rows
from tests.integration.services.test_pool import candidates


def waiting_ids(lw: Loopwise) -> list[str]:
    return [r["external_id"] for r in rows(lw, "pool_item") if r["item_id"] is None]


def test_named_candidates_are_removed_chosen_ones_kept_unknown_ones_counted(
    lw: Loopwise,
) -> None:
    make_text_project(lw)
    lw.add_to_pool("sms", candidates(6))
    chosen = lw.query("sms", 1, strategy="random", seed=0).chosen[0].external_id
    others = [c["external_id"] for c in candidates(6) if c["external_id"] != chosen]

    result = lw.remove_from_pool("sms", [others[0], others[1], chosen, "never-added"], actor="ann")

    assert result == PoolRemoval(removed=2, chosen=1, not_found=1)
    assert waiting_ids(lw) == others[2:]
    assert lw.pool_status("sms").waiting == 3
    assert len(rows(lw, "item", external_id=chosen)) == 1  # the chosen item is untouched
    assert lw.pool_status("sms").chosen == 1
    (event,) = events(lw, "pool.removed")
    assert event["actor"] == "ann"
    assert event["after"] == {"removed": 2, "chosen": 1, "not_found": 1, "everything": False}
    # a removal sent twice removes nothing the second time
    again = lw.remove_from_pool("sms", [others[0], others[1]])
    assert again == PoolRemoval(removed=0, chosen=0, not_found=2)


def test_candidates_added_without_ids_are_removed_by_payload(lw: Loopwise) -> None:
    make_text_project(lw)
    lw.add_to_pool("sms", [{"payload": "win a prize"}, {"payload": "see you at six"}])
    lw.add_to_pool("sms", [{"external_id": "k", "payload": "x y"}])

    # the file that added them, read again: the same payloads
    result = lw.remove_from_pool("sms", [{"payload": "win a prize", "metadata": {"a": 1}}])

    assert result == PoolRemoval(removed=1, chosen=0, not_found=0)
    assert sorted(r["payload"]["text"] for r in rows(lw, "pool_item")) == ["see you at six", "x y"]
    missing = lw.remove_from_pool("sms", [{"payload": "not in the pool"}])
    assert missing == PoolRemoval(removed=0, chosen=0, not_found=1)


def test_a_payload_names_every_candidate_with_it_that_has_a_random_id(lw: Loopwise) -> None:
    """Candidates added without an external id before they were named by their payload got a
    random one: a payload still finds them (by its digest), every one with it."""
    make_text_project(lw)
    lw.add_to_pool(
        "sms",
        [
            {"external_id": "3f2a9c", "payload": "win a prize"},
            {"external_id": "77b01e", "payload": "win a prize"},
            {"external_id": "c4d5e6", "payload": "see you at six"},
        ],
    )

    result = lw.remove_from_pool("sms", [{"payload": "win a prize"}, {"payload": "absent"}])

    assert result == PoolRemoval(removed=2, chosen=0, not_found=1)
    assert waiting_ids(lw) == ["c4d5e6"]


def test_a_payload_of_a_chosen_candidate_is_counted_as_chosen(lw: Loopwise) -> None:
    make_text_project(lw)
    lw.add_to_pool("sms", [{"external_id": "a", "payload": "only one here"}])
    lw.query("sms", 1)

    result = lw.remove_from_pool("sms", [{"payload": "only one here"}])

    assert result == PoolRemoval(removed=0, chosen=1, not_found=0)
    assert len(rows(lw, "pool_item")) == 1


def test_everything_waiting_is_removed_and_a_query_then_finds_an_empty_pool(
    lw: Loopwise,
) -> None:
    make_text_project(lw)
    lw.add_to_pool("sms", candidates(8))
    lw.query("sms", 2, strategy="random", seed=1)

    result = lw.remove_from_pool("sms", everything=True)

    assert result == PoolRemoval(removed=6, chosen=2, not_found=0)
    assert waiting_ids(lw) == []
    assert lw.pool_status("sms").waiting == 0
    assert events(lw, "pool.removed")[0]["after"]["everything"] is True


def test_a_query_after_a_removal_chooses_from_what_is_left(lw: Loopwise) -> None:
    make_text_project(lw)
    lw.add_to_pool("sms", candidates(10))
    removed = [c["external_id"] for c in candidates(10)[:7]]
    lw.remove_from_pool("sms", removed)

    result = lw.query("sms", 3)

    assert result.considered == 3
    assert {c.external_id for c in result.chosen}.isdisjoint(removed)


def test_an_id_named_with_another_payload_is_refused_whole(lw: Loopwise) -> None:
    make_text_project(lw)
    lw.add_to_pool("sms", [{"external_id": "a", "payload": "first"}])
    lw.add_to_pool("sms", [{"external_id": "b", "payload": "second"}])

    named = [{"external_id": "b", "payload": "second"}, {"external_id": "a", "payload": "else"}]
    with refused(lw, DuplicateExternalId, "candidates[1].external_id") as info:
        lw.remove_from_pool("sms", named)
    assert "'a' is in the pool with another payload" in info.value.message


BAD_INPUT: list[tuple[dict[str, Any], type[LoopwiseError], str]] = [
    ({"candidates": None}, InvalidInput, "candidates"),
    ({"candidates": ["a"], "everything": True}, InvalidInput, "everything"),
    ({"candidates": []}, InvalidInput, "candidates"),
    ({"candidates": "a"}, InvalidInput, "candidates"),
    ({"candidates": ["a", 7]}, InvalidInput, "candidates[1]"),
    ({"candidates": ["a", {}]}, InvalidInput, "candidates[1]"),
    (
        {"candidates": [{"external_id": "a", "label": "ham"}]},
        InvalidInput,
        "candidates[0].label",
    ),
    ({"candidates": [{"payload": ""}]}, InvalidPayload, "candidates[0].payload.text"),
    ({"candidates": [""]}, InvalidPayload, "candidates[0]"),
    ({"candidates": [{"external_id": "x" * 201}]}, InvalidPayload, "candidates[0].external_id"),
    (
        {
            "candidates": [
                {"external_id": "a", "payload": "1"},
                {"external_id": "a", "payload": "2"},
            ]
        },
        DuplicateExternalId,
        "candidates[1].external_id",
    ),
]
"""Arguments of ``remove_from_pool``, the error they raise and the field it names."""


def test_bad_input_is_refused_by_field_and_nothing_is_removed(
    lw: Loopwise, subtests: pytest.Subtests
) -> None:
    make_text_project(lw)
    lw.add_to_pool("sms", [{"external_id": "a", "payload": "first"}])

    for given, error, field in BAD_INPUT:
        with subtests.test(msg=field, given=given), refused(lw, error, field):
            lw.remove_from_pool("sms", **given)


def test_more_candidates_than_a_batch_are_refused(lw: Loopwise) -> None:
    make_text_project(lw)
    limit = lw.ctx.settings.max_batch_items
    with refused(lw, InvalidInput, "candidates") as info:
        lw.remove_from_pool("sms", [f"id-{i}" for i in range(limit + 1)])
    assert f"at most {limit}" in info.value.message
    with nothing_written(lw):
        lw.check_removal("sms", [f"id-{i}" for i in range(limit + 1)])  # a file is checked whole


def test_an_unknown_project_is_refused(lw: Loopwise) -> None:
    with pytest.raises(ProjectNotFound):
        lw.remove_from_pool("nope", ["a"])
    with pytest.raises(ProjectNotFound):
        lw.remove_from_pool("nope", everything=True)


def test_a_removed_candidates_id_is_never_given_to_a_new_one(lw: Loopwise) -> None:
    """The feature store keeps features by pool-item id: a new candidate with a removed one's
    id would be scored on them. SQLite numbers rows from the largest id it holds unless the
    table is declared ``AUTOINCREMENT`` (migration 0010)."""
    make_tabular_project(lw)
    lw.add_to_pool("loans", [{"external_id": "a", "payload": {"features": [1.0, 2.0, 3.0]}}])
    lw.add_to_pool("loans", [{"external_id": "b", "payload": {"features": [4.0, 5.0, 6.0]}}])
    newest = max(r["id"] for r in rows(lw, "pool_item"))
    lw.remove_from_pool("loans", ["b"])

    lw.add_to_pool("loans", [{"external_id": "c", "payload": {"features": [7.0, 8.0, 9.0]}}])
    lw.add_to_pool("loans", [{"external_id": "b", "payload": {"features": [0.0, 0.0, 1.0]}}])

    new_ids = [r["id"] for r in rows(lw, "pool_item") if r["external_id"] in ("b", "c")]
    assert min(new_ids) > newest
    # the inputs kept for each id are its own candidate's
    store = FeatureStore(lw.ctx.settings.artifacts)
    project_id = lw.project("loans").id
    ids, inputs = store.load(project_id, pool_features.INPUTS)
    kept = dict(zip(ids.tolist(), np.asarray(inputs).tolist(), strict=True))
    for row in rows(lw, "pool_item"):
        assert kept[row["id"]] == row["payload"]["features"]


def test_a_model_scores_what_replaced_a_removed_candidate_on_its_own_features(
    lw: Loopwise,
) -> None:
    """A query stores every candidate's features under the production model; the newest
    candidate removed and another added is scored on the new one's text, not on features
    stored under the removed one's id."""
    make_text_project(lw)
    seeded_model(lw)
    lw.add_to_pool("sms", [{"external_id": "x", "payload": "are you coming to the game"}])
    lw.add_to_pool("sms", [{"external_id": "a", "payload": "see you at the station at six"}])
    lw.add_to_pool("sms", [{"external_id": "b", "payload": "free prize call now win cash"}])
    first = lw.query("sms", 1, strategy="random", seed=1)  # stores every candidate's features
    assert first.chosen[0].external_id == "a"  # so "b", the newest, is the one removed
    # and "x" waits, so the pool's stored features stay (an emptied pool's are deleted)
    assert lw.remove_from_pool("sms", ["b"]).removed == 1
    lw.add_to_pool("sms", [{"external_id": "c", "payload": "lunch tomorrow with mum"}])

    chosen = {c.external_id: c for c in lw.query("sms", 2).chosen}

    assert set(chosen) == {"x", "c"}
    production = lw.production_model("sms")
    assert production is not None
    expected = production[1].predict_proba(["lunch tomorrow with mum"])[0]
    assert chosen["c"].confidence == pytest.approx(float(expected.max()))


@pytest.mark.parametrize("how", ["everything", "named"])
def test_a_pool_left_with_nothing_to_choose_drops_its_stored_features(
    lw: Loopwise, how: str
) -> None:
    """The candidates' features, inputs and term counts are read by queries alone: once no
    candidate is left unchosen, the removal deletes them; the labelled items' features stay, and
    candidates added later are scored on their own."""
    make_text_project(lw)
    seeded_model(lw)
    lw.add_to_pool("sms", candidates(6))
    lw.query("sms", 2)  # the model's features of the pool, and of the labelled items
    store, project = FeatureStore(lw.ctx.settings.artifacts), lw.project("sms").id
    before = store.spaces(project)
    assert any(s.startswith("terms-") for s in before)
    assert any(s.endswith("-items") for s in before)
    waiting = waiting_ids(lw)
    lw.remove_from_pool("sms", waiting[:2])
    assert store.spaces(project) == before  # some still wait

    if how == "everything":
        lw.remove_from_pool("sms", everything=True)
    else:
        lw.remove_from_pool("sms", waiting[2:])

    assert store.spaces(project) == [s for s in before if s.endswith("-items")]
    lw.add_to_pool("sms", [{"external_id": "new", "payload": "lunch tomorrow with mum"}])
    chosen = lw.query("sms", 1).chosen[0]
    production = lw.production_model("sms")
    assert production is not None
    expected = production[1].predict_proba(["lunch tomorrow with mum"])[0]
    assert chosen.confidence == pytest.approx(float(expected.max()))
