"""Removing candidates from the active-learning pool: a file added by mistake, candidates no
longer wanted.

Only waiting candidates are removed. One a query chose is an item under review (or decided),
and an item once accepted is never lost: it stays, and the removal counts it as ``chosen``.
A candidate is named by its external id, or by its payload: one added without an external id
was named by its payload (:func:`~loopwise.services.items.payload_external_id`), so the file
that added it names it again. Candidates added without one before that (a random id) are found
by their payload's digest, every one with it. Naming one that is not in the pool is no error,
so a removal sent twice removes nothing the second time.

A removed candidate's features stay in the feature store (:mod:`loopwise.store.features`) until
its space is retired (the next promotion, for a model's space), or until no candidate is left
unchosen: then the removal deletes every space of the pool's candidates (features, inputs,
term counts: 52 MB for 100,000 SMS texts after a query, measured). Its id is never given out again
(migration ``0010``), so no later candidate is scored on its features.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, cast

from sqlalchemy import BigInteger, CursorResult, delete, func, select

from loopwise.core.entities import Project
from loopwise.core.payloads import normalize_with_digest, validate_external_id
from loopwise.errors import DuplicateExternalId, InvalidInput
from loopwise.services import pool_features
from loopwise.services.context import Context, Tx
from loopwise.services.items import payload_external_id
from loopwise.store import mappers
from loopwise.store.pool import (
    PoolMatch,
    any_unchosen,
    candidates_by_external_id,
    candidates_with_digests,
)
from loopwise.store.repository import one_parameter_in
from loopwise.store.tables import PoolItemRow

log = logging.getLogger(__name__)

_KEYS = frozenset({"external_id", "payload", "metadata"})
"""What names a candidate to remove (``metadata`` is allowed, and ignored, so the rows of the
file that added candidates name them)."""


@dataclass(frozen=True)
class PoolRemoval:
    """What a removal did."""

    removed: int
    """Waiting candidates removed."""
    chosen: int
    """Candidates named (with ``everything``: all) that a query had chosen: items now, kept."""
    not_found: int
    """Candidates named that are not in the pool (never added, or removed before)."""


@dataclass(frozen=True)
class _Named:
    """The candidates a removal names: by external id (with the payload's digest where the
    payload was given too) and by payload digest alone."""

    by_id: dict[str, tuple[str | None, str]]
    """External id -> (digest or None, field)."""
    by_digest: dict[str, str]
    """Digest -> field."""


def remove_from_pool(
    ctx: Context,
    project_name: str,
    candidates: Sequence[str | Mapping[str, Any]] | None = None,
    *,
    everything: bool = False,
    actor: str = "client",
) -> PoolRemoval:
    """Remove waiting candidates from the project's pool, all or none, in one transaction
    (see the module docstring).

    Parameters
    ----------
    candidates:
        Each an external id, or a mapping with ``external_id`` and/or ``payload`` (as
        ``add_to_pool`` takes them; ``metadata`` is ignored). With both, the candidate of that
        external id must have that payload.
    everything:
        Remove every waiting candidate instead (``candidates`` left out).

    Raises
    ------
    InvalidInput
        Neither or both of ``candidates`` and ``everything``; more candidates than a batch
        takes; one that names nothing or has a bad external id or payload (the field names it:
        ``candidates[3].payload.text``).
    DuplicateExternalId
        A candidate's external id is in the pool with another payload.
    """
    if everything and candidates is not None:
        raise InvalidInput(
            "removes every waiting candidate: give candidates or everything, not both",
            field="everything",
        )
    if not everything and candidates is None:
        raise InvalidInput(
            "name the candidates to remove, or remove every waiting one (everything)",
            field="candidates",
        )
    named = None
    if candidates is not None:
        with ctx.read() as tx:
            project = mappers.project(tx.repo.project_by_name(project_name))
        named = _named(ctx, project, candidates, limit=ctx.settings.max_batch_items)
    with ctx.write() as tx:
        row = tx.repo.project_by_name(project_name)
        result = _remove_waiting(tx, row.id) if named is None else _remove_named(tx, row.id, named)
        tx.audit(
            actor=actor,
            action="pool.removed",
            entity_type="project",
            entity_id=row.id,
            project_id=row.id,
            after={
                "removed": result.removed,
                "chosen": result.chosen,
                "not_found": result.not_found,
                "everything": everything,
            },
        )
        # one probe, not the status's counts: a file is removed a batch at a time, and
        # counting a million candidates after each batch doubled the removal's time
        emptied = not any_unchosen(tx.session, row.id)
    if emptied:
        try:
            dropped = pool_features.drop_candidate_spaces(ctx, row.id)
        except OSError:  # the removal is committed; the files cost disk, not correctness
            log.exception("the stored features of %r's emptied pool were not removed", project_name)
        else:
            log.info("%r's pool is empty: removed its stored spaces %s", project_name, dropped)
    return result


def check_removal(ctx: Context, project_name: str, candidates: Sequence[Any]) -> None:
    """Validate ``candidates`` as :func:`remove_from_pool` does, any number of them, reading
    nothing of the pool and writing nothing: a file removed batch by batch is checked whole
    first, so a bad row anywhere means nothing is removed."""
    with ctx.read() as tx:
        project = mappers.project(tx.repo.project_by_name(project_name))
    _named(ctx, project, candidates, limit=None)


def _named(ctx: Context, project: Project, candidates: Any, *, limit: int | None) -> _Named:
    """The candidates named, validated before anything is read for them (at most ``limit``)."""
    if isinstance(candidates, str | bytes | Mapping) or not isinstance(candidates, Sequence):
        raise InvalidInput("must be a list of external ids or candidates", field="candidates")
    if not candidates:
        raise InvalidInput("must not be empty", field="candidates")
    if limit is not None and len(candidates) > limit:
        raise InvalidInput(
            f"has {len(candidates)} candidates; at most {limit} per batch", field="candidates"
        )
    by_id: dict[str, tuple[str | None, str]] = {}
    by_digest: dict[str, str] = {}
    for i, raw in enumerate(candidates):
        field = f"candidates[{i}]"
        if isinstance(raw, str):
            by_id.setdefault(validate_external_id(raw, field=field), (None, field))
            continue
        if not isinstance(raw, Mapping):
            raise InvalidInput("must be an external id or a mapping", field=field)
        unknown = sorted(set(raw) - _KEYS, key=str)
        if unknown:
            raise InvalidInput(f"unknown field {unknown[0]!r}", field=f"{field}.{unknown[0]}")
        external_id, payload = raw.get("external_id"), raw.get("payload")
        if external_id is None and payload is None:
            raise InvalidInput("needs an external_id or a payload", field=field)
        digest = None
        if payload is not None:
            _, digest = normalize_with_digest(
                payload,
                kind=project.input_kind,
                feature_names=project.feature_names,
                max_bytes=ctx.settings.max_payload_bytes,
                field=f"{field}.payload",
            )
        if external_id is None:
            by_digest.setdefault(str(digest), field)
            continue
        key = validate_external_id(external_id, field=f"{field}.external_id")
        earlier = by_id.setdefault(key, (digest, f"{field}.external_id"))
        if earlier[0] is not None and digest is not None and earlier[0] != digest:
            raise DuplicateExternalId(
                f"external id {key!r} is named twice with different payloads",
                field=f"{field}.external_id",
            )
    return _Named(by_id, by_digest)


def _remove_waiting(tx: Tx, project_id: int) -> PoolRemoval:
    removed = tx.session.execute(
        delete(PoolItemRow)
        .where(PoolItemRow.project_id == project_id, PoolItemRow.item_id.is_(None))
        .execution_options(synchronize_session=False)
    )
    chosen = tx.session.execute(
        select(func.count()).where(
            PoolItemRow.project_id == project_id, PoolItemRow.item_id.is_not(None)
        )
    ).scalar()
    return PoolRemoval(cast(CursorResult[Any], removed).rowcount, int(chosen or 0), 0)


def _remove_named(tx: Tx, project_id: int, named: _Named) -> PoolRemoval:
    """Remove the named candidates that wait; count those chosen and those not found.

    A payload named alone is looked up first as the external id a candidate added without one
    was given (:func:`~loopwise.services.items.payload_external_id`, through the pool's unique
    index); those not found so (added before candidates were named by their payload, with a
    random id) by the payload's digest, which reads the project's pool once."""
    session = tx.session
    derived = {payload_external_id(digest): digest for digest in named.by_digest}
    found = candidates_by_external_id(session, project_id, [*named.by_id, *derived])
    waiting: set[int] = set()
    chosen = not_found = 0
    for external_id, (digest, field) in named.by_id.items():
        match = found.get(external_id)
        if match is None:
            not_found += 1
        elif digest is not None and match.digest != digest:
            raise DuplicateExternalId(
                f"external id {external_id!r} is in the pool with another payload", field=field
            )
        elif match.item_id is None:
            waiting.add(match.id)
        else:
            chosen += 1
    matches: dict[str, list[PoolMatch]] = {}
    for external_id, digest in derived.items():
        if external_id in found:
            matches[digest] = [found[external_id]]
    unresolved = [digest for digest in named.by_digest if digest not in matches]
    for digest, match in candidates_with_digests(session, project_id, unresolved):
        matches.setdefault(digest, []).append(match)
    for digest in named.by_digest:
        same = matches.get(digest, [])
        unchosen = [match.id for match in same if match.item_id is None]
        waiting.update(unchosen)
        if not same:
            not_found += 1
        elif not unchosen:
            chosen += 1
    removed = 0
    if waiting:
        ids = sorted(waiting)
        for where in one_parameter_in(session, PoolItemRow.id, ids, BigInteger):
            gone = session.execute(
                delete(PoolItemRow)
                .where(where, PoolItemRow.item_id.is_(None))
                .returning(PoolItemRow.id)
                .execution_options(synchronize_session=False)
            ).all()
            removed += len(gone)
        chosen += len(ids) - removed  # chosen by a query (or removed) since they were read
    return PoolRemoval(removed, chosen, not_found)
