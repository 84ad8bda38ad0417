"""Expertise matching (``loopwise.queue.matching``): canonical tags and the covered keys."""

from __future__ import annotations

from itertools import combinations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from loopwise.errors import InvalidInput
from loopwise.queue import canonical_tags, tag_key, tag_keys_within
from loopwise.queue.matching import MAX_TAGS

TAGS = st.sampled_from(["fraud", "legal", "medical", "de", "fr", "vip", "a-1", "x_y", "z9", "q"])


def test_canonical_tags_sorts_and_removes_repeats() -> None:
    assert canonical_tags(["legal", "fraud", "legal"]) == ("fraud", "legal")
    assert canonical_tags([]) == ()


@pytest.mark.parametrize(
    ("tags", "field"),
    [
        (["fraud", "Legal"], "tags[1]"),
        (["", "fraud"], "tags[0]"),
        (["-x"], "tags[0]"),
        (["a" * 41], "tags[0]"),
        (["fraud", 3], "tags[1]"),
        (["has space"], "tags[0]"),
    ],
)
def test_canonical_tags_refuses_bad_tags_naming_the_position(
    tags: list[object], field: str
) -> None:
    with pytest.raises(InvalidInput) as info:
        canonical_tags(tags)  # type: ignore[arg-type]
    assert info.value.field == field


def test_canonical_tags_refuses_a_bare_string_and_too_many() -> None:
    with pytest.raises(InvalidInput) as info:
        canonical_tags("fraud", field="reviewer.tags")
    assert info.value.field == "reviewer.tags"
    with pytest.raises(InvalidInput) as info:
        canonical_tags([f"t{i}" for i in range(MAX_TAGS + 1)])
    assert info.value.field == "tags"
    assert len(canonical_tags([f"t{i}" for i in range(MAX_TAGS)])) == MAX_TAGS


def test_tag_key_is_order_free() -> None:
    assert tag_key(["legal", "fraud"]) == "fraud,legal" == tag_key(["fraud", "legal", "fraud"])
    assert tag_key([]) == ""


def test_tag_keys_within_lists_every_subset() -> None:
    assert tag_keys_within([]) == [""]
    assert tag_keys_within(["fraud"]) == ["", "fraud"]
    assert sorted(tag_keys_within(["legal", "fraud"])) == ["", "fraud", "fraud,legal", "legal"]
    assert tag_keys_within(["b", "a", "b"]) == ["", "a", "b", "a,b"]


def test_tag_keys_within_eight_tags_is_256_distinct_keys() -> None:
    held = [f"t{i}" for i in range(MAX_TAGS)]
    keys = tag_keys_within(held)
    assert len(keys) == len(set(keys)) == 2**MAX_TAGS
    assert tag_key(held) in keys
    assert tag_key([*held[:3], "other"]) not in keys


@given(held=st.sets(TAGS, max_size=6), required=st.sets(TAGS, max_size=4))
def test_a_task_is_covered_exactly_when_its_tags_are_a_subset(
    held: set[str], required: set[str]
) -> None:
    assert (tag_key(required) in tag_keys_within(held)) is required.issubset(held)


@given(held=st.sets(TAGS, max_size=5))
def test_every_key_names_a_subset_of_the_held_tags(held: set[str]) -> None:
    keys = tag_keys_within(held)
    expected = {tag_key(c) for n in range(len(held) + 1) for c in combinations(held, n)}
    assert set(keys) == expected
    for key in keys:
        assert {t for t in key.split(",") if t} <= held
