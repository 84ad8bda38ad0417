"""The simulation engine: metrics checked by hand on tiny curves, and replays that are
deterministic under a seed, start at the initial set and end at the budget."""

from __future__ import annotations

from typing import Any

import numpy as np
import numpy.typing as npt
import pytest
from scipy import sparse
from sklearn.datasets import make_classification

from loopwise.active_learning.simulate import (
    Chooser,
    LearningCurve,
    Step,
    acceleration,
    compare,
    default_estimator,
    draw_initial,
    fit,
    label_grid,
    labels_to_reach,
    mean_sd,
    normalised_aulc,
    replay,
    simulate,
    strategy_chooser,
    stratified_split,
    summarise,
    tabular_features,
    text_features,
)
from loopwise.errors import InvalidInput, UnknownStrategy

IntArray = npt.NDArray[np.int64]

# A rising curve: 0.5 at 10 labels, 0.7 at 20, 0.9 at 30.
#   budget 30: trapezoids 10 * (0.5 + 0.7) / 2 + 10 * (0.7 + 0.9) / 2 = 6 + 8 = 14, over 20 -> 0.7
#   budget 25: accuracy at 25 interpolated to 0.8; 6 + 5 * (0.7 + 0.8) / 2 = 9.75, over 15 -> 0.65
#   budget 40: the last accuracy holds; 14 + 10 * 0.9 = 23, over 30 -> 0.766667
RISING = [(10, 0.5), (20, 0.7), (30, 0.9)]


def curve(
    labels: list[int], accuracy: list[float], name: str = "s", seed: int = 0
) -> LearningCurve:
    return LearningCurve(
        name, seed, np.asarray(labels, dtype=np.int64), np.asarray(accuracy), 0.0, 0
    )


@pytest.fixture(scope="module")
def blobs() -> tuple[Any, Any, IntArray, IntArray]:
    x, y = make_classification(
        n_samples=240, n_features=6, n_informative=4, n_redundant=0, random_state=3
    )
    pool, test = stratified_split(y, 0.25, seed=0)
    return tabular_features(x, pool), y, pool, test


@pytest.mark.parametrize(("budget", "expected"), [(30, 0.7), (25, 0.65), (40, 23 / 30), (10, 0.5)])
def test_normalised_aulc_is_the_mean_accuracy_over_the_budget(budget: int, expected: float) -> None:
    assert normalised_aulc(RISING, budget) == pytest.approx(expected)


def test_normalised_aulc_of_flat_and_perfect_curves() -> None:
    assert normalised_aulc([(5, 0.8), (50, 0.8)], 50) == pytest.approx(0.8)
    assert normalised_aulc(curve([5, 10, 50], [1.0, 1.0, 1.0]), 50) == pytest.approx(1.0)


def test_normalised_aulc_refuses_a_budget_before_the_curve_and_a_bad_curve() -> None:
    with pytest.raises(InvalidInput) as info:
        normalised_aulc(RISING, 5)
    assert info.value.field == "budget"
    with pytest.raises(InvalidInput):
        normalised_aulc([(10, 0.5), (10, 0.6)], 20)
    with pytest.raises(InvalidInput):
        normalised_aulc([], 20)


def test_labels_to_reach_is_the_first_count_at_or_above_the_target() -> None:
    assert labels_to_reach(RISING, 0.7) == 20
    assert labels_to_reach(RISING, 0.69) == 20
    assert labels_to_reach(RISING, 0.0) == 10
    assert labels_to_reach(RISING, 0.95) is None
    assert labels_to_reach([(10, 0.9), (20, 0.6), (30, 0.95)], 0.9) == 10


def test_acceleration_is_randoms_labels_over_the_strategys() -> None:
    assert acceleration(200, 50) == pytest.approx(4.0)
    assert acceleration(100, 100) == pytest.approx(1.0)
    assert acceleration(None, 50) is None
    assert acceleration(200, None) is None


def test_mean_sd_and_summaries_over_seeds() -> None:
    assert mean_sd([1.0, 2.0, 3.0]) == pytest.approx((2.0, 1.0))
    assert mean_sd([0.5]) == (0.5, 0.0)
    summary = summarise([curve([10, 20], [0.4, 0.6]), curve([10, 20], [0.6, 1.0])])
    assert summary.labels.tolist() == [10, 20]
    assert summary.mean.tolist() == pytest.approx([0.5, 0.8])
    assert summary.low.tolist() == [0.4, 0.6]
    assert summary.high.tolist() == [0.6, 1.0]
    assert summary.sd.tolist() == pytest.approx([np.sqrt(0.02), np.sqrt(0.08)])
    with pytest.raises(InvalidInput):
        summarise([curve([10, 20], [0.4, 0.6]), curve([10, 30], [0.6, 1.0])])


def test_compare_reports_reach_and_acceleration_on_the_mean_curve() -> None:
    # Full-data accuracy 1.0: 95% is 0.95, 98% is 0.98. Random reaches 0.95 at 40 labels and
    # never 0.98; the strategy reaches 0.95 at 20 (2x) and 0.98 at 30 (at least 40 / 30).
    random = [curve([10, 20, 30, 40], [0.5, 0.7, 0.9, 0.95], "random")]
    smart = [curve([10, 20, 30, 40], [0.5, 0.96, 0.99, 0.99], "smart")]
    reports = compare({"random": random, "smart": smart}, full_accuracy=1.0, budget=40)
    assert reports["random"].labels_to == {0.95: 40, 0.98: None}
    assert reports["random"].acceleration == {0.95: 1.0, 0.98: None}
    assert reports["smart"].labels_to == {0.95: 20, 0.98: 30}
    assert reports["smart"].acceleration[0.95] == pytest.approx(2.0)
    assert reports["smart"].acceleration[0.98] == pytest.approx(40 / 30)
    assert reports["smart"].lower_bound == {0.95: False, 0.98: True}
    assert reports["smart"].aulc == pytest.approx(normalised_aulc(smart[0], 40))
    assert reports["smart"].aulc_sd == 0.0


def test_label_grid_follows_the_schedule_and_stops_at_the_budget() -> None:
    assert label_grid(10, 50, 10).tolist() == [10, 20, 30, 40, 50]
    assert label_grid(10, 45, 10).tolist() == [10, 20, 30, 40, 45]
    assert label_grid(5, 80, [(30, 10), (60, 15)]).tolist() == [5, 15, 25, 30, 45, 60, 75, 80]
    assert label_grid(10, 10, 5).tolist() == [10]
    assert label_grid(2, 8, lambda used: used).tolist() == [2, 4, 8]
    with pytest.raises(InvalidInput) as info:
        label_grid(10, 5, 10)
    assert info.value.field == "budget"
    with pytest.raises(InvalidInput) as info:
        label_grid(10, 50, 0)
    assert info.value.field == "batch"


def test_the_split_is_stratified_and_the_initial_draw_repeatable() -> None:
    y = np.array([0] * 80 + [1] * 20)
    pool, test = stratified_split(y, 0.25, seed=1)
    assert len(test) == 25
    assert int(y[test].sum()) == 5
    assert np.intersect1d(pool, test).size == 0
    first = draw_initial(pool, 10, seed=4)
    assert first.tolist() == draw_initial(pool, 10, seed=4).tolist()
    assert np.isin(first, pool).all()


@pytest.mark.parametrize("strategy", ["random", "margin", "default", "vote_entropy"])
def test_a_simulation_is_deterministic_and_spans_initial_to_budget(
    blobs: tuple[Any, Any, IntArray, IntArray], strategy: str
) -> None:
    x, y, _, test = blobs
    runs = [
        simulate(x, y, test=test, strategy=strategy, budget=60, initial=8, batch=13, seed=5)
        for _ in range(2)
    ]
    first = runs[0]
    assert first.labels.tolist() == [8, 21, 34, 47, 60]
    assert first.accuracy.tolist() == runs[1].accuracy.tolist()
    assert ((first.accuracy >= 0) & (first.accuracy <= 1)).all()
    assert first.strategy == strategy
    assert first.seed == 5


def test_a_strategy_that_needs_a_model_starts_cold_on_a_single_class(
    blobs: tuple[Any, Any, IntArray, IntArray],
) -> None:
    x, y, pool, test = blobs
    one_class = pool[y[pool] == 0][:4]
    result = simulate(x, y, test=test, strategy="margin", budget=12, initial=one_class, batch=4)
    assert result.labels.tolist() == [4, 8, 12]
    assert result.cold_steps >= 1
    assert result.accuracy[0] == pytest.approx(float(np.mean(y[test] == 0)))


def test_a_cold_start_strategy_must_not_need_a_model(
    blobs: tuple[Any, Any, IntArray, IntArray],
) -> None:
    x, y, _, test = blobs
    with pytest.raises(InvalidInput) as info:
        simulate(x, y, test=test, strategy="margin", budget=20, cold_start="entropy")
    assert info.value.field == "cold_start"
    with pytest.raises(UnknownStrategy):
        simulate(x, y, test=test, strategy="oracle", budget=20)


def test_bad_budgets_and_splits_are_refused(blobs: tuple[Any, Any, IntArray, IntArray]) -> None:
    x, y, pool, test = blobs
    with pytest.raises(InvalidInput) as info:
        simulate(x, y, test=test, budget=len(pool) + 1)
    assert info.value.field == "budget"
    with pytest.raises(InvalidInput) as info:
        simulate(x, y, test=test, budget=5, initial=10)
    assert info.value.field == "initial"
    with pytest.raises(InvalidInput) as info:
        simulate(x, y, test=test, pool=np.arange(len(y)), budget=20)
    assert info.value.field == "pool"
    with pytest.raises(InvalidInput) as info:
        simulate(x, y[:-1], test=test, budget=20)
    assert info.value.field == "targets"


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"budget": 20.5}, "budget"),
        ({"budget": True}, "budget"),
        ({"seed": "x"}, "seed"),
        ({"seed": -1}, "seed"),
        ({"test": []}, "test"),
        ({"test": [0, 0, 1]}, "test"),
        ({"features": "nan"}, "features"),
        ({"features": "sparse inf"}, "features"),
        ({"features": "1-D"}, "features"),
    ],
)
def test_bad_arguments_are_refused_by_name_before_any_fit(
    blobs: tuple[Any, Any, IntArray, IntArray], change: dict[str, Any], field: str
) -> None:
    """What NumPy or scikit-learn would refuse with their own errors (``unrecognized seed
    string``, ``Input X contains NaN``) or, for a budget of 20.5, a count of 0 is named here."""
    x, y, _, test = blobs
    arguments: dict[str, Any] = {"test": test, "budget": 20, **change}
    bad = np.array(x, dtype=np.float64)
    bad[3, 1] = np.nan
    features = {
        "nan": bad,
        "sparse inf": sparse.csr_matrix(np.where(np.isnan(bad), np.inf, bad)),
        "1-D": x[:, 0],
    }.get(arguments.pop("features", ""), x)
    with pytest.raises(InvalidInput) as info:
        simulate(features, y, **arguments)
    assert info.value.field == field


def recording() -> tuple[list[Step], Chooser]:
    """A chooser that takes the first ``step.n`` rows it is offered, and the steps it saw."""
    seen: list[Step] = []

    def first_rows(step: Step) -> IntArray:
        seen.append(step)
        return np.arange(step.n, dtype=np.int64)

    return seen, first_rows


def test_replay_takes_any_chooser_and_sees_only_the_pool(
    blobs: tuple[Any, Any, IntArray, IntArray],
) -> None:
    x, y, pool, test = blobs
    seen, first_rows = recording()
    start = pool[:10]
    result = replay(x, y, test=test, choose=first_rows, budget=30, initial=start, batch=10)
    assert result.labels.tolist() == [10, 20, 30]
    assert result.strategy == "custom"
    assert [s.n for s in seen] == [10, 10]
    assert seen[1].labelled.tolist() == pool[:20].tolist()
    assert not np.isin(seen[0].unlabelled, test).any()
    assert seen[0].probabilities is not None
    assert seen[0].probabilities.shape == (len(pool) - 10, 2)


def test_late_labels_wait_as_pending_while_more_batches_are_chosen(
    blobs: tuple[Any, Any, IntArray, IntArray],
) -> None:
    x, y, pool, test = blobs
    seen, first_rows = recording()
    start = pool[:10]
    result = replay(
        x, y, test=test, choose=first_rows, budget=50, initial=start, batch=10, label_delay=2
    )
    assert result.labels.tolist() == [10, 20, 30, 40, 50]
    assert len(seen) == 4  # one batch a step; none chosen past the budget
    # the first step chooses three batches with the initial model, each seeing the ones before
    assert [s.labelled.tolist() for s in seen] == [
        pool[:10].tolist(),
        pool[:10].tolist(),
        pool[:10].tolist(),
        pool[:20].tolist(),
    ]
    assert [s.pending.tolist() for s in seen] == [
        [],
        pool[10:20].tolist(),
        pool[10:30].tolist(),
        pool[20:40].tolist(),
    ]
    for step in seen:
        assert not np.isin(step.unlabelled, step.pending).any()
        assert not np.isin(step.unlabelled, step.labelled).any()
    assert seen[0].model is seen[2].model


def test_without_a_delay_nothing_waits_and_the_curve_is_unchanged(
    blobs: tuple[Any, Any, IntArray, IntArray],
) -> None:
    x, y, _, test = blobs
    common: dict[str, Any] = {"test": test, "budget": 48, "initial": 8, "batch": 10, "seed": 2}
    plain = simulate(x, y, strategy="coreset", **common)
    assert (
        plain.accuracy.tolist()
        == simulate(x, y, strategy="coreset", label_delay=0, **common).accuracy.tolist()
    )
    late = [
        replay(x, y, choose=strategy_chooser("coreset", show_pending=told), label_delay=1, **common)
        for told in (True, False)
    ]
    # told about the waiting batch, core-set (which needs no model) picks what it would have
    # picked with that batch's labels back; not told, it picks otherwise
    assert late[0].labels.tolist() == plain.labels.tolist()
    assert late[0].accuracy.tolist() == plain.accuracy.tolist()
    assert late[1].accuracy.tolist() != plain.accuracy.tolist()


@pytest.mark.parametrize("delay", [-1, 1.5, True, "2"])
def test_a_bad_label_delay_is_refused(
    blobs: tuple[Any, Any, IntArray, IntArray], delay: Any
) -> None:
    x, y, _, test = blobs
    with pytest.raises(InvalidInput) as info:
        simulate(x, y, test=test, budget=20, label_delay=delay)
    assert info.value.field == "label_delay"


def test_sparse_text_features_and_the_default_model() -> None:
    texts = [f"free prize {i} call now" for i in range(20)] + [f"lunch at {i}?" for i in range(20)]
    y = np.array(["spam"] * 20 + ["ham"] * 20)
    pool, test = stratified_split(y, 0.25, seed=0)
    x = text_features(texts, pool)
    assert sparse.issparse(x)
    assert default_estimator(x).get_params()["C"] == 10.0
    assert default_estimator(np.zeros((2, 2))).get_params()["C"] == 1.0
    result = simulate(x, y, test=test, strategy="margin", budget=12, initial=4, batch=4, seed=2)
    assert result.labels.tolist() == [4, 8, 12]
    assert result.accuracy[-1] == 1.0


def test_text_features_refuse_a_pool_without_a_term() -> None:
    texts = ["!!", "?", "a", ":-)", "free prize"]  # only the test row has words
    with pytest.raises(InvalidInput) as info:
        text_features(texts, np.arange(4))
    assert info.value.field == "texts"
    assert "none of the pool's 4 texts has a term" in info.value.message
    assert text_features(texts, np.arange(5))[4].nnz > 0  # "free", "prize", "free prize"


def test_fit_on_the_used_columns_is_the_same_logistic_regression() -> None:
    rng = np.random.default_rng(0)
    x = sparse.random(60, 500, density=0.01, format="csr", random_state=1)
    x = sparse.csr_matrix(x + sparse.eye(60, 500, format="csr"))
    y = rng.integers(0, 3, size=60)
    rows = np.arange(30)
    direct = default_estimator(x).fit(x[rows], y[rows])
    model = fit(lambda: default_estimator(x), x[rows], y[rows])
    assert model is not None
    assert model.coef_.shape == direct.coef_.shape == (3, 500)
    assert np.allclose(model.predict_proba(x), direct.predict_proba(x), atol=1e-8)
    assert fit(lambda: default_estimator(x), x[rows], np.zeros(30)) is None
