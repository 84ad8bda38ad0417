"""Random sampling and the uncertainty strategies on pools small enough to rank by hand."""

from __future__ import annotations

import numpy as np

from loopwise.active_learning import Entropy, LeastConfidence, Margin, Pool, RandomSampling

# Hand ranking:
#   row  probs            least confidence  margin     entropy (nats / ln 3)
#   0    [0.8, 0.1, 0.1]  0.3               0.3        0.58
#   1    [0.4, 0.4, 0.2]  0.9               1.0 (tie)  0.96
#   2    [0.5, 0.3, 0.2]  0.75              0.8        0.94
#   3    [0.45, 0.1, 0.45] 0.825            1.0 (tie)  0.90
PROBS = np.array([[0.8, 0.1, 0.1], [0.4, 0.4, 0.2], [0.5, 0.3, 0.2], [0.45, 0.1, 0.45]])
POOL = Pool(features=np.eye(4), probabilities=PROBS)


def test_least_confidence_ranks_by_the_top_probability() -> None:
    assert LeastConfidence().query(POOL, 4, seed=0).tolist() == [1, 3, 2, 0]


def test_margin_ranks_by_the_gap_and_breaks_ties_by_index() -> None:
    assert Margin().query(POOL, 3, seed=0).tolist() == [1, 3, 2]


def test_entropy_ranks_by_the_spread() -> None:
    assert Entropy().query(POOL, 2, seed=0).tolist() == [1, 2]


def test_random_sampling_depends_on_the_seed_only() -> None:
    pool = Pool(features=np.zeros((50, 2)))
    batches = {tuple(RandomSampling().query(pool, 5, seed=s).tolist()) for s in range(5)}
    assert len(batches) == 5
