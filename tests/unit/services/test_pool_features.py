"""Where a query's ids are in what a store loaded: ids found by binary search, sorted first
only when the stored ids are not ascending already."""

from __future__ import annotations

import numpy as np
import pytest

from loopwise.services.pool_features import _located


@pytest.mark.parametrize("shuffled", [False, True])
@pytest.mark.parametrize("seed", range(5))
def test_ids_are_located_as_a_lookup_would(shuffled: bool, seed: int) -> None:
    rng = np.random.default_rng(seed)
    stored = np.sort(rng.choice(1_000, size=300, replace=False)).astype(np.int64)
    if shuffled:
        stored = rng.permutation(stored)
    ids = np.sort(rng.choice(1_100, size=200, replace=False)).astype(np.int64)
    where = {int(i): k for k, i in enumerate(stored)}
    present, found = _located(stored, ids)
    assert present.tolist() == [int(i) in where for i in ids]
    assert found.tolist() == [where[int(i)] for i in ids if int(i) in where]
    assert found.dtype == np.int64


def test_ids_past_either_end_or_nothing_stored_are_absent() -> None:
    stored = np.asarray([5, 7, 9], dtype=np.int64)
    present, found = _located(stored, np.asarray([1, 7, 12], dtype=np.int64))
    assert present.tolist() == [False, True, False]
    assert found.tolist() == [1]
    present, found = _located(np.zeros(0, dtype=np.int64), np.asarray([1, 2], dtype=np.int64))
    assert present.tolist() == [False, False]
    assert found.tolist() == []
    present, found = _located(stored, np.zeros(0, dtype=np.int64))
    assert (present.shape, found.shape) == ((0,), (0,))
