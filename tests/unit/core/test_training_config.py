"""A project's training settings (``loopwise.core.training_config``): defaults, what is kept,
and the field and message of each refusal."""

from __future__ import annotations

from typing import Any

import pytest

from loopwise.core.entities import TrainingConfig
from loopwise.core.training_config import parse_training
from loopwise.errors import InvalidInput


def test_a_setting_left_out_takes_its_default() -> None:
    assert parse_training({}) == TrainingConfig()
    assert parse_training({"metric": "macro_f1", "split_seed": 0}) == TrainingConfig(
        metric="macro_f1", split_seed=0
    )


def test_whole_numbers_are_shares_and_the_bounds_are_kept() -> None:
    config = parse_training(
        {"holdout_share": 0, "golden_share": 0.999, "min_improvement": 1, "split_seed": -(2**63)}
    )

    assert config == TrainingConfig(
        holdout_share=0.0, golden_share=0.999, min_improvement=1.0, split_seed=-(2**63)
    )
    assert isinstance(config.holdout_share, float)
    assert isinstance(config.min_improvement, float)


def test_a_config_built_in_python_is_checked_the_same_way() -> None:
    assert parse_training(TrainingConfig(split_seed=3)) == TrainingConfig(split_seed=3)
    with pytest.raises(InvalidInput) as info:
        parse_training(TrainingConfig(holdout_share=1.0))
    assert info.value.field == "training.holdout_share"


@pytest.mark.parametrize(
    ("given", "field", "message"),
    [
        ({"holdout_share": 1.0}, "training.holdout_share", "Input should be less than 1"),
        (
            {"golden_share": -0.1},
            "training.golden_share",
            "Input should be greater than or equal to 0",
        ),
        ({"golden_share": "0.1"}, "training.golden_share", "Input should be a valid number"),
        ({"holdout_share": True}, "training.holdout_share", "Input should be a valid number"),
        (
            {"min_improvement": float("inf")},
            "training.min_improvement",
            "Input should be a finite number",
        ),
        (
            {"min_improvement": 1.5},
            "training.min_improvement",
            "Input should be less than or equal to 1",
        ),
        (
            {"metric": "auc"},
            "training.metric",
            "Input should be 'accuracy' or 'macro_f1'",
        ),
        ({"split_seed": 1.5}, "training.split_seed", "Input should be a valid integer"),
        ({"split_seed": False}, "training.split_seed", "Input should be a valid integer"),
        (
            {"split_seed": 2**63},
            "training.split_seed",
            "Input should be less than 9223372036854775808",
        ),
        (
            {"holdout": 0.1},
            "training.holdout",
            "is not a training setting; the settings are ['golden_share', 'holdout_share', "
            "'metric', 'min_improvement', 'split_seed']",
        ),
        (["holdout_share"], "training", "must be a mapping of settings"),
    ],
)
def test_a_refusal_names_the_setting(given: Any, field: str, message: str) -> None:
    with pytest.raises(InvalidInput) as info:
        parse_training(given)

    assert (info.value.field, info.value.message) == (field, message)
