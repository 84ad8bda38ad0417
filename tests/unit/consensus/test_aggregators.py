"""Aggregators on hand-computed tables and on seeded crowds whose workers' accuracies are known.
Every aggregator runs the same conformance suite."""

from __future__ import annotations

from typing import Any

import numpy as np
import numpy.typing as npt
import pytest

import loopwise.consensus as consensus
from loopwise.consensus import AGGREGATORS, Aggregator, DawidSkene, MajorityVote
from loopwise.errors import InvalidInput

IntArray = npt.NDArray[np.int64]
Crowd = tuple[IntArray, IntArray, IntArray, IntArray]
ACCURACIES = [0.9, 0.85, 0.8, 0.75, 0.3]
K = 3


def simulate(
    n_tasks: int = 200,
    accuracies: list[float] | None = None,
    *,
    per_task: int = 3,
    seed: int = 0,
) -> Crowd:
    """``(truth, tasks, workers, labels)``: each task answered by ``per_task`` distinct workers;
    a worker is right with its accuracy, otherwise picks one of the other classes uniformly
    (accuracy 0.3 over 3 classes is close to answering at random)."""
    acc = np.asarray(ACCURACIES if accuracies is None else accuracies)
    rng = np.random.default_rng(seed)
    truth = rng.integers(0, K, n_tasks)
    tasks = np.repeat(np.arange(n_tasks), per_task)
    workers = np.concatenate(
        [rng.choice(len(acc), per_task, replace=False) for _ in range(n_tasks)]
    )
    correct = rng.random(tasks.size) < acc[workers]
    wrong = (truth[tasks] + rng.integers(1, K, tasks.size)) % K
    labels = np.where(correct, truth[tasks], wrong)
    return truth, tasks, workers.astype(np.int64), labels


@pytest.fixture(params=sorted(AGGREGATORS))
def aggregator(request: pytest.FixtureRequest) -> Aggregator:
    return AGGREGATORS[request.param]()


class TestConformance:
    def test_labels_shape_and_range(self, aggregator: Aggregator) -> None:
        truth, t, w, y = simulate(50)
        labels = aggregator.fit_predict(t, w, y, n_classes=K)
        assert labels.shape == (50,)
        assert labels.min() >= 0
        assert labels.max() < K
        assert labels is aggregator.labels_
        assert (labels == truth).mean() > 0.7

    def test_probas_rows_sum_to_one(self, aggregator: Aggregator) -> None:
        _, t, w, y = simulate(50)
        probas = aggregator.fit(t, w, y, n_classes=K).probas_
        assert probas.shape == (50, K)
        assert (probas >= 0).all()
        np.testing.assert_allclose(probas.sum(axis=1), 1.0)
        np.testing.assert_array_equal(aggregator.labels_, probas.argmax(axis=1))

    def test_deterministic(self, aggregator: Aggregator) -> None:
        _, t, w, y = simulate(60, seed=3)
        first = aggregator.fit(t, w, y, n_classes=K).probas_.copy()
        again = type(aggregator)().fit(t, w, y, n_classes=K)
        np.testing.assert_array_equal(again.probas_, first)

    def test_task_with_one_answer(self, aggregator: Aggregator) -> None:
        _, t, w, y = simulate(60)
        t, w, y = np.append(t, 60), np.append(w, 0), np.append(y, 2)
        labels = aggregator.fit_predict(t, w, y, n_classes=K)
        assert labels.shape == (61,)
        assert labels[60] == 2

    def test_task_without_answers_is_minus_one(self, aggregator: Aggregator) -> None:
        fitted = aggregator.fit([0, 0, 2], [0, 1, 0], [1, 1, 0], n_classes=2)
        np.testing.assert_array_equal(fitted.labels_, [1, -1, 0])
        np.testing.assert_allclose(fitted.probas_.sum(axis=1), 1.0)

    def test_invariant_to_row_order(self, aggregator: Aggregator) -> None:
        _, t, w, y = simulate(80, seed=5)
        order = np.random.default_rng(7).permutation(t.size)
        before = aggregator.fit(t, w, y, n_classes=K)
        labels, probas = before.labels_.copy(), before.probas_.copy()
        after = type(aggregator)().fit(t[order], w[order], y[order], n_classes=K)
        np.testing.assert_array_equal(after.labels_, labels)
        np.testing.assert_allclose(after.probas_, probas, atol=1e-9)

    @pytest.mark.parametrize(
        ("tasks", "workers", "labels", "n_classes", "field"),
        [
            ([0, 1], [0, 1], [0, 1, 1], 2, "labels"),
            ([0, 1], [0], [0, 1], 2, "workers"),
            ([0, -1], [0, 1], [0, 1], 2, "tasks"),
            ([0, 1], [0, -3], [0, 1], 2, "workers"),
            ([0, 1], [0, 1], [0, 2], 2, "labels"),
            ([0, 1], [0, 1], [0, -1], 2, "labels"),
            ([0, 1], [0, 1], [0.0, 1.0], 2, "labels"),
            ([], [], [], 2, "tasks"),
            ([0, 1], [0, 1], [0, 0], 0, "n_classes"),
        ],
    )
    def test_invalid_input_names_the_field(
        self,
        aggregator: Aggregator,
        tasks: list[Any],
        workers: list[Any],
        labels: list[Any],
        n_classes: int,
        field: str,
    ) -> None:
        with pytest.raises(InvalidInput) as excinfo:
            aggregator.fit(tasks, workers, labels, n_classes=n_classes)
        assert excinfo.value.field == field


def test_registry_and_public_surface() -> None:
    assert dict(AGGREGATORS) == {"majority_vote": MajorityVote, "dawid_skene": DawidSkene}
    assert {"AGGREGATORS", "Aggregator", "DawidSkene", "MajorityVote"} <= set(consensus.__all__)
    assert all(hasattr(consensus, name) for name in consensus.__all__)


class TestMajorityVote:
    TASKS = (0, 0, 0, 1, 1, 3)
    WORKERS = (0, 1, 2, 0, 1, 2)
    LABELS = (1, 1, 2, 0, 2, 1)

    def test_hand_computed_with_tie_and_missing_task(self) -> None:
        mv = MajorityVote().fit(self.TASKS, self.WORKERS, self.LABELS, n_classes=3)
        np.testing.assert_array_equal(mv.labels_, [1, 0, -1, 1])  # task 1 ties 0 vs 2: lowest
        np.testing.assert_allclose(
            mv.probas_,
            [[0.0, 2 / 3, 1 / 3], [0.5, 0.0, 0.5], [1 / 3, 1 / 3, 1 / 3], [0.0, 1.0, 0.0]],
        )

    def test_weights_break_the_tie(self) -> None:
        mv = MajorityVote(weights=[0.5, 2.0, 1.0])
        labels = mv.fit_predict(self.TASKS, self.WORKERS, self.LABELS, n_classes=3)
        np.testing.assert_array_equal(labels, [1, 2, -1, 1])
        np.testing.assert_allclose(mv.probas_[0], [0, 2.5 / 3.5, 1 / 3.5])
        np.testing.assert_allclose(mv.probas_[1], [0.2, 0, 0.8])

    @pytest.mark.parametrize("weights", [[1.0, 1.0], [1.0, -1.0, 1.0], [1.0, np.nan, 1.0]])
    def test_bad_weights(self, weights: list[float]) -> None:
        with pytest.raises(InvalidInput) as excinfo:
            MajorityVote(weights).fit(self.TASKS, self.WORKERS, self.LABELS, n_classes=3)
        assert excinfo.value.field == "weights"


class TestDawidSkene:
    def test_beats_majority_vote_and_finds_the_unreliable_worker(self) -> None:
        truth, t, w, y = simulate(200, seed=0)
        mv_accuracy = (MajorityVote().fit_predict(t, w, y, n_classes=K) == truth).mean()
        ds = DawidSkene().fit(t, w, y, n_classes=K)
        assert (ds.labels_ == truth).mean() >= mv_accuracy
        assert ds.skills_.shape == (5,)
        assert int(ds.skills_.argmin()) == 4
        assert ds.skills_[4] < 0.4
        assert ds.skills_[:4].min() > 0.6

    def test_beats_majority_vote_on_average_over_seeds(self) -> None:
        mv_acc, ds_acc = [], []
        for seed in range(10):
            truth, t, w, y = simulate(200, seed=seed)
            mv_acc.append((MajorityVote().fit_predict(t, w, y, n_classes=K) == truth).mean())
            ds_acc.append((DawidSkene().fit_predict(t, w, y, n_classes=K) == truth).mean())
        assert np.mean(ds_acc) > np.mean(mv_acc)

    def test_fitted_state_shapes(self) -> None:
        _, t, w, y = simulate(100, seed=2)
        ds = DawidSkene().fit(t, w, y, n_classes=K)
        assert ds.errors_.shape == (5, K, K)
        np.testing.assert_allclose(ds.errors_.sum(axis=2), 1.0)
        assert ds.priors_.shape == (K,)
        np.testing.assert_allclose(ds.priors_.sum(), 1.0)
        expected = np.einsum("c,wcc->w", ds.priors_, ds.errors_)
        np.testing.assert_allclose(ds.skills_, expected)
        assert 1 <= ds.n_iter_ <= 100

    def test_perfect_workers(self) -> None:
        truth, t, w, y = simulate(150, [1.0, 1.0, 1.0, 1.0], seed=4)
        ds = DawidSkene().fit(t, w, y, n_classes=K)
        np.testing.assert_array_equal(ds.labels_, truth)
        np.testing.assert_allclose(ds.errors_, np.broadcast_to(np.eye(K), (4, K, K)), atol=0.01)
        np.testing.assert_allclose(ds.skills_, 1.0, atol=0.01)

    def test_gold_tasks_keep_their_gold_label(self) -> None:
        truth, t, w, y = simulate(200, seed=0)
        free = DawidSkene().fit_predict(t, w, y, n_classes=K)
        wrong = np.flatnonzero(free != truth)[:5]
        assert wrong.size == 5
        gold = {int(task): int(truth[task]) for task in wrong}
        gold[0] = (int(truth[0]) + 1) % K  # gold wins even against unanimous answers
        ds = DawidSkene(gold=gold).fit(t, w, y, n_classes=K)
        for task, label in gold.items():
            assert ds.labels_[task] == label
            np.testing.assert_array_equal(ds.probas_[task], np.eye(K)[label])

    @pytest.mark.parametrize(
        ("params", "field"),
        [
            ({"n_iter": 0}, "n_iter"),
            ({"tol": -1.0}, "tol"),
            ({"smoothing": -0.1}, "smoothing"),
            ({"gold": {99: 0}}, "gold"),
            ({"gold": {0: 3}}, "gold"),
        ],
    )
    def test_bad_parameters(self, params: dict[str, Any], field: str) -> None:
        with pytest.raises(InvalidInput) as excinfo:
            DawidSkene(**params).fit([0, 1], [0, 1], [0, 1], n_classes=3)
        assert excinfo.value.field == field
