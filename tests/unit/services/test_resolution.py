"""Stable per-item numbers: the same item always lands in the same split, QA sample, golden set."""

from __future__ import annotations

import numpy as np

from loopwise.services.resolution import unit_hash, unit_hashes


def test_many_at_once_are_the_numbers_of_each() -> None:
    ids = [f"item-{i}" for i in range(2000)] + ["", "é", "x" * 200, "10"]
    found = unit_hashes(7, ids, "qa")
    assert found.dtype == np.float64
    assert found.tolist() == [unit_hash(7, e, "qa") for e in ids]
    assert found.min() >= 0.0
    assert found.max() < 1.0
    assert unit_hashes(7, [], "qa").shape == (0,)
