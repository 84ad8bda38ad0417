"""What pushed a linear model: contributions add up to the logit, point the right way, and
are empty where a model has none."""

from __future__ import annotations

import numpy as np
import pytest

from loopwise.core.enums import InputKind
from loopwise.training.explain import contributions
from loopwise.training.models import TrainedModel, fit_model

TEXTS = [
    "win a free prize now",
    "free cash prize claim now",
    "call to claim your free prize",
    "see you at lunch",
    "are we still on for dinner",
    "lunch tomorrow at noon",
]
LABELS = ["spam", "spam", "spam", "ham", "ham", "ham"]


def text_model() -> TrainedModel:
    return fit_model(None, InputKind.TEXT, TEXTS, LABELS, ("ham", "spam"))


def test_contributions_add_up_to_the_log_odds() -> None:
    model = text_model()
    text = "free prize for lunch"
    found = contributions(model, [text], "spam", top=1000)
    last = model.estimator[-1]
    logit = float(last.decision_function(model.estimator[:-1].transform([text]))[0])
    assert sum(c.weight for c in found) + float(last.intercept_[0]) == pytest.approx(logit)
    towards = {c.feature for c in found if c.weight > 0}
    assert {"free", "prize"} <= towards
    assert "lunch" in {c.feature for c in found if c.weight < 0}


def test_the_other_label_sees_the_opposite_push() -> None:
    model = text_model()
    spam = {c.feature: c.weight for c in contributions(model, ["free lunch"], "spam")}
    ham = {c.feature: c.weight for c in contributions(model, ["free lunch"], "ham")}
    assert spam.keys() == ham.keys()
    for feature, weight in spam.items():
        assert ham[feature] == pytest.approx(-weight)


def test_strongest_first_and_only_words_of_the_input() -> None:
    model = text_model()
    found = contributions(model, ["claim your free cash now"], "spam", top=3)
    assert len(found) == 3
    weights = [abs(c.weight) for c in found]
    assert weights == sorted(weights, reverse=True)
    for c in found:
        assert set(c.feature.split()) <= {"claim", "your", "free", "cash", "now"}


def test_a_table_names_its_columns_and_a_tree_model_has_none() -> None:
    rng = np.random.default_rng(0)
    x = rng.normal(size=(60, 3))
    y = ["a" if v > 0 else "b" for v in x[:, 1]]
    linear = fit_model("logreg", InputKind.TABULAR, x, y, ("a", "b"))
    found = contributions(linear, x[:1], "a", feature_names=("amount", "score", "age"))
    assert found[0].feature == "score"
    trees = fit_model("gradient_boosting", InputKind.TABULAR, x, y, ("a", "b"))
    assert contributions(trees, x[:1], "a") == []


def test_an_unknown_label_or_no_input_explains_nothing() -> None:
    model = text_model()
    assert contributions(model, ["free prize"], "maybe") == []
    assert contributions(model, [], "spam") == []
