"""Term counts kept per text: any model that analyses text the same way computes from them the
matrix ``model_features`` computes from the texts, bit for bit."""

from __future__ import annotations

import re
from typing import Any, cast

import numpy as np
import pytest
from sklearn.ensemble import HistGradientBoostingClassifier
from sklearn.feature_extraction.text import CountVectorizer, TfidfVectorizer
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import MaxAbsScaler

from loopwise.core.enums import InputKind
from loopwise.training.features import model_features, text_vectoriser
from loopwise.training.models import TrainedModel, untrained
from loopwise.training.terms import (
    TermCounts,
    analysis_key,
    count_terms,
    counted_features,
)
from tests.factories import HAM, SPAM
from tests.unit.training.test_features import VECTORISERS as _VECTORISERS

VECTORISERS = cast("dict[str, dict[str, Any]]", _VECTORISERS)

DOCUMENTS = [
    *HAM,
    *SPAM,
    "",
    "zzz qqq xyzzy",  # no term the model knows: an empty row
    "FREE free FrEe prize prize call call call now",
    "Café crème, naïve résumé — Ünïcödé ✓ 日本語 テキスト",
    "\tcall\nnow\r\n0800 123 456 !!",
    "win win win a prize today",
]


def fitted(params: dict[str, Any], *between: Any, ham: Any = HAM, spam: Any = SPAM) -> TrainedModel:
    labels = ["ham"] * len(ham) + ["spam"] * len(spam)
    pipeline = make_pipeline(TfidfVectorizer(**params), *between, LogisticRegression())
    return TrainedModel(pipeline.fit([*ham, *spam], labels), ("ham", "spam"), "test")


def assert_same(found: Any, expected: Any) -> None:
    assert found.shape == expected.shape
    assert found.dtype == expected.dtype
    if hasattr(expected, "indptr"):
        assert np.array_equal(found.indptr, expected.indptr)
        assert np.array_equal(found.indices, expected.indices)
        assert np.array_equal(found.data, expected.data)  # bit for bit, not approximately
    else:
        assert np.array_equal(found, expected)


@pytest.mark.parametrize("params", VECTORISERS.values(), ids=list(VECTORISERS))
@pytest.mark.parametrize("between", [(), (MaxAbsScaler(),)], ids=["tfidf", "tfidf+scaler"])
def test_features_from_counts_are_model_features(
    params: dict[str, Any], between: tuple[Any, ...]
) -> None:
    model = fitted(params, *between)
    expected = model_features(model, DOCUMENTS)
    # counted in three batches of uneven size: the later ones bring terms the first lacked
    batches = [DOCUMENTS[:3], DOCUMENTS[3:4], DOCUMENTS[4:]]
    counted = count_terms(model.estimator, batches)
    assert counted.counts.shape == (len(DOCUMENTS), len(counted.terms))
    assert len(set(counted.terms)) == len(counted.terms)
    assert_same(counted_features(model, counted), expected)


def test_counts_are_each_texts_terms_as_the_vectoriser_splits_them() -> None:
    estimator = untrained(InputKind.TEXT)
    texts = ["Call call NOW", "", "now or never"]
    counted = count_terms(estimator, [texts[:2], texts[2:]])
    analyse = text_vectoriser(estimator).build_analyzer()  # type: ignore[union-attr]
    for row, text in enumerate(texts):
        found = counted.counts[row]
        got = {counted.terms[j]: int(n) for j, n in zip(found.indices, found.data, strict=True)}
        expected: dict[str, int] = {}
        for term in analyse(text):
            expected[term] = expected.get(term, 0) + 1
        assert got == expected
    assert counted.counts.dtype == np.int32


def test_counts_of_one_models_texts_give_another_models_features() -> None:
    """Two models of the same analysis but other vocabularies and idf (trained on other texts):
    counts taken with the first (or with no model) serve the second."""
    first = fitted(VECTORISERS["the default model's"], ham=HAM[:3], spam=SPAM[:3])
    second = fitted(VECTORISERS["the default model's"])
    assert first.estimator[0].vocabulary_ != second.estimator[0].vocabulary_
    for counter in (first.estimator, untrained(InputKind.TEXT)):
        assert analysis_key(counter) == analysis_key(second.estimator)
        counted = count_terms(counter, [DOCUMENTS])
        assert_same(counted_features(second, counted), model_features(second, DOCUMENTS))


def test_counts_picked_by_row_keep_their_terms() -> None:
    model = fitted(VECTORISERS["the default model's"])
    counted = count_terms(model.estimator, [DOCUMENTS])
    rows = [5, 0, 7]
    picked = TermCounts(counted.counts[rows], counted.terms)
    assert_same(
        counted_features(model, picked), model_features(model, [DOCUMENTS[i] for i in rows])
    )


def test_many_texts_are_moved_a_block_at_a_time(monkeypatch: pytest.MonkeyPatch) -> None:
    from loopwise.training import terms

    monkeypatch.setattr(terms, "ROWS_AT_A_TIME", 4)
    model = fitted(VECTORISERS["the default model's"])
    counted = count_terms(model.estimator, [DOCUMENTS])
    assert_same(counted_features(model, counted), model_features(model, DOCUMENTS))


def test_no_texts_give_no_rows() -> None:
    model = fitted(VECTORISERS["the default model's"])
    nothing: list[list[list[str]]] = [[], [[]]]
    for batches in nothing:
        counted = count_terms(model.estimator, batches)
        assert counted.counts.shape == (0, 0)
        assert counted.terms == []
        assert counted_features(model, counted).shape == model_features(model, []).shape


class TestAnalysisKey:
    def test_the_same_analysis_has_the_same_key(self) -> None:
        plain = VECTORISERS["the default model's"]
        base = analysis_key(fitted(plain).estimator)
        assert base is not None
        assert re.fullmatch(r"terms-[0-9a-f]{16}", base)
        # what is not analysis (weighting, vocabulary, dtype) leaves it
        weighting = {**plain, "norm": "l1", "use_idf": False, "min_df": 2, "dtype": np.float32}
        assert analysis_key(fitted(weighting).estimator) == base
        assert analysis_key(untrained(InputKind.TEXT)) == base  # unfitted: the same

    @pytest.mark.parametrize(
        "change",
        [
            {"ngram_range": (1, 1)},
            {"lowercase": False},
            {"strip_accents": "ascii"},
            {"token_pattern": r"\b\w+\b"},
            {"stop_words": "english"},
            {"stop_words": ["call", "now"]},
            {"analyzer": "char_wb"},
        ],
    )
    def test_another_analysis_has_another_key(self, change: dict[str, Any]) -> None:
        plain = VECTORISERS["the default model's"]
        assert analysis_key(fitted({**plain, **change}).estimator) != analysis_key(
            fitted(plain).estimator
        )

    @pytest.mark.parametrize(
        "estimator",
        [
            make_pipeline(TfidfVectorizer(tokenizer=str.split), LogisticRegression()),
            make_pipeline(TfidfVectorizer(analyzer=str.split), LogisticRegression()),
            make_pipeline(TfidfVectorizer(preprocessor=str.lower), LogisticRegression()),
            make_pipeline(TfidfVectorizer(strip_accents=str.lower), LogisticRegression()),
            make_pipeline(TfidfVectorizer(dtype=np.int64), LogisticRegression()),
            make_pipeline(TfidfVectorizer(input="filename"), LogisticRegression()),
            make_pipeline(CountVectorizer(), LogisticRegression()),
            HistGradientBoostingClassifier(),
            TfidfVectorizer(),  # not a pipeline
        ],
        ids=[
            "callable tokeniser",
            "callable analyser",
            "preprocessor",
            "callable accents",
            "integer dtype",
            "files",
            "count vectoriser",
            "no pipeline",
            "vectoriser alone",
        ],
    )
    def test_analysis_in_code_or_no_tfidf_is_not_kept(self, estimator: Any) -> None:
        assert analysis_key(estimator) is None
        with pytest.raises(ValueError, match="does not analyse texts"):
            count_terms(estimator, [["some text"]])


def test_counts_of_another_width_are_refused() -> None:
    model = fitted(VECTORISERS["the default model's"])
    counted = count_terms(model.estimator, [DOCUMENTS])
    with pytest.raises(ValueError, match="columns of counts"):
        counted_features(model, TermCounts(counted.counts, counted.terms[:-1]))
