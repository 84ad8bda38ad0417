"""Term counts of texts, kept so that a new model's TF-IDF features need no second analysis.

A text model's features are its vectoriser's TF-IDF: its own vocabulary and idf, so a pool's
stored features are of no use to the next model. The *terms* a text splits into, though,
depend only on how the vectoriser analyses text (case, accents, token pattern, n-grams, stop
words), which every model trained by ``tfidf_logreg`` shares. :func:`count_terms` counts each
text's terms against a vocabulary of its own batch; any later model that analyses text the same
way (the same :func:`analysis_key`) computes its features from those counts
(:func:`counted_features`): one vocabulary look-up per distinct term of a batch, not one per term
of every text, and no analysis, which is most of vectorising (a 100,000-text pool: 1.9 s of
the 2.7 s its features took; profiled). The matrix is the one ``model_features`` gives, bit
for bit.

Written here rather than kept as scikit-learn ``CountVectorizer`` matrices: those are tied to
one vocabulary fitted over all texts at once, where a pool grows a batch at a time and several
workers count batches independently.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from itertools import chain, count, filterfalse, repeat
from typing import Any

import numpy as np
import sklearn
from scipy import sparse

from loopwise.training.features import (
    past_vectoriser,
    text_vectoriser,
    tfidf_weighted,
    word_terms,
)
from loopwise.training.models import TrainedModel

ROWS_AT_A_TIME = 100_000
"""Texts whose counts :func:`counted_features` moves at a time."""


@dataclass(frozen=True)
class TermCounts:
    """How often each text of a batch holds each term of the batch."""

    counts: sparse.csr_matrix
    """``(texts, len(terms))`` int32 counts; column ``j`` counts ``terms[j]``."""
    terms: list[str]
    """The batch's distinct terms."""


def analysis_key(estimator: Any) -> str | None:
    """A name (``terms-<hash>``) for how the estimator's vectoriser (fitted or not) splits a
    text into terms: equal for every model whose counts :func:`counted_features` may take from
    another's.

    It covers the analyser's settings and scikit-learn's version (its stop-word list and
    analysers could change with it). ``None`` where counts cannot be kept: a model without a
    TF-IDF vectoriser, or one whose analysis is code (a callable analyser, preprocessor or
    tokeniser), that reads files rather than texts, or of an integer ``dtype`` (which
    ``model_features`` leaves to scikit-learn)."""
    vectoriser = text_vectoriser(estimator)
    if vectoriser is None:
        return None
    plain = (
        isinstance(vectoriser.analyzer, str)
        and vectoriser.preprocessor is None
        and vectoriser.tokenizer is None
        and vectoriser.input == "content"
        and np.dtype(vectoriser.dtype) in (np.float64, np.float32)
        and (vectoriser.strip_accents is None or isinstance(vectoriser.strip_accents, str))
        and (vectoriser.token_pattern is None or isinstance(vectoriser.token_pattern, str))
    )
    if not plain:
        return None
    stop_words = vectoriser.get_stop_words()
    settings = (
        sklearn.__version__,
        vectoriser.analyzer,
        bool(vectoriser.lowercase),
        vectoriser.strip_accents,
        vectoriser.token_pattern,
        tuple(int(n) for n in vectoriser.ngram_range),
        None if stop_words is None else sorted(stop_words),
    )
    return "terms-" + hashlib.sha256(repr(settings).encode("utf-8")).hexdigest()[:16]


def count_terms(estimator: Any, batches: Iterable[Sequence[str]]) -> TermCounts:
    """Count the terms of the texts of ``batches``, in their order, as the estimator's
    vectoriser (fitted or not) splits them (see the module), against one list of terms: only
    a batch's analysis is held at a time.

    Raises ``ValueError`` for an estimator with no :func:`analysis_key`."""
    vectoriser = text_vectoriser(estimator)
    if vectoriser is None or analysis_key(estimator) is None:
        raise ValueError(f"{type(estimator).__name__} does not analyse texts in a way kept")
    analyse = word_terms(vectoriser) or vectoriser.build_analyzer()
    columns: dict[str, int] = {}
    parts = []
    for texts in batches:
        terms = [analyse(text) for text in texts]
        lengths = np.fromiter(map(len, terms), dtype=np.int64, count=len(terms))
        found = _columns(columns, terms, int(lengths.sum()))
        indptr = np.zeros(len(terms) + 1, dtype=np.int64)
        np.cumsum(lengths, out=indptr[1:])
        part = sparse.csr_matrix(
            (np.ones(len(found), dtype=np.int32), found, indptr), shape=(len(terms), len(columns))
        )
        part.sum_duplicates()  # a term twice in a text: one entry, counted 2
        parts.append(part)
    width = len(columns)
    counts = (
        sparse.vstack(_widened(parts, width), format="csr")
        if parts
        else sparse.csr_matrix((0, width), dtype=np.int32)
    )
    return TermCounts(counts, list(columns))


def _columns(columns: dict[str, int], terms: list[list[str]], total: int) -> Any:
    """The column of each of the ``total`` terms of ``terms``, in order, new terms given the
    next columns of ``columns``.

    One pass over every term, of C-level calls only: each term's first place in the batch
    (``setdefault`` of a counter; places grow with the terms' first appearance, as a dict's keys
    do), made its rank in the batch, then its column; only the batch's distinct terms are
    looked up in ``columns``. Building a dict of the batch's terms first, then looking every
    term up in it, took about 1.5 times as long (5,000 SMS texts, measured)."""
    batch: dict[str, int] = {}
    places = np.fromiter(
        map(batch.setdefault, chain.from_iterable(terms), count()), dtype=np.int64, count=total
    )
    rank = np.empty(total, dtype=np.int64)
    rank[np.fromiter(batch.values(), dtype=np.int64, count=len(batch))] = np.arange(len(batch))
    if not columns:  # the first batch: its terms are the columns, in order
        columns.update(zip(batch, count()))
        return rank[places]
    columns.update(zip(filterfalse(columns.__contains__, batch), count(len(columns))))
    moved = np.fromiter(map(columns.__getitem__, batch), dtype=np.int64, count=len(batch))
    return moved[rank[places]]


def _widened(parts: list[Any], width: int) -> list[Any]:
    """``parts`` with ``width`` columns (the terms met after a batch are columns it lacks)."""
    return [
        sparse.csr_matrix((p.data, p.indices, p.indptr), shape=(p.shape[0], width)) for p in parts
    ]


def counted_features(model: TrainedModel, counted: TermCounts) -> Any:
    """The model's features of the texts ``counted`` holds, as ``model_features`` computes them
    from the texts (the counts came from a model of the same :func:`analysis_key`): each
    distinct term looked up in the vocabulary once, the counts moved to its columns (
    :data:`ROWS_AT_A_TIME` texts at a time, to bound the memory), weighted, and passed through
    the pipeline's steps between the vectoriser and the last."""
    vectoriser = text_vectoriser(model.estimator)
    if vectoriser is None:
        raise ValueError(f"{model.algorithm!r} has no TF-IDF vectoriser")
    vocabulary: dict[str, int] = vectoriser.vocabulary_
    counts, terms = counted.counts, counted.terms
    if counts.shape[1] != len(terms):
        raise ValueError(f"{counts.shape[1]} columns of counts for {len(terms)} terms")
    if counts.shape[0] == 0:
        return np.zeros((0, 0), dtype=np.float64)  # as model_features gives for no texts
    known = np.fromiter(map(vocabulary.get, terms, repeat(-1)), dtype=np.int64, count=len(terms))
    dtype = np.dtype(vectoriser.dtype)
    parts = []
    for start in range(0, counts.shape[0], ROWS_AT_A_TIME):
        block = counts[start : start + ROWS_AT_A_TIME]
        columns = known[block.indices]
        kept = columns >= 0
        kept_before = np.zeros(len(kept) + 1, dtype=np.int64)  # entries kept before each
        np.cumsum(kept, out=kept_before[1:])
        indptr = kept_before[block.indptr]
        features = sparse.csr_matrix(
            (block.data[kept].astype(dtype), columns[kept], indptr),
            shape=(block.shape[0], len(vocabulary)),
        )
        features.sort_indices()  # as scikit-learn's are; each term has one column
        parts.append(tfidf_weighted(vectoriser, features))
    tfidf = parts[0] if len(parts) == 1 else sparse.vstack(parts, format="csr")
    return past_vectoriser(model.estimator, tfidf)
