"""The representation a fitted model computes before its classifier: what OOD detectors see.

Measuring novelty in the model's own feature space (its TF-IDF vocabulary, its scaled columns)
asks the question that matters for routing: does this input look like what *this model* learned
from? A text full of words the vectoriser never saw, or a row far outside the scaler's range,
is then visibly unlike the training data.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from itertools import chain, pairwise, repeat
from typing import Any

import numpy as np
from scipy import sparse
from sklearn.feature_extraction.text import (
    TfidfVectorizer,
    strip_accents_ascii,
    strip_accents_unicode,
)
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import normalize

from loopwise.errors import InvalidInput
from loopwise.training.models import ModelInput, TrainedModel


def model_features(model: TrainedModel, inputs: ModelInput) -> Any:
    """Features of ``inputs`` as the model's final estimator receives them.

    Parameters
    ----------
    model:
        A fitted model.
    inputs:
        What ``model_inputs`` returns: a list of texts or a 2-D float array ``(n, d)``.

    Returns
    -------
    numpy.ndarray or scipy.sparse matrix
        ``(n, m)``. For a scikit-learn ``Pipeline``, ``inputs`` transformed by every step but the
        last (sparse TF-IDF for ``tfidf_logreg``, standardised columns for ``logreg``);
        otherwise the raw inputs as a float array (``gradient_boosting``). No inputs give a
        ``(0, 0)`` array, like ``model_inputs``.

    Raises
    ------
    InvalidInput
        Texts given to a model that is not a pipeline: they have no numeric representation.
    """
    if len(inputs) == 0:
        return np.zeros((0, 0), dtype=np.float64)
    estimator = model.estimator
    vectoriser = text_vectoriser(estimator)
    if vectoriser is not None and isinstance(inputs, list):
        return past_vectoriser(estimator, tfidf_features(vectoriser, inputs))
    if isinstance(estimator, Pipeline) and len(estimator.steps) > 1:
        features = estimator[:-1].transform(inputs)
        return features if hasattr(features, "tocsr") else np.asarray(features, dtype=np.float64)
    try:
        return np.asarray(inputs, dtype=np.float64)
    except (TypeError, ValueError):
        raise InvalidInput(
            f"{model.algorithm!r} takes its inputs whole; they are not numbers to compare",
            field="inputs",
        ) from None


def text_vectoriser(estimator: Any) -> TfidfVectorizer | None:
    """The TF-IDF vectoriser whose output the estimator's next steps take: a pipeline's first
    step, exactly that class (a subclass may change what it computes); ``None`` for other
    estimators. Fitted or not."""
    if not isinstance(estimator, Pipeline) or len(estimator.steps) < 2:
        return None
    first = estimator.steps[0][1]
    return first if type(first) is TfidfVectorizer else None


def past_vectoriser(estimator: Pipeline, tfidf: Any) -> Any:
    """``tfidf``, the output of the pipeline's vectoriser, through its steps but the first and
    the last: what the final estimator receives."""
    features = estimator[1:-1].transform(tfidf) if len(estimator.steps) > 2 else tfidf
    return features if hasattr(features, "tocsr") else np.asarray(features, dtype=np.float64)


def tfidf_features(vectoriser: TfidfVectorizer, documents: list[str]) -> Any:
    """``vectoriser.transform(documents)``, the same matrix, with the terms counted in bulk.

    scikit-learn counts each document's terms in a Python loop, a third of the time of
    vectorising a batch; here every document is analysed by the vectoriser's own analyser and
    the terms are looked up in its vocabulary at once, then weighted (sublinear tf, idf) and
    normalised as ``TfidfTransformer`` does, through public attributes only. Vectorisers whose
    ``dtype`` is not a float are left to scikit-learn.
    """
    dtype = np.dtype(vectoriser.dtype)
    if dtype not in (np.float64, np.float32):
        return vectoriser.transform(documents)
    vocabulary: dict[str, int] = vectoriser.vocabulary_
    analyse = word_terms(vectoriser) or vectoriser.build_analyzer()
    terms = [analyse(document) for document in documents]
    lengths = np.fromiter(map(len, terms), dtype=np.int64, count=len(terms))
    found = np.fromiter(
        map(vocabulary.get, chain.from_iterable(terms), repeat(-1)),
        dtype=np.int64,
        count=int(lengths.sum()),
    )
    rows = np.repeat(np.arange(len(documents)), lengths)
    known = found >= 0
    counts = sparse.csr_matrix(
        (np.ones(int(known.sum()), dtype=dtype), (rows[known], found[known])),
        shape=(len(documents), len(vocabulary)),
    )
    counts.sum_duplicates()  # term counts, indices sorted: what scikit-learn builds
    return tfidf_weighted(vectoriser, counts)


def tfidf_weighted(vectoriser: TfidfVectorizer, counts: Any) -> Any:
    """The ``vectoriser``'s TF-IDF of term ``counts`` (CSR, its vocabulary's columns, indices
    sorted, of its ``dtype``; changed in place): what ``TfidfTransformer`` computes, bit for bit."""
    if vectoriser.binary:
        counts.data.fill(1)
    if vectoriser.sublinear_tf:
        np.log(counts.data, counts.data)
        counts.data += 1.0
    idf = getattr(vectoriser, "idf_", None) if vectoriser.use_idf else None
    if idf is not None:
        counts.data *= idf[counts.indices]
    if vectoriser.norm is not None:
        counts = normalize(counts, norm=vectoriser.norm, copy=False)
    return counts


_ACCENTS: dict[Any, Callable[[str], str] | None] = {
    None: None,
    "unicode": strip_accents_unicode,
    "ascii": strip_accents_ascii,
}


def word_terms(vectoriser: TfidfVectorizer) -> Callable[[str], list[str]] | None:
    """The terms of one document as ``vectoriser.build_analyzer()`` gives them (in another
    order, which counting ignores), for the plain word analysers: words, or words and pairs of
    words, without stop words or custom steps. ``None`` for any other set-up.

    scikit-learn joins each n-gram in a Python loop, index by index; pairs made by ``zip`` and
    ``map`` cost about half (the analyser was four fifths of vectorising an ingest batch).
    """
    plain = (
        vectoriser.analyzer == "word"
        and vectoriser.input == "content"
        and vectoriser.preprocessor is None
        and vectoriser.tokenizer is None
        and vectoriser.stop_words is None
        and vectoriser.ngram_range in ((1, 1), (1, 2))
        and isinstance(vectoriser.token_pattern, str)
        and not isinstance(vectoriser.strip_accents, bool)
        and vectoriser.strip_accents in _ACCENTS
    )
    if not plain:
        return None
    pattern = re.compile(vectoriser.token_pattern)
    if pattern.groups > 1:
        return None  # scikit-learn refuses it; let it say so
    find, lower = pattern.findall, vectoriser.lowercase
    accents = _ACCENTS[vectoriser.strip_accents]
    pairs = vectoriser.ngram_range == (1, 2)

    def terms(document: str) -> list[str]:
        if lower:
            document = document.lower()
        if accents is not None:
            document = accents(document)
        words: list[str] = find(document)
        if pairs and len(words) > 1:
            return words + list(map(" ".join, pairwise(words)))
        return words

    return terms
