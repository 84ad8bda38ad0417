"""BADGE and expected gradient length against gradients multiplied out by hand."""

from __future__ import annotations

from collections import Counter

import numpy as np
import pytest

from loopwise.active_learning import Badge, ExpectedModelChange, Pool
from loopwise.active_learning.geometry import as_rows, squared_norms
from loopwise.active_learning.gradient import gradient_distances, residuals
from tests.unit.active_learning.factories import KINDS, as_kind


def test_residuals_subtract_the_predicted_class() -> None:
    probs = np.array([[0.2, 0.5, 0.3], [0.4, 0.4, 0.2]])
    np.testing.assert_allclose(residuals(probs), [[0.2, -0.5, 0.3], [-0.6, 0.4, 0.2]])


@pytest.mark.parametrize("kind", KINDS)
def test_the_distance_trick_equals_the_outer_product_distance(kind: str) -> None:
    rng = np.random.default_rng(0)
    x = rng.normal(size=(8, 5)) * (rng.random((8, 5)) < 0.6)
    a = residuals(rng.dirichlet(np.ones(4), 8))
    embeddings = np.einsum("ik,id->ikd", a, x).reshape(8, -1)
    rows = as_rows(as_kind(x, kind))
    g_norms = np.einsum("ij,ij->i", a, a) * squared_norms(rows)
    for i in range(8):
        explicit = ((embeddings - embeddings[i]) ** 2).sum(axis=1)
        np.testing.assert_allclose(gradient_distances(a, rows, g_norms, i), explicit, atol=1e-12)


# Candidates 0, 1 and 3 share predictions and features: identical gradients, the longest, so
# BADGE takes row 0 first; 1 and 3 are then 0 away and row 2 is the only one left with weight.
TWINS = np.array([[3.0, 0.0], [3.0, 0.0], [0.0, 1.0], [3.0, 0.0]])
TWIN_PROBS = np.array([[0.5, 0.5], [0.5, 0.5], [0.9, 0.1], [0.5, 0.5]])


@pytest.mark.parametrize("kind", KINDS)
def test_badge_starts_at_the_longest_gradient_and_never_takes_a_zero_distance(kind: str) -> None:
    pool = Pool(features=as_kind(TWINS, kind), probabilities=TWIN_PROBS)
    for seed in range(10):
        assert Badge().query(pool, 2, seed=seed).tolist() == [0, 2]


def test_badge_samples_in_proportion_to_the_squared_distance() -> None:
    """Every row predicts [0.5, 0.5], so a = [-0.5, 0.5] and ||g_i - g_j||^2 = 0.5 (x_i - x_j)^2.
    Row 0 (x = 2) has the longest gradient; rows 1 and 2 (x = 1, 0) are then 0.5 and 2 away, so
    D^2 sampling takes row 2 second with probability 2 / 2.5 = 0.8."""
    pool = Pool(
        features=np.array([[2.0], [1.0], [0.0]]),
        probabilities=np.array([[0.5, 0.5]] * 3),
    )
    a = residuals(np.asarray(pool.probabilities))
    rows = as_rows(pool.features)
    g_norms = np.einsum("ij,ij->i", a, a) * squared_norms(rows)
    assert gradient_distances(a, rows, g_norms, 0).tolist() == [0.0, 0.5, 2.0]
    seconds = Counter(Badge().query(pool, 2, seed=s).tolist()[1] for s in range(2_000))
    assert seconds.keys() == {1, 2}
    assert seconds[2] / 2_000 == pytest.approx(0.8, abs=0.04)


@pytest.mark.parametrize("kind", KINDS)
def test_expected_gradient_length_matches_the_hand_computed_value(kind: str) -> None:
    # [0.5, 0.5], x = [3, 4]: ||p - e_y|| = sqrt(0.5) either way, so 5 * sqrt(0.5) = 3.5355.
    # [0.8, 0.2], x = [1, 0]: 0.8 * sqrt(0.08) + 0.2 * sqrt(1.28) = 0.2263 + 0.2263 = 0.4525.
    # [1, 0]: the only likely label gives a zero gradient. Zero features: zero gradient.
    pool = Pool(
        features=as_kind([[3.0, 4.0], [1.0, 0.0], [5.0, 5.0], [0.0, 0.0]], kind),
        probabilities=np.array([[0.5, 0.5], [0.8, 0.2], [1.0, 0.0], [0.5, 0.5]]),
    )
    scores = ExpectedModelChange().scores(pool)
    np.testing.assert_allclose(scores, [5 * np.sqrt(0.5), 0.8 * np.sqrt(0.08) * 2, 0.0, 0.0])
    assert ExpectedModelChange().query(pool, 2, seed=0).tolist() == [0, 1]


def test_expected_gradient_length_equals_the_explicit_expectation() -> None:
    rng = np.random.default_rng(3)
    x = rng.normal(size=(6, 4))
    p = rng.dirichlet(np.ones(3), 6)
    explicit = [
        sum(p[i, y] * np.linalg.norm(np.outer(p[i] - np.eye(3)[y], x[i])) for y in range(3))
        for i in range(6)
    ]
    scores = ExpectedModelChange().scores(Pool(features=x, probabilities=p))
    np.testing.assert_allclose(scores, explicit)
