"""The features a fitted model's classifier sees: what out-of-distribution detectors work on."""

from __future__ import annotations

from typing import Any

import numpy as np
import numpy.typing as npt
import pytest
from scipy import sparse
from sklearn.feature_extraction.text import TfidfVectorizer
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import make_pipeline

from loopwise.core.enums import InputKind
from loopwise.errors import InvalidInput
from loopwise.training import TrainedModel, fit_model, model_features
from loopwise.training.features import tfidf_features, word_terms
from loopwise.training.models import ModelInput
from tests.factories import HAM, SPAM

LABELS = ("ham", "spam")


def table(seed: int, n: int = 40) -> tuple[npt.NDArray[np.float64], list[str]]:
    """Two classes of three columns on very different scales."""
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(n, 3)) * [1.0, 100.0, 0.01] + [0.0, 500.0, 3.0]
    return x, ["spam" if row[0] > 0 else "ham" for row in x]


def text_model() -> TrainedModel:
    return fit_model(
        "tfidf_logreg",
        InputKind.TEXT,
        HAM + SPAM,
        ["ham"] * len(HAM) + ["spam"] * len(SPAM),
        LABELS,
    )


class TestPipelines:
    def test_text_gives_the_sparse_tfidf_rows(self) -> None:
        model = text_model()
        features = model_features(model, ["Call now to claim your free prize", "Ok lar"])
        vectoriser = model.estimator[0]
        assert sparse.issparse(features)
        assert features.shape == (2, len(vectoriser.vocabulary_))
        expected = vectoriser.transform(["Call now to claim your free prize", "Ok lar"])
        assert (features != expected).nnz == 0
        assert np.linalg.norm(features.toarray(), axis=1) == pytest.approx([1.0, 1.0])

    def test_tabular_logreg_gives_standardised_columns(self) -> None:
        x, y = table(seed=0)
        model = fit_model("logreg", InputKind.TABULAR, x, y, LABELS)
        features = model_features(model, x)
        assert isinstance(features, np.ndarray)
        assert features.dtype == np.float64
        assert features.mean(axis=0) == pytest.approx([0.0, 0.0, 0.0], abs=1e-9)
        assert features.std(axis=0) == pytest.approx([1.0, 1.0, 1.0])

    @pytest.mark.parametrize("algorithm", ["tfidf_logreg", "logreg"])
    def test_the_final_step_on_these_features_gives_the_models_probabilities(
        self, algorithm: str
    ) -> None:
        inputs: ModelInput
        if algorithm == "tfidf_logreg":
            model, inputs = text_model(), HAM[:3] + SPAM[:3]
        else:
            x, y = table(seed=1)
            model, inputs = fit_model(algorithm, InputKind.TABULAR, x, y, LABELS), x[:6]
        raw = model.predict_proba(inputs)
        final = model.estimator[-1]
        probs = final.predict_proba(model_features(model, inputs))
        columns = [LABELS.index(str(c)) for c in final.classes_]
        assert probs == pytest.approx(raw[:, columns])


class TestWithoutAPipeline:
    def test_gradient_boosting_sees_the_raw_table(self) -> None:
        x, y = table(seed=2)
        model = fit_model("gradient_boosting", InputKind.TABULAR, x, y, LABELS)
        features = model_features(model, x[:5])
        assert isinstance(features, np.ndarray)
        assert features.dtype == np.float64
        assert np.array_equal(features, x[:5])

    def test_a_one_step_pipeline_sees_the_raw_table(self) -> None:
        x, y = table(seed=3)
        model = fit_model(
            None, InputKind.TABULAR, x, y, LABELS, estimator=make_pipeline(LogisticRegression())
        )
        assert np.array_equal(model_features(model, x[:4]), x[:4])

    def test_texts_without_a_vectoriser_are_refused(self) -> None:
        model = TrainedModel(LogisticRegression(), LABELS, "custom:LogisticRegression")
        with pytest.raises(InvalidInput) as info:
            model_features(model, ["free prize", "see you"])
        assert info.value.field == "inputs"


@pytest.mark.parametrize("kind", [InputKind.TEXT, InputKind.TABULAR])
def test_no_inputs_give_an_empty_matrix(kind: InputKind) -> None:
    empty: ModelInput
    if kind is InputKind.TEXT:
        model, empty = text_model(), []
    else:
        x, y = table(seed=4)
        model = fit_model("logreg", InputKind.TABULAR, x, y, LABELS)
        empty = np.zeros((0, 0))
    features = model_features(model, empty)
    assert features.shape == (0, 0)


class TestProbabilitiesFromFeatures:
    """What routing uses to compute features once for both the classifier and OOD scores."""

    def test_text_model_gives_the_same_probabilities(self) -> None:
        model = text_model()
        texts = ["Call now to claim your free prize", "Ok lar", "see you at home"]
        features = model_features(model, texts)
        assert np.array_equal(model.predict_proba_features(features), model.predict_proba(texts))

    @pytest.mark.parametrize("algorithm", ["logreg", "gradient_boosting"])
    def test_tabular_models_give_the_same_probabilities(self, algorithm: str) -> None:
        x, y = table(seed=3)
        model = fit_model(algorithm, InputKind.TABULAR, x, y, ("spam", "other", "ham"))
        features = model_features(model, x[:7])
        probs = model.predict_proba_features(features)
        assert np.array_equal(probs, model.predict_proba(x[:7]))
        assert probs[:, 1].tolist() == [0.0] * 7, "a label the model never saw has probability 0"

    def test_no_rows_give_no_probabilities(self) -> None:
        model = text_model()
        assert model.predict_proba_features(model_features(model, [])).shape == (0, 2)


VECTORISERS = {
    "the default model's": {
        "sublinear_tf": True,
        "ngram_range": (1, 2),
        "min_df": 1,
        "strip_accents": "unicode",
    },
    "binary, l1, no idf": {"binary": True, "norm": "l1", "use_idf": False},
    "stop words, no norm": {"stop_words": "english", "norm": None, "smooth_idf": False},
    "characters": {"analyzer": "char_wb", "ngram_range": (2, 4)},
    "ascii accents, case kept": {"strip_accents": "ascii", "lowercase": False},
    "a token pattern with a group": {"token_pattern": r"(?u)\b(\w)\w+\b", "ngram_range": (1, 2)},
    "three-word phrases": {"ngram_range": (1, 3)},
    "float32": {"dtype": np.float32},
}


@pytest.mark.parametrize("params", VECTORISERS.values(), ids=list(VECTORISERS))
def test_tfidf_features_are_scikit_learns_matrix(params: dict[str, Any]) -> None:
    vectoriser = TfidfVectorizer(**params).fit(HAM + SPAM)
    documents = [
        *HAM,
        *SPAM,
        "",
        "zzz qqq xyzzy",  # no known term: an empty row
        "FREE free FrEe prize prize call call call now",
        "Café crème, naïve résumé — Ünïcödé ✓ 日本語 テキスト",
        "\tcall\nnow\r\n0800 123 456 !!",
    ]
    expected = vectoriser.transform(documents)
    found = tfidf_features(vectoriser, documents)
    assert found.shape == expected.shape
    assert found.dtype == expected.dtype
    assert np.array_equal(found.indptr, expected.indptr)
    assert np.array_equal(found.indices, expected.indices)
    assert np.array_equal(found.data, expected.data)  # bit for bit, not approximately


@pytest.mark.parametrize(
    ("params", "fast"),
    [
        (VECTORISERS["the default model's"], True),
        (VECTORISERS["ascii accents, case kept"], True),
        (VECTORISERS["a token pattern with a group"], True),
        (VECTORISERS["stop words, no norm"], False),
        (VECTORISERS["characters"], False),
        (VECTORISERS["three-word phrases"], False),
    ],
)
def test_plain_word_analysers_take_the_fast_path(params: dict[str, Any], fast: bool) -> None:
    """The matrices above are scikit-learn's either way; this says which path made them."""
    vectoriser = TfidfVectorizer(**params).fit(HAM + SPAM)
    assert (word_terms(vectoriser) is not None) is fast
