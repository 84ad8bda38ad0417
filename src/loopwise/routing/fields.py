"""Item metadata as columns for business rules: only the fields some rule reads."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import numpy.typing as npt

from loopwise.core.policy import AllOf, AnyOf, Condition, RoutingConfig

EXACT_INT = 2**53
"""Integers beyond this lose precision as floats; such columns stay exact (object arrays)."""


def _fields_of(condition: Condition | AllOf | AnyOf) -> set[str]:
    if isinstance(condition, AllOf):
        return set().union(*(_fields_of(c) for c in condition.all))
    if isinstance(condition, AnyOf):
        return set().union(*(_fields_of(c) for c in condition.any))
    return {condition.field}


def referenced_fields(config: RoutingConfig) -> set[str]:
    """Every metadata field the policy's rules read (dotted paths kept as written)."""
    return set().union(*(_fields_of(rule.when) for rule in config.rules)) if config.rules else set()


def _get(metadata: Mapping[str, Any], path: str) -> Any:
    value: Any = metadata
    for part in path.split("."):
        if not isinstance(value, Mapping) or part not in value:
            return None
        value = value[part]
    return value


def metadata_columns(
    metadata: Sequence[Mapping[str, Any]], names: set[str]
) -> dict[str, npt.NDArray[Any]]:
    """``{name: array}`` with each item's value at ``name``: a float array (NaN when absent)
    when every present value is a number, otherwise an object array (None when absent), so
    numeric rules compare whole arrays at once."""
    columns: dict[str, npt.NDArray[Any]] = {}
    for name in names:
        values = [_get(m, name) for m in metadata]
        numeric = all(
            v is None
            or (isinstance(v, float))
            or (isinstance(v, int) and not isinstance(v, bool) and abs(v) <= EXACT_INT)
            for v in values
        )
        if numeric:
            columns[name] = np.asarray(
                [np.nan if v is None else float(v) for v in values], dtype=np.float64
            )
        else:
            column = np.empty(len(values), dtype=object)
            column[:] = values
            columns[name] = column
    return columns
