"""Query by committee: the ranking on hand-built committees, and bootstrap committees."""

from __future__ import annotations

from typing import Any

import numpy as np
import numpy.typing as npt
import pytest
from scipy import sparse
from sklearn.linear_model import LogisticRegression

from loopwise.active_learning import KLConsensus, Pool, VoteEntropy, bootstrap_committee
from loopwise.errors import InvalidInput, NotEnoughLabels

A, B, C = [0.8, 0.1, 0.1], [0.1, 0.8, 0.1], [0.1, 0.1, 0.8]


def committee(*members: list[list[float]]) -> npt.NDArray[np.float64]:
    return np.asarray(members, dtype=np.float64)


def test_vote_entropy_prefers_votes_spread_over_more_classes() -> None:
    # candidate 0: votes A A A; 1: A A B; 2: A B C
    votes = committee([A, A, A], [A, A, B], [A, B, C])
    pool = Pool(features=np.eye(3), committee=votes)
    assert VoteEntropy().query(pool, 3, seed=0).tolist() == [2, 1, 0]


def test_kl_consensus_sees_disagreement_about_confidence_that_votes_miss() -> None:
    # both candidates: every member votes class 0; on candidate 1 they differ in how sure.
    sure, unsure = [0.9, 0.05, 0.05], [0.5, 0.25, 0.25]
    members = committee([sure, sure], [sure, unsure], [sure, sure])
    pool = Pool(features=np.eye(2), committee=members)
    assert KLConsensus().query(pool, 2, seed=0).tolist() == [1, 0]
    assert VoteEntropy().scores(pool).tolist() == [0.0, 0.0]


class Recorder:
    """A classifier that notes the labels it was fitted on in ``log`` and predicts its classes
    uniformly."""

    def __init__(self, log: list[npt.NDArray[Any]] | None = None) -> None:
        self.log = [] if log is None else log

    def fit(self, x: Any, y: Any, /) -> Recorder:
        self.classes_ = np.unique(y)
        self.log.append(np.asarray(y))
        return self

    def predict_proba(self, x: Any, /) -> npt.NDArray[np.float64]:
        return np.full((x.shape[0], len(self.classes_)), 1.0 / len(self.classes_))


def labelled_blobs(seed: int = 0) -> tuple[npt.NDArray[np.float64], npt.NDArray[np.int64]]:
    rng = np.random.default_rng(seed)
    y = np.repeat([0, 2], 10)
    x = rng.normal(size=(20, 2)) + np.where(y == 0, -2.0, 2.0)[:, None]
    return x, y.astype(np.int64)


def test_bootstrap_committee_shape_alignment_and_missing_classes() -> None:
    x, y = labelled_blobs()
    pool = np.array([[-3.0, -3.0], [3.0, 3.0], [0.0, 0.0]])
    out = bootstrap_committee(LogisticRegression, x, y, pool, 4, 0, 3)
    assert out.shape == (4, 3, 3)
    assert out.dtype == np.float64
    np.testing.assert_allclose(out.sum(axis=2), 1.0)
    assert (out[:, :, 1] == 0.0).all()
    assert (out[:, 0, 0] > 0.9).all()
    assert (out[:, 1, 2] > 0.9).all()
    assert not np.allclose(out[0], out[1])
    np.testing.assert_array_equal(bootstrap_committee(LogisticRegression, x, y, pool, 4, 0, 3), out)


def test_bootstrap_committee_accepts_sparse_features() -> None:
    x, y = labelled_blobs()
    x = np.abs(x)
    out = bootstrap_committee(
        LogisticRegression, sparse.coo_matrix(x), y, sparse.csr_matrix(x[:5]), 2, 1, 3
    )
    assert out.shape == (2, 5, 3)


def test_every_member_is_fitted_on_at_least_two_classes() -> None:
    """One item of class 1 among 40: a bootstrap draw misses it about a third of the time."""
    y = np.array([1] + [0] * 39, dtype=np.int64)
    log: list[npt.NDArray[Any]] = []
    bootstrap_committee(lambda: Recorder(log), np.zeros((40, 1)), y, np.zeros((3, 1)), 30, 5, 2)
    assert len(log) == 30
    assert all(fit.sum() >= 1 for fit in log)
    assert any(not np.array_equal(np.sort(fit), np.sort(y)) for fit in log)


def test_without_resampling_every_member_sees_every_labelled_item() -> None:
    y = np.array([1, 0, 0, 1, 0], dtype=np.int64)
    log: list[npt.NDArray[Any]] = []
    bootstrap_committee(
        lambda: Recorder(log), np.zeros((5, 1)), y, np.zeros((2, 1)), 3, 0, 2, tries=0
    )
    assert [fit.tolist() for fit in log] == [y.tolist()] * 3


@pytest.mark.parametrize("size", [1, 0, True, 2.5])
def test_a_committee_of_fewer_than_two_is_refused(size: Any) -> None:
    x, y = labelled_blobs()
    with pytest.raises(InvalidInput) as info:
        bootstrap_committee(LogisticRegression, x, y, x, size, 0, 3)
    assert info.value.field == "committee"


def test_labels_of_a_single_class_cannot_make_a_committee() -> None:
    with pytest.raises(NotEnoughLabels):
        bootstrap_committee(
            Recorder, np.zeros((5, 1)), np.zeros(5, np.int64), np.zeros((2, 1)), 3, 0, 2
        )


@pytest.mark.parametrize(
    ("y", "pool_width", "n_classes", "field"),
    [
        ([0, 1, 3], 1, 3, "y_labelled"),
        ([0, 1], 1, 3, "y_labelled"),
        ([0.0, 1.0, 1.0], 1, 3, "y_labelled"),
        ([0, 1, 1], 2, 3, "x_pool"),
        ([0, 1, 1], 1, 1, "n_classes"),
    ],
)
def test_inconsistent_inputs_are_refused(
    y: list[float], pool_width: int, n_classes: int, field: str
) -> None:
    with pytest.raises(InvalidInput) as info:
        bootstrap_committee(
            Recorder, np.zeros((3, 1)), np.asarray(y), np.zeros((2, pool_width)), 3, 0, n_classes
        )
    assert info.value.field == field
