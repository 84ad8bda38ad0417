"""Listing the pool: waiting, chosen or all candidates, oldest first, page by page."""

from __future__ import annotations

from typing import Any

import pytest

from loopwise import Loopwise
from loopwise.errors import InvalidInput, ProjectNotFound
from loopwise.services.pool_listing import MAX_PAGE, PoolState
from tests.factories import make_tabular_project, make_text_project


def test_waiting_chosen_and_all_page_by_page(lw: Loopwise) -> None:
    make_text_project(lw)
    lw.add_to_pool(
        "sms",
        [
            {"external_id": f"c{i}", "payload": f"text number {i}", "metadata": {"n": i}}
            for i in range(7)
        ],
    )
    chosen = lw.query("sms", 2, strategy="random", seed=0).chosen
    picked = {c.external_id for c in chosen}
    lw.submit("sms", [{"external_id": "c6", "payload": "text number 6"}])  # sent as an item

    waiting = lw.pool_candidates("sms")
    assert [c.external_id for c in waiting] == [f"c{i}" for i in range(6) if f"c{i}" not in picked]
    assert all(c.item_id is None and c.chosen_at is None for c in waiting)
    first = waiting[0]
    assert first.payload == {"text": f"text number {first.external_id[1:]}"}
    assert first.metadata == {"n": int(first.external_id[1:])}
    assert first.added_at is not None

    queried = lw.pool_candidates("sms", state="chosen")
    assert {c.external_id for c in queried} == picked
    by_id = {c.external_id: c for c in chosen}
    assert all(c.item_id == by_id[c.external_id].item_id for c in queried)
    assert all(c.chosen_at is not None for c in queried)

    everything = lw.pool_candidates("sms", state=PoolState.ALL)
    assert [c.external_id for c in everything] == [f"c{i}" for i in range(7)]
    pages, after = [], None
    while True:
        page = lw.pool_candidates("sms", state="all", after=after, limit=3)
        pages.append([c.external_id for c in page])
        if len(page) < 3:
            break
        after = page[-1].id
    assert pages == [["c0", "c1", "c2"], ["c3", "c4", "c5"], ["c6"]]


def test_a_page_of_waiting_candidates_is_full_past_those_sent_as_items(lw: Loopwise) -> None:
    """A page reads the unchosen a page at a time and drops those submitted as items: it reads
    on until it is full."""
    make_text_project(lw)
    lw.add_to_pool("sms", [{"external_id": f"c{i}", "payload": f"text {i}"} for i in range(7)])
    lw.submit("sms", [{"external_id": f"c{i}", "payload": f"text {i}"} for i in (1, 2, 4)])

    pages, after = [], None
    while True:
        page = lw.pool_candidates("sms", after=after, limit=2)
        pages.append([c.external_id for c in page])
        if len(page) < 2:
            break
        after = page[-1].id

    assert pages == [["c0", "c3"], ["c5", "c6"], []]


def test_a_table_lists_its_features(lw: Loopwise) -> None:
    make_tabular_project(lw)
    lw.add_to_pool("loans", [{"external_id": "a", "payload": {"features": [1, 2.5, 3]}}])
    (only,) = lw.pool_candidates("loans", state="all")
    assert only.payload == {"features": [1.0, 2.5, 3.0]}


def test_bad_arguments_are_refused_by_field(lw: Loopwise, subtests: pytest.Subtests) -> None:
    make_text_project(lw)
    bad: list[tuple[dict[str, Any], str]] = [
        ({"state": "pending"}, "state"),
        ({"limit": 0}, "limit"),
        ({"limit": MAX_PAGE + 1}, "limit"),
        ({"limit": True}, "limit"),
        ({"after": -1}, "after"),
        ({"after": "3"}, "after"),
    ]
    for given, field in bad:
        with subtests.test(msg=field, given=given):
            with pytest.raises(InvalidInput) as info:
                lw.pool_candidates("sms", **given)
            assert info.value.field == field


def test_an_unknown_project_is_refused(lw: Loopwise) -> None:
    with pytest.raises(ProjectNotFound):
        lw.pool_candidates("nope")
