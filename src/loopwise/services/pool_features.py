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
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import numpy as np
from scipy import sparse
from sklearn.feature_extraction.text import TfidfVectorizer

from loopwise.core.entities import Project
from loopwise.core.enums import InputKind
from loopwise.services.context import Context
from loopwise.store.features import FeatureStore
from loopwise.store.pool import payloads_by_id
from loopwise.store.tables import ItemRow, PoolItemRow
from loopwise.training.features import model_features
from loopwise.training.models import TrainedModel, model_inputs

FEATURE_CHUNK = 5_000
"""Candidates whose features are computed (and stored) at a time."""

Payloads = Callable[[Context, Sequence[int]], dict[int, dict[str, Any]]]


def space(model_id: int) -> str:
    """The feature space of the pool's candidates under the model with row id ``model_id``."""
    return f"model-{model_id}"


def items_space(model_id: int) -> str:
    """The feature space of labelled items under the model with row id ``model_id``."""
    return f"model-{model_id}-items"


def retire_spaces(ctx: Context, project_id: int, model_id: int | None) -> list[str]:
    """Remove the project's feature spaces but the production model's (``model_id``; every
    space with none); the names removed.

    Called with the production model a query has just read: a promotion committed in the
    moments between makes the new model's space, if a query of it already began one, be
    computed again, nothing worse (see the module docstring)."""
    keep = () if model_id is None else (space(model_id), items_space(model_id))
    return FeatureStore(ctx.settings.artifacts).retain(project_id, keep)


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
        return TfidfVectorizer(sublinear_tf=True, min_df=1).fit_transform(inputs)
    columns = np.asarray(inputs, dtype=np.float64)
    spread = columns.std(axis=0)
    return (columns - columns.mean(axis=0)) / np.where(spread > 0, spread, 1.0)


def stored_features(
    ctx: Context,
    project: Project,
    model: TrainedModel,
    space_name: str,
    ids: Sequence[int],
    payloads: Payloads,
) -> Any:
    """Features of ``ids`` (rows in their order) in ``space_name``: the stored ones, and the
    missing computed from their ``payloads`` a chunk at a time and stored."""
    store = FeatureStore(ctx.settings.artifacts)
    wanted = np.asarray(ids, dtype=np.int64)
    stored_ids, stored = store.load(project.id, space_name)
    present = np.isin(wanted, stored_ids)
    found = np.zeros(0, dtype=np.int64)
    if present.any():
        order = np.argsort(stored_ids, kind="stable")  # stored ids are distinct (see load)
        found = order[np.searchsorted(stored_ids, wanted[present], sorter=order)]
    if present.all():
        return stored[found]
    missing = wanted[~present]
    computed = []
    for start in range(0, len(missing), FEATURE_CHUNK):
        chunk = missing[start : start + FEATURE_CHUNK]
        read = payloads(ctx, chunk.tolist())
        inputs = model_inputs(project.input_kind, [read[int(i)] for i in chunk])
        rows = model_features(model, inputs)
        store.append(project.id, space_name, chunk, rows)
        computed.append(rows)
    parts = ([stored[found]] if len(found) else []) + computed
    positions = np.concatenate([np.flatnonzero(present), np.flatnonzero(~present)])
    if any(sparse.issparse(part) for part in parts):
        stacked: Any = sparse.vstack([sparse.csr_matrix(part) for part in parts], format="csr")
    else:
        stacked = np.vstack(parts)
    return stacked[np.argsort(positions, kind="stable")]
