"""Settling one task from its answers with reviewer reliability learned from history and gold
(``loopwise.consensus.settle``)."""

from __future__ import annotations

import math

import numpy as np
import pytest

from loopwise.consensus.settle import Answer, Reliability, gold_weights, settle, settle_with

METHODS = ["dawid_skene", "majority_vote"]


def disputed_history(*, gold: bool) -> list[Answer]:
    """Six earlier tasks where alice said 1 and carol said 0; the truth (gold) was 1."""
    out: list[Answer] = []
    for t in range(6):
        out.append((f"old-{t}", "alice", 1, 1 if gold else None))
        out.append((f"old-{t}", "carol", 0, 1 if gold else None))
    return out


@pytest.mark.parametrize("method", METHODS)
def test_unanimous_answers_settle_with_full_agreement(method: str) -> None:
    result = settle([("a", 2), ("b", 2), ("c", 2)], [], n_classes=3, method=method)

    assert result.label == 2
    assert result.agreement == 1.0
    assert result.confidence == pytest.approx(float(result.probabilities[2]))
    assert result.confidence > 0.9
    assert result.probabilities.shape == (3,)
    assert result.probabilities.sum() == pytest.approx(1.0)
    assert set(result.skills) == {"a", "b", "c"}


@pytest.mark.parametrize("method", METHODS)
def test_two_against_one_takes_the_majority(method: str) -> None:
    result = settle([("a", 0), ("b", 1), ("c", 0)], [], n_classes=2, method=method)

    assert result.label == 0
    assert result.agreement == pytest.approx(2 / 3)
    assert result.confidence > 0.5


def test_majority_vote_without_gold_is_the_vote_share() -> None:
    result = settle([("a", 0), ("b", 1), ("c", 0)], [], n_classes=2, method="majority_vote")

    assert result.probabilities == pytest.approx([2 / 3, 1 / 3])
    assert result.skills == pytest.approx(dict.fromkeys("abc", math.log(2)))


def test_dawid_skene_gold_clamping_lowers_a_bad_reviewers_weight() -> None:
    """Alone, alice-vs-carol is a coin toss; gold says carol is the one who is wrong."""
    blind = settle([("alice", 1), ("carol", 0)], disputed_history(gold=False), n_classes=2)
    informed = settle([("alice", 1), ("carol", 0)], disputed_history(gold=True), n_classes=2)

    assert blind.skills["alice"] == pytest.approx(blind.skills["carol"], abs=1e-6)
    assert blind.confidence == pytest.approx(0.5, abs=1e-6)
    assert informed.skills["carol"] < 0.05 < 0.95 < informed.skills["alice"]
    assert informed.label == 1
    assert informed.confidence > 0.99
    assert informed.agreement == 0.5


def test_majority_vote_weighs_reviewers_by_their_gold_accuracy() -> None:
    blind = settle(
        [("alice", 1), ("carol", 0)],
        disputed_history(gold=False),
        n_classes=2,
        method="majority_vote",
    )
    informed = settle(
        [("alice", 1), ("carol", 0)],
        disputed_history(gold=True),
        n_classes=2,
        method="majority_vote",
    )

    assert blind.label == 0  # a tie goes to the lowest class index
    assert informed.label == 1
    assert informed.skills["carol"] == 0.0
    assert informed.skills["alice"] == pytest.approx(math.log(7 / 8 / (1 / 8)))
    assert informed.confidence == pytest.approx(1.0)


def test_majority_vote_falls_back_to_equal_weights_when_every_answerer_weighs_zero() -> None:
    history: list[Answer] = [("g", "x", 0, 1), ("g", "y", 0, 1)]
    result = settle([("x", 1), ("y", 1), ("z", 0)], history, n_classes=2, method="majority_vote")

    assert gold_weights(history, ["x", "y"]).tolist() == [0.0, 0.0]
    # x and y weigh 0 on gold, but z (no gold) weighs log 2: the vote is z's alone.
    assert result.label == 0

    only_bad = settle([("x", 1), ("y", 0)], history, n_classes=2, method="majority_vote")
    assert only_bad.probabilities == pytest.approx([0.5, 0.5])
    assert only_bad.skills == {"x": 1.0, "y": 1.0}


def test_gold_weights_are_smoothed_log_odds_never_negative() -> None:
    history: list[Answer] = [
        ("g1", "perfect", 1, 1),
        ("g2", "perfect", 0, 0),
        ("g1", "coin", 1, 1),
        ("g2", "coin", 1, 0),
        ("g1", "wrong", 0, 1),
        ("g1", "unknown", 0, None),
        ("g1", "outsider", 1, 1),
    ]
    weights = gold_weights(history, ["perfect", "coin", "wrong", "unknown", "nobody"])

    assert weights == pytest.approx([math.log(3), 0.0, 0.0, math.log(2), math.log(2)])
    assert (weights >= 0).all()


def test_answers_about_the_task_itself_in_history_are_ignored() -> None:
    history: list[Answer] = [(None, "x", 0, None), (None, "y", 0, None)]
    result = settle([("x", 1)], history, n_classes=2)
    assert result.label == 1
    assert set(result.skills) == {"x"}


@pytest.mark.parametrize("method", METHODS)
def test_gold_history_overturns_a_majority_of_reviewers_who_fail_gold(method: str) -> None:
    """Carol and dave gave the wrong answer on every gold task, alice the right one: their
    2-to-1 majority loses. Without the history the majority wins."""
    history: list[Answer] = []
    for t in range(6):
        history += [(t, "alice", 1, 1), (t, "carol", 0, 1), (t, "dave", 0, 1)]
    answers = [("alice", 1), ("carol", 0), ("dave", 0)]

    informed = settle(answers, history, n_classes=2, method=method)
    blind = settle(answers, [], n_classes=2, method=method)

    assert (informed.label, blind.label) == (1, 0)
    assert informed.agreement == pytest.approx(1 / 3)
    assert blind.agreement == pytest.approx(2 / 3)
    assert informed.skills["carol"] < informed.skills["alice"]
    assert informed.skills["dave"] < informed.skills["alice"]


def test_bad_calls_are_refused() -> None:
    with pytest.raises(ValueError, match="at least one answer"):
        settle([], [], n_classes=2)
    with pytest.raises(ValueError, match="unknown aggregator"):
        settle([("a", 0)], [], n_classes=2, method="mean")


def test_probabilities_are_a_float_array() -> None:
    result = settle([("a", 1)], [], n_classes=2, method="majority_vote")
    assert isinstance(result.probabilities, np.ndarray)
    assert result.probabilities.dtype == np.float64


UNANIMOUS_AFTER: list[Answer] = [
    (8, "r-1", 1, None),
    (8, "r-0", 1, None),
    (4, "r-0", 1, None),
    (4, "r-4", 1, None),
    (0, "r-3", 0, None),
    (0, "r-1", 0, None),
]
"""Three earlier unanimous tasks (two spam, one ham), newest first as the service reads them."""


def test_majority_vote_keeps_a_unanimous_answer_whatever_the_history() -> None:
    result = settle([("r-7", 1), ("r-6", 1)], UNANIMOUS_AFTER, n_classes=2, method="majority_vote")
    assert (result.label, result.agreement) == (1, 1.0)


def test_dawid_skene_keeps_a_unanimous_answer() -> None:
    result = settle([("r-7", 1), ("r-6", 1)], UNANIMOUS_AFTER, n_classes=2)
    assert (result.label, result.agreement) == (1, 1.0)


class TestSettleWith:
    """Settling with a reliability fitted before (what the service keeps between tasks)."""

    @pytest.mark.parametrize("method", METHODS)
    def test_a_kept_fit_settles_the_next_task_as_a_fresh_fit_would(self, method: str) -> None:
        history: list[Answer] = []
        for t in range(6):
            history += [(t, "alice", 1, 1), (t, "carol", 0, 1), (t, "dave", 0, 1)]
        fitted = settle([("alice", 1), ("carol", 0)], history, n_classes=2, method=method)
        assert fitted.reliability is not None
        assert fitted.reliability.rows == len(history) + 2

        answers = [("alice", 1), ("carol", 0), ("dave", 0)]
        kept = settle_with(answers, fitted.reliability)
        fresh = settle(answers, history, n_classes=2, method=method)

        assert (kept.label, fresh.label) == (1, 1)
        assert kept.agreement == fresh.agreement == pytest.approx(1 / 3)
        assert kept.confidence == pytest.approx(fresh.confidence, abs=0.05)
        assert kept.skills["carol"] < kept.skills["alice"]

    def test_dawid_skene_is_one_e_step_with_the_kept_matrices(self) -> None:
        """By hand: priors (0.5, 0.5); alice right 90%, carol right 60%."""
        reliability = Reliability(
            "dawid_skene",
            2,
            {"alice": 0, "carol": 1},
            rows=100,
            errors=np.array([[[0.9, 0.1], [0.1, 0.9]], [[0.6, 0.4], [0.4, 0.6]]]),
            priors=np.array([0.5, 0.5]),
        )
        result = settle_with([("alice", 1), ("carol", 0)], reliability)

        # P(1) ∝ 0.5 * 0.9 * 0.4 = 0.18; P(0) ∝ 0.5 * 0.1 * 0.6 = 0.03
        assert result.label == 1
        assert result.confidence == pytest.approx(0.18 / 0.21)
        assert result.skills == pytest.approx({"alice": 0.9, "carol": 0.6})

    def test_an_unseen_reviewer_counts_with_the_average_matrix(self) -> None:
        reliability = Reliability(
            "dawid_skene",
            2,
            {"alice": 0, "carol": 1},
            rows=100,
            errors=np.array([[[0.9, 0.1], [0.1, 0.9]], [[0.7, 0.3], [0.3, 0.7]]]),
            priors=np.array([0.5, 0.5]),
        )
        result = settle_with([("newcomer", 0), ("alice", 1)], reliability)

        # the average matrix is right 80%: P(1) ∝ 0.2 * 0.9, P(0) ∝ 0.8 * 0.1
        assert result.label == 1
        assert result.confidence == pytest.approx(0.18 / 0.26)

    def test_majority_vote_weighs_by_the_kept_weights(self) -> None:
        reliability = Reliability(
            "majority_vote",
            3,
            {"alice": 0, "carol": 1},
            rows=10,
            weights=np.array([2.0, 0.5]),
        )
        result = settle_with([("alice", 2), ("carol", 1), ("newcomer", 1)], reliability)

        # 2 for class 2 against 0.5 + log 2 for class 1
        assert result.label == 2
        assert result.probabilities == pytest.approx(
            np.array([0.0, 0.5 + math.log(2), 2.0]) / (2.5 + math.log(2))
        )

    def test_majority_vote_counts_everyone_equally_when_all_weigh_zero(self) -> None:
        reliability = Reliability("majority_vote", 2, {"a": 0, "b": 1}, rows=4, weights=np.zeros(2))
        result = settle_with([("a", 0), ("b", 1), ("a", 1)], reliability)
        assert result.probabilities == pytest.approx([1 / 3, 2 / 3])

    def test_only_a_class_someone_gave_can_win(self) -> None:
        reliability = Reliability(
            "dawid_skene",
            3,
            {"a": 0},
            rows=10,
            errors=np.array([[[0.1, 0.0, 0.9], [0.0, 1.0, 0.0], [0.0, 0.0, 1.0]]]),
            priors=np.array([0.9, 0.05, 0.05]),
        )
        result = settle_with([("a", 2)], reliability)
        assert result.label == 2
        assert result.probabilities[0] == 0.0

    def test_bad_calls_are_refused(self) -> None:
        reliability = Reliability("mean", 2, {}, rows=0)
        with pytest.raises(ValueError, match="at least one answer"):
            settle_with([], reliability)
        with pytest.raises(ValueError, match="unknown aggregator"):
            settle_with([("a", 0)], reliability)
