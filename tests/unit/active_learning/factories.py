"""Seeded pools for the active-learning tests: dense or CSR features, probabilities, a committee
of three and a few labelled rows with the model's probabilities for them, all aligned."""

from __future__ import annotations

from dataclasses import replace
from typing import Any

import numpy as np
import numpy.typing as npt
from scipy import sparse

from loopwise.active_learning import Pool

FloatArray = npt.NDArray[np.float64]
KINDS = ["dense", "sparse"]
N, D, K = 30, 6, 3


def as_kind(values: npt.ArrayLike, kind: str) -> Any:
    """``values`` as a float64 array, or a CSR matrix when ``kind`` is ``"sparse"``."""
    array = np.asarray(values, dtype=np.float64)
    return sparse.csr_matrix(array) if kind == "sparse" else array


def make_pool(kind: str = "dense", *, n: int = N, seed: int = 0, pending: int = 0) -> Pool:
    """Features with about 40% zeros (so CSR is really sparse), Dirichlet probabilities, a
    committee of three and four labelled rows with probabilities of their own; ``pending``
    rows waiting for a label, with probabilities, drawn after everything else (so the rest is
    the same with or without them)."""
    rng = np.random.default_rng(seed)
    features = rng.random((n, D))
    features[features < 0.4] = 0.0
    pool = Pool(
        features=as_kind(features, kind),
        probabilities=rng.dirichlet(np.ones(K), n),
        labelled=as_kind(rng.random((4, D)), kind),
        committee=rng.dirichlet(np.ones(K), (3, n)),
        labelled_probabilities=rng.dirichlet(np.ones(K), 4),
    )
    if not pending:
        return pool
    return replace(
        pool,
        pending=as_kind(rng.random((pending, D)), kind),
        pending_probabilities=rng.dirichlet(np.ones(K), pending),
    )


def one_sided(kind: str = "dense", *, n: int = N, seed: int = 0) -> Pool:
    """Every model favours class 0 (a seed set that held a single class)."""
    pool = make_pool(kind, n=n, seed=seed)
    rng = np.random.default_rng(seed + 1)
    rest = rng.dirichlet(np.ones(K - 1), n) * rng.uniform(0.01, 0.2, (n, 1))
    probs = np.column_stack([1.0 - rest.sum(axis=1), rest])
    committee = np.stack([probs, probs**2 / (probs**2).sum(axis=1, keepdims=True), probs])
    return Pool(pool.features, probs, pool.labelled, committee, pool.labelled_probabilities)


def all_tied(kind: str = "dense", *, n: int = N, one_hot: bool = False) -> Pool:
    """Identical feature rows and identical predictions: every score ties, every distance is 0.
    ``one_hot``: predictions certain (zero gradients), else uniform."""
    row = [1.0, 0.0, 0.5, 0.0, 0.0, 2.0]
    probs = np.eye(K)[np.zeros(n, dtype=np.int64)] if one_hot else np.full((n, K), 1.0 / K)
    return Pool(
        features=as_kind(np.tile(row, (n, 1)), kind),
        probabilities=probs,
        labelled=as_kind([row], kind),
        committee=np.stack([probs, probs, probs]),
        labelled_probabilities=probs[:1],
    )
