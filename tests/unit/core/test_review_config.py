"""A project's review workflow settings (``loopwise.core.review``): defaults, validation and the
field named in each refusal."""

from __future__ import annotations

from typing import Any

import pytest
from pydantic import ValidationError

from loopwise.core.enums import Priority
from loopwise.core.review import DEFAULT_SLA_MINUTES, ReviewConfig, parse_review_config
from loopwise.errors import InvalidInput


def test_defaults_suit_a_small_team() -> None:
    config = parse_review_config({})

    assert config == ReviewConfig()
    assert (config.overlap, config.aggregator, config.min_agreement) == (1, "dawid_skene", 0.66)
    assert config.sla_minutes == {
        "urgent": 60,
        "high": 240,
        "normal": 1440,
        "low": 4320,
        "discovery": 10080,
    }
    assert (config.ageing_minutes, config.gold_rate, config.gold_floor) == (240, 0.0, 0.8)
    assert (config.undo_seconds, config.skips_to_escalate, config.lease_seconds) == (120, 3, None)
    assert (config.break_after_minutes, config.break_after_tasks) == (90, 200)
    assert config.session_gap_minutes == 20


def test_a_partial_sla_keeps_the_other_levels() -> None:
    config = parse_review_config({"sla_minutes": {"urgent": 15, "low": 10_000}})

    assert config.sla_minutes == {
        "urgent": 15,
        "high": 240,
        "normal": 1440,
        "low": 10_000,
        "discovery": 10080,
    }
    assert [config.sla(p) for p in Priority] == [15, 240, 1440, 10_000, 10080]
    assert DEFAULT_SLA_MINUTES["urgent"] == 60  # the shared default is not changed


def test_every_setting_can_be_given() -> None:
    data: dict[str, Any] = {
        "overlap": 3,
        "aggregator": "majority_vote",
        "min_agreement": 0.75,
        "consensus_window": 100,
        "sla_minutes": {"urgent": 30, "high": 60, "normal": 120, "low": 240, "discovery": 480},
        "ageing_minutes": None,
        "gold_rate": 0.5,
        "gold_floor": 0.9,
        "gold_min_answers": 4,
        "undo_seconds": 0,
        "skips_to_escalate": 2,
        "lease_seconds": 60,
        "break_after_minutes": 45,
        "break_after_tasks": 50,
        "session_gap_minutes": 5,
    }
    config = parse_review_config(data)

    assert config.to_json() == data
    assert ReviewConfig.from_json(config.to_json()) == config


def test_from_json_of_nothing_is_the_default() -> None:
    assert ReviewConfig.from_json(None) == ReviewConfig()
    assert ReviewConfig.from_json({}) == ReviewConfig()


def test_a_config_object_passes_through_unchanged() -> None:
    config = ReviewConfig(overlap=2)
    assert parse_review_config(config) is config


def test_configs_are_frozen() -> None:
    config = ReviewConfig()
    with pytest.raises(ValidationError):
        config.overlap = 5  # type: ignore[misc]


@pytest.mark.parametrize(
    ("data", "field"),
    [
        ({"overlap": 0}, "review.overlap"),
        ({"overlap": 11}, "review.overlap"),
        ({"overlap": 2.5}, "review.overlap"),
        ({"overlap": "three"}, "review.overlap"),
        ({"aggregator": "mean"}, "review.aggregator"),
        ({"min_agreement": 1.5}, "review.min_agreement"),
        ({"min_agreement": -0.1}, "review.min_agreement"),
        ({"consensus_window": 5}, "review.consensus_window"),
        ({"sla_minutes": 5}, "review.sla_minutes"),
        ({"sla_minutes": {"soon": 5}}, "review.sla_minutes"),
        ({"sla_minutes": {"low": 0}}, "review.sla_minutes.low"),
        ({"ageing_minutes": 0}, "review.ageing_minutes"),
        ({"gold_rate": 0.6}, "review.gold_rate"),
        ({"gold_rate": -0.1}, "review.gold_rate"),
        ({"gold_floor": 1.1}, "review.gold_floor"),
        ({"gold_min_answers": 0}, "review.gold_min_answers"),
        ({"undo_seconds": -1}, "review.undo_seconds"),
        ({"undo_seconds": 86_401}, "review.undo_seconds"),
        ({"skips_to_escalate": 0}, "review.skips_to_escalate"),
        ({"lease_seconds": 4}, "review.lease_seconds"),
        ({"break_after_minutes": 0}, "review.break_after_minutes"),
        ({"break_after_tasks": 0}, "review.break_after_tasks"),
        ({"session_gap_minutes": 0}, "review.session_gap_minutes"),
        ({"overlap": 2, "nope": 1}, "review.nope"),
    ],
)
def test_bad_settings_are_refused_by_name(data: dict[str, Any], field: str) -> None:
    with pytest.raises(InvalidInput) as info:
        parse_review_config(data)
    assert info.value.field == field
    assert info.value.message


def test_an_unknown_setting_is_called_that() -> None:
    with pytest.raises(InvalidInput) as info:
        parse_review_config({"overlapp": 3})
    assert (info.value.field, info.value.message) == ("review.overlapp", "is not a review setting")


def test_an_unknown_priority_in_the_sla_names_the_levels() -> None:
    with pytest.raises(InvalidInput) as info:
        parse_review_config({"sla_minutes": {"soon": 5}})
    assert "'soon' is not a priority" in info.value.message
    assert "urgent" in info.value.message


def test_validator_messages_have_no_pydantic_prefix() -> None:
    with pytest.raises(InvalidInput) as info:
        parse_review_config({"sla_minutes": {"soon": 5}})
    assert not info.value.message.startswith("Value error")


@pytest.mark.parametrize("data", [[("overlap", 3)], "overlap: 3", None, 3])
def test_a_config_must_be_a_mapping(data: object) -> None:
    with pytest.raises(InvalidInput) as info:
        parse_review_config(data)
    assert info.value.field == "review"


@pytest.mark.parametrize("setting", ["overlap", "skips_to_escalate", "gold_min_answers"])
def test_booleans_are_not_counts(setting: str) -> None:
    with pytest.raises(InvalidInput) as info:
        parse_review_config({setting: True})
    assert info.value.field == f"review.{setting}"
