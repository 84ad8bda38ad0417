"""FarthestRow: the farthest row found with most rows measured against a sample only."""

from __future__ import annotations

import numpy as np
import pytest

from loopwise.active_learning.geometry import (
    FarthestRow,
    NearestCentre,
    as_rows,
    min_squared_distances,
    sample_size,
    squared_norms,
)
from tests.unit.active_learning.factories import KINDS, as_kind


@pytest.mark.parametrize("kind", KINDS)
def test_the_farthest_row_is_exact_though_few_rows_are_measured_against_every_reference(
    kind: str,
) -> None:
    rng = np.random.default_rng(2)
    rows = as_rows(as_kind(rng.standard_normal((20_000, 8)), kind))
    references = as_rows(as_kind(rng.standard_normal((3_000, 8)), kind))
    norms = squared_norms(rows)
    farthest = FarthestRow(rows, norms, references, sample=200)
    centres = NearestCentre(rows, norms, farthest.nearest)
    truth = min_squared_distances(rows, norms, references)
    truths = NearestCentre(rows, norms, truth)  # every row against every reference
    # The exact distances are sums of the same products as the full pass's, but the BLAS may
    # add them up in another order for blocks of other shapes (OpenBLAS's Haswell kernel: 2 of
    # 256 rows 7e-15 apart), so they agree to rounding, not always to the bit.
    rounding = 1e-12
    for _ in range(30):
        pick = farthest.farthest()
        assert farthest.exact[pick]
        assert farthest.nearest[pick] == pytest.approx(truth.max(), rel=rounding)
        assert truth[pick] == pytest.approx(truth.max(), rel=rounding)
        exact = farthest.exact
        np.testing.assert_allclose(farthest.nearest[exact], truth[exact], rtol=rounding)
        assert np.all(farthest.nearest[~exact] >= truth[~exact] * (1.0 - rounding))
        centres.add(pick)
        truths.add(pick)
        truth[pick] = -1.0
        farthest.exclude(pick)
    assert 0 < farthest.measured < 20_000 // 5  # most rows never measured against all


@pytest.mark.parametrize("kind", KINDS)
def test_with_few_references_every_row_is_exact_from_the_start(kind: str) -> None:
    rows = as_rows(as_kind([[0.0], [3.0], [10.0]], kind))
    references = as_rows(as_kind([[1.0], [4.0]], kind))
    farthest = FarthestRow(rows, squared_norms(rows), references, sample=2)
    assert farthest.nearest.tolist() == [1.0, 1.0, 36.0]
    assert farthest.exact.all()
    assert farthest.farthest() == 2
    assert farthest.measured == 0


def test_without_references_every_row_starts_infinitely_far() -> None:
    rows = as_rows(np.zeros((3, 2)))
    farthest = FarthestRow(rows, squared_norms(rows), None)
    assert np.isinf(farthest.nearest).all()
    farthest.exclude(np.array([0, 2]))
    assert farthest.farthest() == 1


def test_sparse_rows_sample_at_least_a_sixth_of_the_references_and_dense_rows_256() -> None:
    assert [sample_size(m, False) for m in (10, 1_000, 6_000, 60_000)] == [256] * 4
    assert [sample_size(m, True) for m in (10, 1_000, 1_536, 1_542, 6_000)] == [
        256,
        256,
        256,
        257,
        1_000,
    ]
    rng = np.random.default_rng(4)
    for kind, kept in (("dense", 256), ("sparse", 500)):
        rows = as_rows(as_kind(rng.random((50, 3)), kind))
        references = as_rows(as_kind(rng.random((3_000, 3)), kind))
        farthest = FarthestRow(rows, squared_norms(rows), references)
        assert farthest.rest is not None
        assert farthest.rest.shape[0] == 3_000 - kept
