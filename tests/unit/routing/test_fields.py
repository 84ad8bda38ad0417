"""Metadata columns for business rules: typed when they can be, same answers either way."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest

from loopwise.core.policy import Condition, RoutingConfig
from loopwise.routing.fields import metadata_columns, referenced_fields
from loopwise.routing.rules import evaluate

METADATA: list[dict[str, Any]] = [
    {"amount": 15000, "flags": {"audit": True}, "country": "FR"},
    {"amount": 20.5, "flags": {"audit": False}},
    {"country": "DE"},
    {"amount": 0},
]


def test_numeric_fields_become_float_columns_with_nan_for_missing() -> None:
    columns = metadata_columns(METADATA, {"amount", "flags.audit", "country"})
    assert columns["amount"].dtype == np.float64
    assert columns["amount"][:2].tolist() == [15000.0, 20.5]
    assert np.isnan(columns["amount"][2])
    assert columns["flags.audit"].dtype == object
    assert columns["flags.audit"].tolist() == [True, False, None, None]
    assert columns["country"].tolist() == ["FR", None, "DE", None]


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("amount > 10000", [True, False, False, False]),
        ("amount <= 20.5", [False, True, False, True]),
        ("amount == 0", [False, False, False, True]),
        ("amount != 0", [True, True, False, False]),
        ("amount", [True, True, False, False]),
        ("amount in [0, 15000]", [True, False, False, True]),
        ("flags.audit", [True, False, False, False]),
        ("country in [FR, DE]", [True, False, True, False]),
    ],
)
def test_typed_and_object_columns_give_the_same_answers(text: str, expected: list[bool]) -> None:
    condition = Condition.model_validate(text)
    typed = metadata_columns(METADATA, {condition.field})
    untyped = {k: np.asarray(list(v), dtype=object) for k, v in typed.items()}
    untyped = {
        k: np.asarray(
            [None if isinstance(x, float) and np.isnan(x) else x for x in v], dtype=object
        )
        for k, v in untyped.items()
    }
    assert evaluate(condition, typed, len(METADATA)).tolist() == expected
    assert evaluate(condition, untyped, len(METADATA)).tolist() == expected


def test_missing_and_exists_on_numeric_columns() -> None:
    columns = metadata_columns(METADATA, {"amount"})
    missing = Condition(field="amount", op="missing")
    exists = Condition(field="amount", op="exists")
    assert evaluate(missing, columns, 4).tolist() == [False, False, True, False]
    assert evaluate(exists, columns, 4).tolist() == [True, True, False, True]


def test_referenced_fields_walk_nested_conditions() -> None:
    config = RoutingConfig.model_validate(
        {
            "rules": [
                {"name": "a", "when": "amount > 3"},
                {"name": "b", "when": {"any": ["flags.audit", "country == 'FR'"]}},
            ]
        }
    )
    assert referenced_fields(config) == {"amount", "flags.audit", "country"}
    assert referenced_fields(RoutingConfig()) == set()
