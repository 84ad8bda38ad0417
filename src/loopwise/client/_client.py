"""``Client``: every resource of ``/v1`` as a typed method, over one ``httpx.Client``.

Method names follow the resources (``submit``, ``decision``, ``claim``, ``verdict``, ...) and
their arguments mirror :class:`~loopwise.Loopwise`, so code moves between the in-process library
and the service with few changes; errors are the same classes (see :mod:`._errors`).
"""

from __future__ import annotations

import csv
import json
from collections.abc import Generator, Iterable, Iterator, Mapping, Sequence
from datetime import datetime
from pathlib import Path
from types import TracebackType
from typing import Any, Literal, Self

import httpx

from loopwise.client._bulk import ItemLike, item_json, submit_batches
from loopwise.client._models import (
    Decision,
    DecisionsPage,
    Me,
    ModelVersion,
    Project,
    Promotion,
    Routed,
    parse,
    parse_list,
)
from loopwise.client._pool import ActiveLearningMethods
from loopwise.client._reports import Reports
from loopwise.client._review import ReviewMethods
from loopwise.client._session import Session
from loopwise.core.entities import TrainingConfig
from loopwise.core.enums import ItemStatus, Route
from loopwise.core.policy import RoutingConfig
from loopwise.core.review import ReviewConfig
from loopwise.errors import InvalidInput

MAX_WAIT = 30.0
"""Seconds the service waits at most for a decision (``decision(..., wait=)``)."""
MAX_PAGE = 1000
"""Decisions the service returns at most per page."""


def _config_json(
    config: Mapping[str, Any] | RoutingConfig | ReviewConfig | TrainingConfig,
) -> dict[str, Any]:
    if isinstance(config, RoutingConfig | ReviewConfig | TrainingConfig):
        return config.to_json()
    return dict(config)


def _text_lines(chunks: Iterable[str]) -> Iterator[str]:
    """Lines ending in ``\\n`` (kept), across chunk boundaries: what ``csv`` reads, so quoted
    fields that span lines stay whole. Other line breaks (``\\u2028``...) are data."""
    rest = ""
    for chunk in chunks:
        rest += chunk
        *lines, rest = rest.split("\n")
        for line in lines:
            yield line + "\n"
    if rest:
        yield rest


class Client(Reports, ReviewMethods, ActiveLearningMethods):
    """A client of the loopwise HTTP service.

    Parameters
    ----------
    base_url:
        Where the service answers, without ``/v1`` (``https://loopwise.example.com``).
    token:
        An API token (``loopwise tokens create``); only ``health`` and ``ready`` work without.
        It is sent as ``Authorization: Bearer``, never logged nor shown in ``repr``.
    timeout:
        Seconds to wait for each answer (``decision(wait=)`` adds its wait).
    retries:
        Times to send a request again after 429, 503 or a network failure (see :mod:`._retry`);
        ``retries + 1`` attempts in all.
    backoff:
        Seconds before the first retry; doubled each time, with jitter.
    transport:
        An ``httpx`` transport (tests pass ``httpx.MockTransport``).

    Raises
    ------
    ApiError
        From every method, for an error answer: as the library's class for its code
        (``ItemNotFound``, ``LeaseExpired``, ...), so ``except ItemNotFound`` works as
        in-process. Type checkers see ``.status`` after ``isinstance(exc, ApiError)``.
    ServiceUnavailable
        No usable answer: network failures, or 429/503 after every retry.
    """

    def __init__(
        self,
        base_url: str,
        token: str | None,
        *,
        timeout: float = 30.0,
        retries: int = 5,
        backoff: float = 0.5,
        transport: httpx.BaseTransport | None = None,
    ) -> None:
        self.base_url = base_url
        self.timeout = timeout
        self._session = Session(
            base_url, token, timeout=timeout, retries=retries, backoff=backoff, transport=transport
        )

    def __repr__(self) -> str:
        return f"Client({self.base_url!r})"

    def __enter__(self) -> Self:
        return self

    def __exit__(
        self,
        kind: type[BaseException] | None,
        error: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.close()

    def close(self) -> None:
        """Close the connections (the client cannot be used afterwards)."""
        self._session.close()

    # -- operations -------------------------------------------------------------------------
    def health(self) -> dict[str, Any]:
        """``{"status": "ok", "version": ...}`` when the process answers."""
        result: dict[str, Any] = self._json("GET", "/health")
        return result

    def ready(self) -> dict[str, Any]:
        """Readiness: ``status`` is ``"ready"``, or ``"not ready"`` (HTTP 503, not retried)
        with the database's state."""
        response = self._send("GET", "/ready", accept=(503,))
        result: dict[str, Any] = response.json()
        return result

    # -- projects ---------------------------------------------------------------------------
    def me(self) -> Me:
        """The token's account, role and projects."""
        return parse(Me, self._json("GET", "/v1/me"))

    def create_project(
        self,
        name: str,
        labels: Sequence[str],
        *,
        input_kind: Literal["text", "tabular"] = "text",
        feature_names: Sequence[str] = (),
        routing: Mapping[str, Any] | RoutingConfig | None = None,
        review: Mapping[str, Any] | ReviewConfig | None = None,
        error_taxonomy: Sequence[str] | None = None,
        guideline: str = "",
        training: Mapping[str, Any] | TrainingConfig | None = None,
    ) -> Project:
        """Create a project (admins). Raises ``DuplicateProject`` if the name is taken."""
        body: dict[str, Any] = {
            "name": name,
            "labels": list(labels),
            "input_kind": input_kind,
            "feature_names": list(feature_names),
            "guideline": guideline,
            "routing": None if routing is None else _config_json(routing),
            "review": None if review is None else _config_json(review),
            "training": None if training is None else _config_json(training),
            "error_taxonomy": None if error_taxonomy is None else list(error_taxonomy),
        }
        return parse(Project, self._json("POST", "/v1/projects", body=body))

    def project(self, name: str) -> Project:
        """One project. Raises ``ProjectNotFound``."""
        return parse(Project, self._json("GET", self._path("projects", name)))

    def projects(self) -> list[Project]:
        """The projects the caller belongs to (all of them, for admins)."""
        return parse_list(Project, self._json("GET", "/v1/projects"))

    def set_policy(self, project: str, policy: Mapping[str, Any] | RoutingConfig) -> Project:
        """Replace the routing policy (validated whole); returns the project as it now is."""
        path = self._path("projects", project, "policy")
        return parse(Project, self._json("PUT", path, body=_config_json(policy)))

    def set_review_config(self, project: str, config: Mapping[str, Any] | ReviewConfig) -> Project:
        """Replace the review settings; returns the project as it now is."""
        path = self._path("projects", project, "review-config")
        return parse(Project, self._json("PUT", path, body=_config_json(config)))

    def set_training_config(
        self, project: str, config: Mapping[str, Any] | TrainingConfig
    ) -> Project:
        """Replace the training settings (a setting left out takes its default); returns the
        project as it now is. Raises ``Conflict`` for a change of ``holdout_share`` or
        ``split_seed`` once the project has labels."""
        path = self._path("projects", project, "training")
        return parse(Project, self._json("PUT", path, body=_config_json(config)))

    # -- items and decisions ----------------------------------------------------------------
    def submit(self, project: str, item: ItemLike) -> Routed:
        """Predict and route one item.

        Parameters
        ----------
        project:
            The project's name.
        item:
            An :class:`Item` or a mapping of its fields. With an ``external_id`` the request is
            retried after a network failure (a resubmission returns the first answer).

        Returns
        -------
        Routed
            ``decided`` with its ``label``, or ``queued`` with a ``ticket``.
        """
        body = item_json(item)
        path = self._path("projects", project, "items")
        data = self._json("POST", path, body=body, idempotent=body.get("external_id") is not None)
        return parse(Routed, data)

    def submit_many(
        self,
        project: str,
        items: Iterable[ItemLike],
        *,
        batch_size: int = 1000,
        concurrency: int = 1,
    ) -> list[Routed]:
        """Predict and route many items, ``batch_size`` per request.

        Each request is one transaction on the service (all its items accepted, or none). A
        failing batch stops the call: the batches before it stay accepted, so give items
        external ids to make resubmitting everything after a fix harmless.

        Parameters
        ----------
        project:
            The project's name.
        items:
            :class:`Item` objects or mappings of their fields; any iterable, read one batch
            at a time (a generator of millions is fine).
        batch_size:
            Items per request, 1 to 10,000.
        concurrency:
            Requests in flight at once, 1 to 32. More than one pays when the service runs
            several workers (``loopwise serve --workers N`` on PostgreSQL): one batch's
            database work overlaps the next one's scoring. Answers still come in the order
            given; the batches in flight beside a failing one may be accepted too.

        Returns
        -------
        list of Routed
            One per item, in the order given.

        Raises
        ------
        InvalidInput
            Among others; ``field`` names the item by its position in ``items``
            (``items[2503].payload``), not in its batch.
        """
        path = self._path("projects", project, "items", "bulk")

        def post(chunk: list[dict[str, Any]], idempotent: bool) -> Any:
            return self._json("POST", path, body={"items": chunk}, idempotent=idempotent)

        return submit_batches(post, items, batch_size=batch_size, concurrency=concurrency)

    def decision(self, project: str, external_id: str, *, wait: float = 0) -> Decision:
        """An item's decision.

        Parameters
        ----------
        wait:
            Seconds (at most 30) the service watches a queued item for people to resolve it;
            it is returned still ``queued`` if they have not.

        Raises
        ------
        ItemNotFound
            No item has this external id in the project (``field == "external_id"``).
        """
        if not 0 <= wait <= MAX_WAIT:
            raise InvalidInput(f"must be between 0 and {MAX_WAIT:g} seconds", field="wait")
        path = self._path("projects", project, "decisions", external_id)
        params = {"wait": wait} if wait else None
        data = self._json("GET", path, params=params, timeout=self.timeout + wait)
        return parse(Decision, data)

    def decisions(
        self,
        project: str,
        *,
        status: ItemStatus | str | None = None,
        route: Route | str | None = None,
        since: datetime | None = None,
        after: int | None = None,
        limit: int = 100,
    ) -> DecisionsPage:
        """One page of decisions, oldest first, filtered by ``status``, ``route`` and creation
        time (``since``); ``after`` is the previous page's ``next_after``. ``limit``: 1..1000."""
        params = {
            "status": None if status is None else str(status),
            "route": None if route is None else str(route),
            "since": None if since is None else since.isoformat(),
            "after": after,
            "limit": limit,
        }
        path = self._path("projects", project, "decisions")
        return parse(DecisionsPage, self._json("GET", path, params=params))

    def iter_decisions(
        self,
        project: str,
        *,
        status: ItemStatus | str | None = None,
        route: Route | str | None = None,
        since: datetime | None = None,
        page_size: int = MAX_PAGE,
    ) -> Iterator[Decision]:
        """Every matching decision, oldest first, fetched a page at a time (lazily)."""
        after: int | None = None
        while True:
            page = self.decisions(
                project, status=status, route=route, since=since, after=after, limit=page_size
            )
            yield from page.decisions
            if page.next_after is None:
                return
            after = page.next_after

    # -- labels -----------------------------------------------------------------------------
    def export_labels(
        self, project: str, *, format: Literal["jsonl", "csv"] = "jsonl"
    ) -> Generator[dict[str, Any], None, None]:
        """Every resolved label with its provenance, oldest first, streamed.

        The request is sent when iteration starts; stopping early closes the connection.

        Parameters
        ----------
        format:
            ``jsonl`` yields the rows as JSON objects (``payload`` and ``metadata`` as dicts);
            ``csv`` yields the CSV rows, every value a string.
        """
        path = self._path("projects", project, "labels")
        response = self._send("GET", path, params={"format": format}, stream=True)
        try:
            lines = _text_lines(response.iter_text())
            if format == "csv":
                yield from csv.DictReader(lines)
            else:
                for line in lines:
                    if line.strip():
                        yield json.loads(line)
        finally:
            response.close()

    def export_labels_csv(self, project: str, path: str | Path) -> Path:
        """Write the labels as CSV to ``path``, streamed; the file appears only when complete."""
        target = Path(path)
        partial = target.with_name(target.name + ".part")
        url = self._path("projects", project, "labels")
        response = self._send("GET", url, params={"format": "csv"}, stream=True)
        try:
            with partial.open("wb") as out:
                for chunk in response.iter_bytes():
                    out.write(chunk)
            partial.replace(target)
        finally:
            response.close()
            partial.unlink(missing_ok=True)
        return target

    def import_labels(self, project: str, rows: Iterable[Mapping[str, Any]]) -> int:
        """Bring in ground truth (``payload``, ``label``, optional ``external_id`` and
        ``metadata``; at most 10,000 rows), all or none; returns how many were stored."""
        body = {"rows": [dict(row) for row in rows]}
        data = self._json("POST", self._path("projects", project, "labels"), body=body)
        return int(data["count"])

    def add_golden(
        self, project: str, external_id: str, label: str, *, reason: str = "added by hand"
    ) -> None:
        """Put a labelled item in the golden set every candidate model is judged on."""
        body = {"external_id": external_id, "label": label, "reason": reason}
        self._send("POST", self._path("projects", project, "golden"), body=body)

    def add_gold(self, project: str, items: Iterable[Mapping[str, Any]]) -> int:
        """Add gold (honeypot) items with known labels (rows as in :meth:`import_labels`)."""
        body = {"items": [dict(item) for item in items]}
        data = self._json("POST", self._path("projects", project, "gold"), body=body)
        return int(data["count"])

    # -- models -----------------------------------------------------------------------------
    def models(self, project: str) -> list[ModelVersion]:
        """Every model version of the project."""
        path = self._path("projects", project, "models")
        return parse_list(ModelVersion, self._json("GET", path))

    def train(self, project: str) -> ModelVersion:
        """Train a candidate on the resolved labels. Raises ``NotEnoughLabels``."""
        path = self._path("projects", project, "models")
        return parse(ModelVersion, self._json("POST", path))

    def evaluation(self, project: str, version: int) -> dict[str, Any]:
        """A version against production on the held-out and golden sets, with the gate's
        verdict."""
        path = self._path("projects", project, "models", version, "evaluation")
        result: dict[str, Any] = self._json("GET", path)
        return result

    def promote(
        self, project: str, version: int | None = None, *, force: bool = False
    ) -> Promotion:
        """Promote ``version`` (the latest candidate by default) if the gate passes it, or
        past the gate with ``force``."""
        body = {"version": version, "force": force}
        path = self._path("projects", project, "models", "promote")
        return parse(Promotion, self._json("POST", path, body=body))

    def rollback(self, project: str) -> ModelVersion:
        """Put the previous production model back; returns it. Raises ``PromotionRefused``."""
        path = self._path("projects", project, "models", "rollback")
        return parse(ModelVersion, self._json("POST", path))
