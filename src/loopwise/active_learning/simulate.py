"""Replay a labelled data set as the oracle: how fast does a query strategy learn?

A simulation hides the labels of a pool, reveals a small initial set, and then repeats: train
the model on the labelled items, measure its accuracy on a fixed test split, score the rest of
the pool, let the strategy choose the next batch and reveal those labels; until the label budget
is spent. The result is a learning curve (labels used -> test accuracy) per strategy and seed;
the metrics that compare curves (:func:`normalised_aulc`, :func:`labels_to_reach`,
:func:`acceleration`, :func:`compare`) are pure functions over them, in
:mod:`loopwise.active_learning.curves` and re-exported here.

Pure: NumPy, SciPy and scikit-learn only; features are fixed (dense or scipy sparse) and
computed once per split (:func:`text_features`, :func:`tabular_features`), as a project's model
would compute them.

When the labelled set holds a single class there is no model to train. The curve records the
accuracy of always predicting that class, and the step's batch is chosen without a model: by
the strategy itself if it needs nothing but features (random, the diversity strategies), else by
``cold_start`` (random sampling unless told otherwise).
"""

from __future__ import annotations

import time
from collections import deque
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from scipy import sparse
from sklearn.base import clone
from sklearn.model_selection import train_test_split
from sklearn.preprocessing import StandardScaler

from loopwise.active_learning import Pool, bootstrap_committee, make_strategy
from loopwise.active_learning.base import FloatArray, IntArray, Matrix, check_whole
from loopwise.active_learning.curves import (
    CurveLike,
    CurveSummary,
    LearningCurve,
    StrategyReport,
    acceleration,
    compare,
    labels_to_reach,
    mean_sd,
    normalised_aulc,
    summarise,
)
from loopwise.active_learning.fitting import (
    CommitteeMember,
    EstimatorFactory,
    aligned_proba,
    default_estimator,
    fit,
)
from loopwise.errors import InvalidInput
from loopwise.training.models import ALGORITHMS, any_term

BatchSchedule = int | Sequence[tuple[int, int]] | Callable[[int], int]
"""Labels per step: a constant; ``(until, size)`` pairs (``size`` while fewer than ``until``
labels are used, the last size beyond); or a function of the labels used so far."""


@dataclass(frozen=True)
class Step:
    """What a chooser sees at one step of a replay (rows index ``features``)."""

    features: Matrix
    """Every row's features (test rows included: choose only among ``unlabelled``)."""
    labelled: IntArray
    """Rows labelled so far, in the order they were revealed."""
    targets: Any
    """Their labels."""
    unlabelled: IntArray
    """Rows still in the pool, ascending."""
    model: Any | None
    """The estimator fitted on the labelled rows; ``None`` when they hold a single class."""
    probabilities: FloatArray | None
    """``(len(unlabelled), k)`` the model's probabilities over every class; ``None``: no model."""
    classes: Any
    """Every class of the data set, in the probabilities' column order."""
    n: int
    """How many to choose."""
    rng: np.random.Generator
    pending: IntArray = field(default_factory=lambda: np.zeros(0, dtype=np.int64))
    """Rows chosen at earlier steps whose labels have not come back (``label_delay``); in
    neither ``labelled`` nor ``unlabelled``."""


Chooser = Callable[[Step], IntArray]
"""Chooses ``step.n`` distinct positions in ``step.unlabelled``."""


def text_features(texts: Sequence[str], fit_rows: IntArray) -> Any:
    """TF-IDF of every text, as ``tfidf_logreg`` computes it, with the vocabulary and idf learnt
    from ``fit_rows`` only (the pool; never the test split). Sparse ``(len(texts), terms)``.

    Raises
    ------
    InvalidInput
        No text of the pool has a term (field ``texts``): there is nothing to learn from.
    """
    vectoriser = clone(ALGORITHMS["tfidf_logreg"][1]()[0])
    pool = [texts[i] for i in fit_rows]
    if not any_term(vectoriser, pool):
        raise InvalidInput(
            f"none of the pool's {len(pool)} texts has a term the text model keeps (by default "
            "a word of two or more letters or digits)",
            field="texts",
        )
    vectoriser.fit(pool)
    return vectoriser.transform(list(texts)).tocsr()


def tabular_features(values: Any, fit_rows: IntArray) -> FloatArray:
    """Columns standardised with the mean and spread of ``fit_rows`` (the pool). ``(n, d)``."""
    array = np.asarray(values, dtype=np.float64)
    scaler = StandardScaler().fit(array[fit_rows])
    return np.asarray(scaler.transform(array), dtype=np.float64)


def stratified_split(targets: Any, test_size: float, seed: int) -> tuple[IntArray, IntArray]:
    """``(pool, test)`` row indices, ascending, with each class in the same share in both."""
    y = np.asarray(targets)
    rows = np.arange(len(y))
    pool, test = train_test_split(rows, test_size=test_size, random_state=seed, stratify=y)
    return np.sort(pool).astype(np.int64), np.sort(test).astype(np.int64)


def draw_initial(pool: IntArray, size: int, seed: int) -> IntArray:
    """``size`` rows of ``pool`` uniformly at random: the labels a project starts with (they may
    all be of one class). The same seed gives every strategy the same initial set."""
    rng = np.random.default_rng([seed, 0])
    return np.asarray(rng.choice(np.asarray(pool), size=size, replace=False), dtype=np.int64)


def label_grid(initial: int, budget: int, batch: BatchSchedule) -> IntArray:
    """The label counts a simulation is measured at: ``initial``, then after each batch, up to
    ``budget``. With ``(until, size)`` pairs a step never crosses an ``until``.

    Raises
    ------
    InvalidInput
        A batch size below 1, or ``budget`` below ``initial``.
    """
    if budget < initial:
        raise InvalidInput(
            f"must be at least the initial set ({initial}), got {budget}", field="budget"
        )
    grid = [initial]
    while grid[-1] < budget:
        used = grid[-1]
        stop = budget
        if isinstance(batch, int):
            size = batch
        elif callable(batch):
            size = int(batch(used))
        else:
            ahead = [(until, size) for until, size in batch if used < until]
            size = ahead[0][1] if ahead else batch[-1][1]
            stop = min(stop, ahead[0][0]) if ahead else stop
        if size < 1:
            raise InvalidInput(f"must be at least 1, got {size} at {used} labels", field="batch")
        grid.append(min(used + size, stop))
    return np.asarray(grid, dtype=np.int64)


def replay(
    features: Matrix,
    targets: Any,
    *,
    test: Sequence[int] | IntArray,
    choose: Chooser,
    budget: int,
    initial: int | Sequence[int] | IntArray = 10,
    batch: BatchSchedule = 10,
    seed: int = 0,
    estimator: EstimatorFactory | None = None,
    pool: Sequence[int] | IntArray | None = None,
    name: str = "custom",
    label_delay: int = 0,
) -> LearningCurve:
    """Run the loop with any chooser: what :func:`simulate` does with a loopwise strategy.

    Parameters
    ----------
    features:
        ``(n, d)`` every row's features, dense or scipy sparse.
    targets:
        ``(n,)`` their true labels (the oracle).
    test:
        Rows the model is scored on; never in the pool.
    choose:
        Picks ``step.n`` positions in ``step.unlabelled`` (see :class:`Step`).
    budget:
        Labels to spend, the initial set included; at most the pool's size.
    initial:
        The initial set's size (drawn by :func:`draw_initial`) or its rows.
    batch:
        Labels per step (see :data:`BatchSchedule`).
    seed:
        Seeds the initial draw and ``step.rng``.
    estimator:
        Makes the model; default :func:`default_estimator`.
    pool:
        Rows that can be labelled; default every row not in ``test``.
    label_delay:
        Batches chosen before the labels of the first of them come back, as when people review
        slower than queries are made: each step the model learns from the labels back so far,
        ``label_delay`` batches wait for their labels (``step.pending``), and one more is chosen.
        0 (every label back before the next choice) is the classic replay. The curve is the
        accuracy against the labels back.

    Raises
    ------
    InvalidInput
        Features that are not a 2-D matrix or hold NaN or infinity; features and targets of
        different lengths, rows outside them, an empty or repeating test split or a pool sharing
        rows with it; a budget, seed or label delay that is not a whole number (of at least 1,
        0, 0), an initial set larger than the budget or a budget larger than the pool.
    """
    _check_features(features)
    check_whole(budget, "budget", 1)
    check_whole(seed, "seed", 0)
    check_whole(label_delay, "label_delay", 0)
    y = np.asarray(targets)
    n_rows = features.shape[0]
    if y.shape != (n_rows,):
        raise InvalidInput(f"must be {n_rows} labels, one per row, got {y.shape}", field="targets")
    test_rows = _rows(test, n_rows, "test")
    if not test_rows.size or len(np.unique(test_rows)) != test_rows.size:
        raise InvalidInput("must be distinct rows, at least one", field="test")
    pool_rows = (
        np.setdiff1d(np.arange(n_rows), test_rows) if pool is None else _rows(pool, n_rows, "pool")
    )
    if np.intersect1d(pool_rows, test_rows).size:
        raise InvalidInput("shares rows with the test split", field="pool")
    if budget > len(pool_rows):
        raise InvalidInput(f"is larger than the pool ({len(pool_rows)} rows)", field="budget")
    if isinstance(initial, int | np.integer):
        if not 1 <= initial <= budget:
            raise InvalidInput(f"must be between 1 and the budget ({budget})", field="initial")
        start = draw_initial(pool_rows, int(initial), seed)
    else:
        start = _rows(initial, n_rows, "initial")
        if len(np.unique(start)) != len(start) or not np.isin(start, pool_rows).all():
            raise InvalidInput("must be distinct rows of the pool", field="initial")
    grid = label_grid(len(start), budget, batch)
    make = estimator if estimator is not None else (lambda: default_estimator(features))
    classes = np.unique(y)
    x_test, y_test = features[test_rows], y[test_rows]
    rng = np.random.default_rng([seed, 1])
    labelled = list(start)
    taken = np.zeros(n_rows, dtype=bool)  # labelled, or chosen and waiting for the label
    taken[start] = True
    waiting: deque[IntArray] = deque()
    sizes = np.diff(grid).tolist()
    accuracy: list[float] = []
    seconds, cold = 0.0, 0
    for i in range(len(grid)):
        rows = np.asarray(labelled, dtype=np.int64)
        model = fit(make, features[rows], y[rows])
        if model is None:
            accuracy.append(float(np.mean(y_test == y[rows[0]])))
        else:
            predicted = np.asarray(model.predict(x_test))
            accuracy.append(float(np.mean(predicted == y_test)))
        if i == len(grid) - 1:
            break
        while sizes and len(waiting) <= label_delay:
            began = time.perf_counter()
            unlabelled = pool_rows[~taken[pool_rows]]
            probabilities = (
                None if model is None else aligned_proba(model, features[unlabelled], classes)
            )
            pending = np.concatenate([*waiting, np.zeros(0, dtype=np.int64)])
            n = int(sizes.pop(0))
            step = Step(
                features, rows, y[rows], unlabelled, model, probabilities, classes, n, rng, pending
            )
            chosen = np.asarray(choose(step), dtype=np.int64)
            seconds += time.perf_counter() - began
            cold += model is None
            if chosen.shape != (step.n,) or len(np.unique(chosen)) != step.n:
                raise AssertionError(f"{name} chose {chosen!r}, not {step.n} distinct positions")
            picked = unlabelled[chosen]
            taken[picked] = True
            waiting.append(picked)
        labelled.extend(int(r) for r in waiting.popleft())
    return LearningCurve(name, seed, grid, np.asarray(accuracy), seconds, cold)


def simulate(
    features: Matrix,
    targets: Any,
    *,
    test: Sequence[int] | IntArray,
    strategy: str = "margin",
    budget: int,
    initial: int | Sequence[int] | IntArray = 10,
    batch: BatchSchedule = 10,
    seed: int = 0,
    estimator: EstimatorFactory | None = None,
    pool: Sequence[int] | IntArray | None = None,
    params: Mapping[str, Any] | None = None,
    cold_start: str = "random",
    committee_size: int = 5,
    label_delay: int = 0,
) -> LearningCurve:
    """The learning curve of the loopwise strategy ``strategy`` (built by
    :func:`~loopwise.active_learning.make_strategy` with ``params``) on one split and seed.

    The other parameters are :func:`replay`'s. Each step the strategy gets a :class:`Pool` of the
    unlabelled rows with the model's probabilities over every class (an unseen class has
    probability 0) and the labelled rows' features; committee strategies also get
    ``committee_size`` models fitted on bootstrap resamples (``bootstrap_committee``).
    With a single class labelled, the step is chosen cold (see the module's docstring). With a
    ``label_delay``, the rows waiting for their labels are the pool's ``pending`` items.

    Raises
    ------
    UnknownStrategy
        ``strategy`` or ``cold_start`` is not registered.
    InvalidInput
        As :func:`replay`; a ``cold_start`` strategy that needs a model.
    """
    chooser = strategy_chooser(strategy, params, cold_start, committee_size, estimator)
    return replay(
        features,
        targets,
        test=test,
        choose=chooser,
        budget=budget,
        initial=initial,
        batch=batch,
        seed=seed,
        estimator=estimator,
        pool=pool,
        name=strategy,
        label_delay=label_delay,
    )


def strategy_chooser(
    name: str,
    params: Mapping[str, Any] | None = None,
    cold_start: str = "random",
    committee_size: int = 5,
    estimator: EstimatorFactory | None = None,
    *,
    show_pending: bool = True,
) -> Chooser:
    """A :data:`Chooser` that asks the loopwise strategy ``name`` (see :func:`simulate`).
    ``show_pending=False`` keeps the rows waiting for their labels from the strategy (what a
    query did before it was told about them)."""
    strategy = make_strategy(name, **dict(params or {}))
    fallback = strategy if not strategy.needs else make_strategy(cold_start)
    if fallback.needs:
        raise InvalidInput(
            f"{cold_start!r} needs a model; choose one that starts cold", field="cold_start"
        )

    def choose(step: Step) -> IntArray:
        unlabelled = step.features[step.unlabelled]
        labelled = step.features[step.labelled]
        pending = step.features[step.pending] if show_pending and step.pending.size else None
        if step.model is None:
            cold = Pool(unlabelled, None, labelled, pending=pending)
            return fallback.query(cold, step.n, seed=step.rng)
        committee = None
        if "committee" in strategy.needs:
            model = step.model
            make = estimator if estimator is not None else (lambda: clone(model))
            codes = np.searchsorted(step.classes, step.targets)
            committee = bootstrap_committee(
                lambda: CommitteeMember(make),
                labelled,
                codes,
                unlabelled,
                committee_size,
                step.rng,
                len(step.classes),
            )
        known = aligned_proba(step.model, labelled, step.classes)
        waiting = None if pending is None else aligned_proba(step.model, pending, step.classes)
        pool = Pool(unlabelled, step.probabilities, labelled, committee, known, pending, waiting)
        return strategy.query(pool, step.n, seed=step.rng)

    return choose


def _check_features(features: Matrix) -> None:
    """Refuse what no model can be fitted on, before any fitting: not 2-D, NaN or infinity."""
    if getattr(features, "ndim", None) != 2:
        raise InvalidInput("must be a 2-D matrix, one row per item", field="features")
    values = features.data if sparse.issparse(features) else features
    if not np.isfinite(np.asarray(values, dtype=np.float64)).all():
        raise InvalidInput("contain NaN or infinity", field="features")


def _rows(rows: Sequence[int] | IntArray, n_rows: int, field: str) -> IntArray:
    array = np.asarray(rows, dtype=np.int64).reshape(-1)
    if array.size and (array.min() < 0 or array.max() >= n_rows):
        raise InvalidInput(f"has a row outside 0..{n_rows - 1}", field=field)
    return array


__all__ = [
    "BatchSchedule",
    "Chooser",
    "CurveLike",
    "CurveSummary",
    "EstimatorFactory",
    "LearningCurve",
    "Step",
    "StrategyReport",
    "acceleration",
    "aligned_proba",
    "compare",
    "default_estimator",
    "draw_initial",
    "fit",
    "label_grid",
    "labels_to_reach",
    "mean_sd",
    "normalised_aulc",
    "replay",
    "simulate",
    "strategy_chooser",
    "stratified_split",
    "summarise",
    "tabular_features",
    "text_features",
]
