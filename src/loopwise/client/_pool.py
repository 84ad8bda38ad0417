"""The active-learning half of :class:`~loopwise.client.Client`: the unlabelled pool, queries
and their settings."""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping
from typing import Any

from loopwise.client._bulk import batches, check, shift_error
from loopwise.client._errors import ApiError
from loopwise.client._models import (
    ActiveLearning,
    PoolCandidate,
    PoolPage,
    PoolRemoval,
    PoolStatus,
    QueryResult,
    parse,
)
from loopwise.client._reports import Transport


class ActiveLearningMethods(Transport):
    """Pool, queries and settings (see :class:`~loopwise.client.Client`)."""

    def add_to_pool(self, project: str, candidates: Iterable[Mapping[str, Any]]) -> int:
        """Add unlabelled candidates (``payload``, optional ``external_id`` and ``metadata``; at
        most 10,000), all or none; returns how many were new (one already in the pool with
        the same payload is skipped, so a retried call adds nothing twice). Raises
        ``DuplicateExternalId`` for a known id with another payload."""
        rows = [dict(c) for c in candidates]
        # sent again after a network failure only if every row has its id (as items are)
        idempotent = all(row.get("external_id") is not None for row in rows)
        path = self._path("projects", project, "pool")
        data = self._json("POST", path, body={"items": rows}, idempotent=idempotent)
        return int(data["added"])

    def add_to_pool_many(
        self, project: str, candidates: Iterable[Mapping[str, Any]], *, batch_size: int = 5000
    ) -> int:
        """Add a pool of any size, ``batch_size`` candidates per request; returns how many
        were new.

        Each request is one transaction on the service, so a failing batch stops the call and
        the batches before it stay added. A candidate already in the pool with the same
        payload is skipped (one without an external id is named by its payload), so adding
        everything again after a fix adds each once.

        Parameters
        ----------
        candidates:
            Mappings as :meth:`add_to_pool` takes them; any iterable, read one batch at a time
            (a generator of millions is fine).
        batch_size:
            Candidates per request, 1 to 10,000.

        Raises
        ------
        InvalidInput
            Among others; ``field`` names the candidate by its position in ``candidates``
            (``items[12003].payload``), not in its batch.
        """
        check(batch_size, 1)
        added = 0
        for start, chunk in batches(candidates, batch_size):
            try:
                added += self.add_to_pool(project, chunk)
            except ApiError as exc:
                shift_error(exc, start)
                raise
        return added

    def remove_from_pool(
        self,
        project: str,
        candidates: Iterable[str | Mapping[str, Any]] | None = None,
        *,
        everything: bool = False,
    ) -> PoolRemoval:
        """Remove waiting candidates (at most 10,000), all or none: each named by its external
        id (a string), or a mapping with ``external_id`` and/or ``payload`` (a payload alone
        names the candidate added with it and no external id); or ``everything`` waiting. A
        candidate a query chose is an item now and stays (counted as ``chosen``); one not in
        the pool is counted (``not_found``), so a retried call removes nothing twice."""
        body: dict[str, Any] = {"all": everything}
        if candidates is not None:
            body["items"] = [
                {"external_id": c} if isinstance(c, str) else dict(c) for c in candidates
            ]
        path = self._path("projects", project, "pool", "remove")
        return parse(PoolRemoval, self._json("POST", path, body=body, idempotent=True))

    def pool_candidates(
        self, project: str, *, state: str = "waiting", after: int | None = None, limit: int = 100
    ) -> PoolPage:
        """One page of the pool's candidates, oldest first: ``state`` ``waiting`` (a query can
        choose them), ``chosen`` or ``all``; ``after`` is the previous page's ``next_after``.
        ``limit``: 1..1000."""
        params = {"state": state, "after": after, "limit": limit}
        path = self._path("projects", project, "pool", "candidates")
        return parse(PoolPage, self._json("GET", path, params=params))

    def iter_pool_candidates(
        self, project: str, *, state: str = "waiting", page_size: int = 1000
    ) -> Iterator[PoolCandidate]:
        """Every candidate in ``state``, oldest first, fetched a page at a time (lazily)."""
        after: int | None = None
        while True:
            page = self.pool_candidates(project, state=state, after=after, limit=page_size)
            yield from page.candidates
            if page.next_after is None:
                return
            after = page.next_after

    def pool_status(self, project: str) -> PoolStatus:
        """How many candidates wait, and how many queries chose."""
        return parse(PoolStatus, self._json("GET", self._path("projects", project, "pool")))

    def query(
        self,
        project: str,
        n: int | None = None,
        *,
        strategy: str | None = None,
        seed: int | None = None,
    ) -> QueryResult:
        """Queue the ``n`` (the project's batch) most informative waiting candidates for
        review, chosen by ``strategy`` (the project's). Raises ``EmptyPool``,
        ``NotEnoughInPool``, ``UnknownStrategy``. Not sent again after a network failure
        once sent (a second query would queue another batch)."""
        body = {
            k: v for k, v in (("n", n), ("strategy", strategy), ("seed", seed)) if v is not None
        }
        path = self._path("projects", project, "pool", "query")
        return parse(QueryResult, self._json("POST", path, body=body))

    def active_learning(self, project: str) -> ActiveLearning:
        """The project's active-learning settings."""
        path = self._path("projects", project, "active-learning")
        return parse(ActiveLearning, self._json("GET", path))

    def set_active_learning(self, project: str, settings: Mapping[str, Any]) -> ActiveLearning:
        """Replace the project's active-learning settings (``strategy``, ``batch``,
        ``explore``, ``requery_after_promotion``; one left out takes its default)."""
        path = self._path("projects", project, "active-learning")
        return parse(ActiveLearning, self._json("PUT", path, body=dict(settings)))
