"""The features a pool query scores: the candidates', and the labelled items' it keeps away from.

With a production model, features are the model's
(:func:`~loopwise.training.features.model_features`) and are computed once: each query reads
what the feature store holds for the model's space (``model-<id>`` for candidates,
``model-<id>-items`` for labelled items), computes only what is missing, from payloads read a
chunk at a time, and stores it. The rows a query returns are assembled from what it read and
what it computed, never read back: a store changed by another worker meanwhile (merged, or a
space removed) costs that worker's rows a recomputation, never a wrong row. With no model yet,
features are the pool's own (TF-IDF fitted on its texts, or standardised columns) and are not
stored.

A space belongs to one model; once another model is in production it is never read again, and a
query removes it (:func:`retire_spaces`): each promotion would otherwise leave a copy of the
whole pool's features on disk.

Numeric candidates (tables) also keep their inputs, which no model changes, in the space
:data:`INPUTS`, written when they are added (:func:`store_inputs`); a new model's features are
computed from them rather than from payloads read back from the database and parsed again
(a million rows of 20 columns: the first query after a promotion took 18-27 s, now 4-5 s, on a
2-core machine; ``docs/benchmarks.md``).
Texts keep their term counts instead (:mod:`loopwise.training.terms`), counted when they are
added, as the production model (or, with none, the default text model) analyses text, in a
space named after that analysis (:func:`~loopwise.training.terms.analysis_key`). Every model
that analyses text the same way, the default's successors included, computes its features from
them, without reading or analysing a text again: the first query after an add or a promotion
no longer analyses the pool, adding does, once. Texts without counts (added before, by a
process that stopped in between, or under a model that analyses text otherwise) are counted
from their payloads by the query that needs them, and their counts kept. (100,000 SMS texts on
2 cores: the first query after a promotion took 2.1-2.9 s, now 0.5 s; a million, 25-31 s, now
5-6 s; adding runs at 43-71% of its rate before: ``docs/benchmarks.md``.)
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from typing import Any, cast

import numpy as np
from scipy import sparse
from sklearn.feature_extraction.text import TfidfVectorizer

from loopwise.active_learning.geometry import stacked
from loopwise.core.entities import Project
from loopwise.core.enums import InputKind
from loopwise.services.context import Context
from loopwise.store.features import BoolArray, FeatureStore, IntArray, ascending
from loopwise.store.pool import payloads_by_id
from loopwise.store.tables import ItemRow, PoolItemRow
from loopwise.store.terms import TermStore, storable_terms
from loopwise.training.features import model_features
from loopwise.training.models import TrainedModel, any_term, model_inputs, untrained
from loopwise.training.terms import TermCounts, analysis_key, count_terms, counted_features

INPUTS = "inputs"
"""The space of numeric candidates' inputs, the same under every model."""
FEATURE_CHUNK = 5_000
"""Candidates whose payloads are read and features computed at a time."""
COUNT_CHUNK = 20_000
"""Texts added whose terms are counted at a time: their lists of terms take many times the
texts' memory (50,000 SMS texts counted at once peaked at 148 MB, in parts of 20,000 at 92 MB;
10,000, the benchmark's batch, at 34 MB; measured with ``tracemalloc``)."""

Payloads = Callable[[Context, Sequence[int]], dict[int, dict[str, Any]]]


def space(model_id: int) -> str:
    """The feature space of the pool's candidates under the model with row id ``model_id``."""
    return f"model-{model_id}"


def items_space(model_id: int) -> str:
    """The feature space of labelled items under the model with row id ``model_id``."""
    return f"model-{model_id}-items"


def retire_spaces(
    ctx: Context, project_id: int, model_id: int | None, model: TrainedModel | None
) -> list[str]:
    """Remove the project's feature spaces but the production model's (``model_id``, loaded as
    ``model``; every model's with none), :data:`INPUTS`, and the term counts the model takes
    (any, with no model); the names removed.

    Called with the production model a query has just read: a promotion committed in the
    moments between makes the new model's space, if a query of it already began one, be
    computed again, nothing worse (see the module docstring)."""
    store = FeatureStore(ctx.settings.artifacts)
    keep = {INPUTS}
    if model_id is None or model is None:
        keep |= {name for name in store.spaces(project_id) if name.startswith("terms-")}
    else:
        keep |= {space(model_id), items_space(model_id)}
        counts = analysis_key(model.estimator)
        if counts is not None:
            keep.add(counts)
    return store.retain(project_id, keep)


def drop_candidate_spaces(ctx: Context, project_id: int) -> list[str]:
    """Remove the project's spaces that hold the pool's candidates alone (each model's
    features of them, :data:`INPUTS`, the term counts), keeping the labelled items' (those of
    :func:`items_space`); the names removed. For a pool with no candidate left to choose, whose
    spaces no query reads again: a candidate added meanwhile has its features computed from
    its payload, as after any space is removed (see the module docstring)."""
    store = FeatureStore(ctx.settings.artifacts)
    keep = {name for name in store.spaces(project_id) if name.endswith("-items")}
    return store.retain(project_id, keep)


def store_inputs(
    ctx: Context,
    project: Project,
    ids: Sequence[int],
    payloads: Sequence[dict[str, Any]],
    model: TrainedModel | None,
) -> None:
    """Keep what no model changes of the candidates just added (``ids``: their committed rows):
    numeric candidates' inputs in :data:`INPUTS`; texts' term counts, as the production
    ``model`` analyses text (with none, the default text model), in the space of its
    :func:`~loopwise.training.terms.analysis_key` (none kept for a model without one).

    Called after the candidates' transaction commits: a candidate whose inputs or counts are
    missing (the process stopped between) has its features computed from its payload."""
    if not ids:
        return
    inputs = model_inputs(project.input_kind, list(payloads))
    wanted = np.asarray(ids, dtype=np.int64)
    if project.input_kind is not InputKind.TEXT:
        FeatureStore(ctx.settings.artifacts).append(project.id, INPUTS, wanted, inputs)
        return
    estimator = model.estimator if model is not None else untrained(InputKind.TEXT)
    key = analysis_key(estimator)
    if key is not None:
        texts = list(inputs)
        chunks = (texts[i : i + COUNT_CHUNK] for i in range(0, len(texts), COUNT_CHUNK))
        counted = count_terms(estimator, chunks)
        if storable_terms(counted.terms):
            store = TermStore(ctx.settings.artifacts)
            store.append(project.id, key, wanted, counted.counts, counted.terms)


def pool_payloads(ctx: Context, ids: Sequence[int]) -> dict[int, dict[str, Any]]:
    """Payloads of pool items by id (pool payloads never change once added)."""
    with ctx.read() as tx:
        return payloads_by_id(tx.session, PoolItemRow, ids)


def item_payloads(ctx: Context, ids: Sequence[int]) -> dict[int, dict[str, Any]]:
    """Payloads of items by id (an item's payload never changes)."""
    with ctx.read() as tx:
        return payloads_by_id(tx.session, ItemRow, ids)


def cold_features(kind: InputKind, payloads: list[dict[str, Any]]) -> Any:
    """Features of the pool itself, for a query before the first model: TF-IDF fitted on its
    texts (sparse), or its columns standardised."""
    inputs = model_inputs(kind, payloads)
    if kind is InputKind.TEXT:
        vectorizer = TfidfVectorizer(sublinear_tf=True, min_df=1)
        try:
            return vectorizer.fit_transform(inputs)
        except ValueError:  # "empty vocabulary", if no text has a term
            if any_term(vectorizer, inputs):
                raise
            # Emoji, punctuation, one-letter words: TF-IDF cannot tell these texts apart, so
            # each is a row of one zero column, and a strategy chooses among equals.
            return sparse.csr_matrix((len(inputs), 1), dtype=np.float64)
    columns = np.asarray(inputs, dtype=np.float64)
    spread = columns.std(axis=0)
    return (columns - columns.mean(axis=0)) / np.where(spread > 0, spread, 1.0)


def stored_features(
    ctx: Context,
    project: Project,
    model: TrainedModel,
    space_name: str,
    ids: Sequence[int] | IntArray,
    payloads: Payloads,
    *,
    inputs: bool = False,
) -> Any:
    """Features of ``ids`` (rows in their order) in ``space_name``: the stored ones, and the
    missing computed (:func:`_computed`; from :data:`INPUTS` where ``inputs`` and kept there,
    else from their ``payloads``) and stored as one chunk (200 chunks for a million new
    candidates made the next query merge them: 0.5 s)."""
    store = FeatureStore(ctx.settings.artifacts)
    wanted = np.asarray(ids, dtype=np.int64)
    if not len(wanted):
        return model_features(model, model_inputs(project.input_kind, []))
    stored_ids, stored = store.load(project.id, space_name)
    present, found = _located(stored_ids, wanted)
    if present.all():
        return stored[found]
    missing = wanted[~present]
    new = _computed(ctx, store, project, model, missing, payloads, inputs)
    store.append(project.id, space_name, missing, new)
    if not len(found):
        return new
    return _ordered([stored[found], new], [np.flatnonzero(present), np.flatnonzero(~present)])


def _computed(
    ctx: Context,
    store: FeatureStore,
    project: Project,
    model: TrainedModel,
    missing: IntArray,
    payloads: Payloads,
    inputs: bool,
) -> Any:
    """Features of ``missing`` in their order, a chunk at a time: from the inputs kept in
    :data:`INPUTS` (if ``inputs``), the others from their payloads; texts through their term
    counts (:func:`_counted`)."""
    key = analysis_key(model.estimator) if inputs and project.input_kind is InputKind.TEXT else None
    if key is not None:
        return _counted(ctx, project, model, key, missing, payloads)
    parts: list[Any] = []
    kept = np.zeros(len(missing), dtype=bool)
    if inputs:
        input_ids, rows = store.load(project.id, INPUTS, missing)
        kept, found = _located(input_ids, missing)
        if kept.any():
            rows = rows[found]
            for start in range(0, len(rows), FEATURE_CHUNK):
                parts.append(model_features(model, rows[start : start + FEATURE_CHUNK]))
    rest = missing[~kept]
    for start in range(0, len(rest), FEATURE_CHUNK):
        chunk = rest[start : start + FEATURE_CHUNK]
        read = payloads(ctx, chunk.tolist())
        values = model_inputs(project.input_kind, [read[int(i)] for i in chunk])
        parts.append(model_features(model, values))
    return _ordered(parts, [np.flatnonzero(kept), np.flatnonzero(~kept)])


def _counted(
    ctx: Context,
    project: Project,
    model: TrainedModel,
    key: str,
    missing: IntArray,
    payloads: Payloads,
) -> Any:
    """Features of the texts ``missing`` in their order, from their term counts kept in the
    space ``key`` (only its chunks holding some are read), block by block; the texts not
    counted yet are read and counted a chunk at a time, and their counts kept as one block
    (unless a term holds a line break, which a custom token pattern may match)."""
    store = TermStore(ctx.settings.artifacts)
    blocks = store.load(project.id, key, missing)
    parts: list[Any] = []
    positions: list[IntArray] = []
    kept = np.zeros(len(missing), dtype=bool)
    if blocks:
        ids = np.concatenate([block.ids for block in blocks])
        block_of = np.repeat(np.arange(len(blocks)), [len(block.ids) for block in blocks])
        row_of = np.concatenate([np.arange(len(block.ids)) for block in blocks])
        known, first = np.unique(ids, return_index=True)  # an id in two blocks: its first
        at = np.minimum(np.searchsorted(known, missing), len(known) - 1)
        kept = known[at] == missing
        where, asked = first[at[kept]], np.flatnonzero(kept)
        for k in np.unique(block_of[where]).tolist():
            mine = block_of[where] == k
            rows = blocks[k].counts[row_of[where[mine]]]
            parts.append(counted_features(model, TermCounts(rows, blocks[k].terms)))
            positions.append(asked[mine])
    rest = missing[~kept]
    if len(rest):
        fresh = count_terms(model.estimator, _texts(ctx, rest, payloads))
        if storable_terms(fresh.terms):
            store.append(project.id, key, rest, fresh.counts, fresh.terms)
        parts.append(counted_features(model, fresh))
        positions.append(np.flatnonzero(~kept))
    return _ordered(parts, positions)


def _texts(ctx: Context, ids: IntArray, payloads: Payloads) -> Iterator[list[str]]:
    """The texts of ``ids``, in their order, read :data:`FEATURE_CHUNK` at a time."""
    for start in range(0, len(ids), FEATURE_CHUNK):
        chunk = ids[start : start + FEATURE_CHUNK]
        read = payloads(ctx, chunk.tolist())
        yield cast("list[str]", model_inputs(InputKind.TEXT, [read[int(i)] for i in chunk]))


def _ordered(parts: list[Any], positions: list[IntArray]) -> Any:
    """The rows of ``parts``, one after the other, put at their ``positions`` (one array per
    part, together every position once)."""
    rows = stacked(*parts)
    order = np.concatenate(positions)
    if np.array_equal(order, np.arange(len(order))):
        return rows
    return rows[np.argsort(order, kind="stable")]


def _located(stored_ids: IntArray, ids: IntArray) -> tuple[BoolArray, IntArray]:
    """Which of ``ids`` are among ``stored_ids`` (distinct), and where those are in it.

    One binary search per id; the stored ids are sorted first only when they are not
    ascending already, as a space of one chunk is (the pool's, once its first query stored
    it). ``np.isin`` and an ``argsort`` did the same for a million ids in 0.07-0.13 s against
    0.03 s."""
    if not len(stored_ids) or not len(ids):
        return np.zeros(len(ids), dtype=bool), np.zeros(0, dtype=np.int64)
    order = None if ascending(stored_ids) else np.argsort(stored_ids, kind="stable")
    ranked = stored_ids if order is None else stored_ids[order]
    at = np.minimum(np.searchsorted(ranked, ids), len(ranked) - 1)
    present = ranked[at] == ids
    found = at[present] if order is None else order[at[present]]
    return present, np.asarray(found, dtype=np.int64)
