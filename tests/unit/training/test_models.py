"""Fitting models by name, and probabilities aligned with the project's label order."""

from __future__ import annotations

import numpy as np
import numpy.typing as npt
import pytest

from loopwise.core.enums import InputKind
from loopwise.errors import InvalidInput, NotEnoughLabels
from loopwise.training import ALGORITHMS, default_algorithm, fit_model, model_inputs
from tests.factories import HAM, SPAM

TABULAR_ALGORITHMS = ["gradient_boosting", "logreg"]  # the built-in ones


def blobs(
    centres: dict[str, float], per_class: int = 15, seed: int = 0
) -> tuple[npt.NDArray[np.float64], list[str]]:
    """Two-feature points scattered tightly around ``(c, c)`` for each label's centre ``c``."""
    rng = np.random.default_rng(seed)
    xs, ys = [], []
    for label, centre in centres.items():
        xs.append(rng.normal(centre, 0.3, size=(per_class, 2)))
        ys += [label] * per_class
    return np.vstack(xs), ys


class TestRegistry:
    def test_defaults_are_registered_for_their_kind(self) -> None:
        assert default_algorithm(InputKind.TEXT) == "tfidf_logreg"
        assert default_algorithm(InputKind.TABULAR) == "logreg"
        for kind in InputKind:
            assert ALGORITHMS[default_algorithm(kind)][0] is kind

    def test_built_in_algorithms_and_their_kinds(self) -> None:
        assert ALGORITHMS["tfidf_logreg"][0] is InputKind.TEXT
        for name in TABULAR_ALGORITHMS:
            assert ALGORITHMS[name][0] is InputKind.TABULAR


class TestFitRefusals:
    @pytest.mark.parametrize(
        ("targets", "have"),
        [
            ([], "0 item(s) of 0 class(es)"),
            (["a"], "1 item(s) of 1 class(es)"),
            (["a", "a", "a"], "3 item(s) of 1 class(es)"),
        ],
    )
    def test_not_enough_labels(self, targets: list[str], have: str) -> None:
        inputs = np.zeros((len(targets), 2))
        with pytest.raises(NotEnoughLabels) as info:
            fit_model("logreg", InputKind.TABULAR, inputs, targets, ("a", "b"))
        assert have in info.value.message
        assert not isinstance(info.value, InvalidInput)

    def test_texts_without_a_term_are_not_enough(self) -> None:
        texts, targets = ["!!", "?", "a", ":-)"], ["a", "b", "a", "b"]
        with pytest.raises(NotEnoughLabels) as info:
            fit_model("tfidf_logreg", InputKind.TEXT, texts, targets, ("a", "b"))
        assert "none of the 4 labelled texts has a term" in info.value.message
        # one word among them is enough to train on
        model = fit_model(
            "tfidf_logreg", InputKind.TEXT, [*texts, "ok"], [*targets, "a"], ("a", "b")
        )
        assert model.algorithm == "tfidf_logreg"

    def test_an_estimator_that_cannot_be_saved_is_refused_before_the_fit(self) -> None:
        from sklearn.feature_extraction.text import CountVectorizer
        from sklearn.naive_bayes import MultinomialNB
        from sklearn.pipeline import make_pipeline

        def split(text: str) -> list[str]:
            return text.split()

        local = make_pipeline(CountVectorizer(analyzer=split), MultinomialNB())
        texts, targets = ["free prize", "lunch at noon"], ["b", "a"]
        with pytest.raises(InvalidInput) as info:
            fit_model(None, InputKind.TEXT, texts, targets, ("a", "b"), estimator=local)
        assert info.value.field == "estimator"
        assert "cannot be saved as a model version" in info.value.message
        fine = make_pipeline(CountVectorizer(), MultinomialNB())
        model = fit_model(None, InputKind.TEXT, texts, targets, ("a", "b"), estimator=fine)
        assert model.algorithm == "custom:Pipeline"

    def test_unknown_algorithm(self) -> None:
        with pytest.raises(InvalidInput) as info:
            fit_model("svm", InputKind.TABULAR, np.zeros((2, 1)), ["a", "b"], ("a", "b"))
        assert info.value.field == "algorithm"
        assert "unknown algorithm 'svm'" in info.value.message
        for name in ["gradient_boosting", "logreg", "tfidf_logreg"]:
            assert repr(name) in info.value.message.partition("choose one of")[2]

    @pytest.mark.parametrize(
        ("algorithm", "kind"),
        [
            ("logreg", InputKind.TEXT),
            ("gradient_boosting", InputKind.TEXT),
            ("tfidf_logreg", InputKind.TABULAR),
        ],
    )
    def test_algorithm_for_the_other_kind(self, algorithm: str, kind: InputKind) -> None:
        with pytest.raises(InvalidInput) as info:
            fit_model(algorithm, kind, ["x", "y"], ["a", "b"], ("a", "b"))
        assert info.value.field == "algorithm"
        assert f"'{algorithm}' is for" in info.value.message

    def test_the_algorithm_is_checked_before_the_labels(self) -> None:
        with pytest.raises(InvalidInput):
            fit_model("svm", InputKind.TABULAR, np.zeros((1, 1)), ["a"], ("a", "b"))


class TestTabular:
    @pytest.mark.parametrize("algorithm", TABULAR_ALGORITHMS)
    def test_fits_and_predicts_separable_classes(self, algorithm: str) -> None:
        x, y = blobs({"low": -3.0, "mid": 0.0, "high": 3.0}, per_class=25)
        model = fit_model(algorithm, InputKind.TABULAR, x, y, ("low", "mid", "high"))
        probs = model.predict_proba(np.asarray([[-3.0, -3.0], [0.0, 0.0], [3.0, 3.0]]))
        assert probs.shape == (3, 3)
        assert probs.sum(axis=1) == pytest.approx(np.ones(3))
        assert probs.argmax(axis=1).tolist() == [0, 1, 2]
        assert model.algorithm == algorithm
        assert model.labels == ("low", "mid", "high")

    def test_missing_labels_get_zero_and_columns_follow_the_project_order(self) -> None:
        x, y = blobs({"c": -3.0, "a": 3.0})
        labels = ("c", "b", "a")  # the estimator sees classes_ == ["a", "c"]
        model = fit_model("logreg", InputKind.TABULAR, x, y, labels)
        assert [str(c) for c in model.estimator.classes_] == ["a", "c"]
        probs = model.predict_proba(np.asarray([[-3.0, -3.0], [3.0, 3.0], [0.1, -0.2]]))
        assert probs.shape == (3, 3)
        assert probs[:, 1].tolist() == [0.0, 0.0, 0.0]
        assert probs.argmax(axis=1).tolist()[:2] == [0, 2]
        assert probs.sum(axis=1) == pytest.approx(np.ones(3))

    def test_no_inputs_no_rows(self) -> None:
        x, y = blobs({"a": -3.0, "b": 3.0})
        model = fit_model("logreg", InputKind.TABULAR, x, y, ("a", "b"))
        assert model.predict_proba(np.zeros((0, 2))).shape == (0, 2)

    @pytest.mark.parametrize("algorithm", TABULAR_ALGORITHMS)
    def test_sample_weights_reach_the_estimator(self, algorithm: str) -> None:
        # Two identical points with opposite labels: only the weights can break the tie.
        x = np.zeros((4, 1))
        y = ["a", "b", "a", "b"]
        even = fit_model(algorithm, InputKind.TABULAR, x, y, ("a", "b"))
        tilted = fit_model(
            algorithm, InputKind.TABULAR, x, y, ("a", "b"), sample_weight=[3.0, 1.0, 3.0, 1.0]
        )
        assert even.predict_proba(x[:1])[0, 0] == pytest.approx(0.5)
        assert tilted.predict_proba(x[:1])[0, 0] == pytest.approx(0.75, abs=0.02)


class TestText:
    def test_text_model_separates_ham_from_spam(self) -> None:
        texts = HAM + SPAM
        targets = ["ham"] * len(HAM) + ["spam"] * len(SPAM)
        model = fit_model("tfidf_logreg", InputKind.TEXT, texts, targets, ("ham", "spam"))
        probs = model.predict_proba(texts)
        assert probs.shape == (len(texts), 2)
        assert probs.sum(axis=1) == pytest.approx(np.ones(len(texts)))
        assert [("ham", "spam")[i] for i in probs.argmax(axis=1)] == targets


class TestModelInputs:
    def test_text_payloads_become_strings(self) -> None:
        assert model_inputs(InputKind.TEXT, [{"text": "a"}, {"text": "b"}]) == ["a", "b"]
        assert model_inputs(InputKind.TEXT, []) == []

    def test_tabular_payloads_become_a_float_matrix(self) -> None:
        inputs = model_inputs(InputKind.TABULAR, [{"features": [1, 2]}, {"features": [3, 4]}])
        assert isinstance(inputs, np.ndarray)
        assert inputs.dtype == np.float64
        assert inputs.tolist() == [[1.0, 2.0], [3.0, 4.0]]

    def test_no_tabular_payloads_make_an_empty_input(self) -> None:
        x, y = blobs({"a": -3.0, "b": 3.0})
        model = fit_model("logreg", InputKind.TABULAR, x, y, ("a", "b"))
        inputs = model_inputs(InputKind.TABULAR, [])
        assert len(inputs) == 0
        assert model.predict_proba(inputs).shape == (0, 2)
