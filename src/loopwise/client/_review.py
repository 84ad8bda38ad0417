"""The review half of :class:`~loopwise.client.Client`: the queue, claims (with their keys),
leases, verdicts and undo."""

from __future__ import annotations

import contextlib
import secrets
from collections.abc import Sequence
from datetime import datetime
from typing import Any

from loopwise.client._errors import ServiceUnavailable
from loopwise.client._models import QueueEntry, Review, VerdictResult, parse, parse_list
from loopwise.client._reports import Transport
from loopwise.core.enums import Stage, Verdict
from loopwise.errors import LoopwiseError


class ReviewMethods(Transport):
    """Queue, claims, leases, verdicts and undo (see :class:`~loopwise.client.Client`)."""

    def queue(
        self, project: str, *, stage: Stage | str | None = None, limit: int = 50, offset: int = 0
    ) -> list[QueueEntry]:
        """Open tasks in serving order (what waits, not what a reviewer will be handed)."""
        params = {"stage": None if stage is None else str(stage), "limit": limit, "offset": offset}
        path = self._path("projects", project, "queue")
        return parse_list(QueueEntry, self._json("GET", path, params=params))

    def claim(self, project: str, *, stage: Stage | str | None = None) -> QueueEntry | None:
        """The best task the token's reviewer may take, under a lease; ``None`` if none is
        left.

        Each claim carries a key drawn for it. It is not sent again after a network failure
        that may have lost its answer (it may have taken a task); instead it is given back by
        that key (:meth:`release_claims`: the task it took, if any, returns to the queue)
        before ``ServiceUnavailable`` is raised.
        """
        key = secrets.token_hex(16)
        body: dict[str, Any] = {"claim_key": key}
        if stage is not None:
            body["stage"] = str(stage)
        try:
            data = self._json("POST", self._path("projects", project, "queue", "claim"), body=body)
        except ServiceUnavailable as exc:
            if exc.status is None:  # no answer at all: the claim may have been made
                with contextlib.suppress(LoopwiseError):
                    self.release_claims(project, [key])
            raise
        return None if data["entry"] is None else parse(QueueEntry, data["entry"])

    def release_claims(self, project: str, keys: Sequence[str]) -> int:
        """Give back the tasks the token's reviewer holds through claims made with ``keys``, and
        make those claims take nothing if they have not been made yet; how many tasks went
        back. Retried after a network failure (giving back twice is harmless)."""
        path = self._path("projects", project, "queue", "release")
        data = self._json("POST", path, body={"claim_keys": list(keys)}, idempotent=True)
        return int(data["released"])

    def held(self, project: str) -> list[QueueEntry]:
        """The tasks the token's reviewer holds under a live lease (to go on after a restart)."""
        data = self._json("GET", self._path("projects", project, "queue", "mine"))
        return [parse(QueueEntry, held["entry"]) for held in data]

    def heartbeat(self, project: str, task_id: int) -> datetime:
        """Renew the lease on a held task; returns when it now expires."""
        path = self._path("projects", project, "tasks", task_id, "heartbeat")
        data = self._json("POST", path, idempotent=True)
        return parse(datetime, data["lease_expires_at"])

    def release(self, project: str, task_id: int) -> None:
        """Give a held task back to the queue."""
        self._send("POST", self._path("projects", project, "tasks", task_id, "release"))

    def verdict(
        self,
        project: str,
        task_id: int,
        verdict: Verdict | str,
        *,
        label: str | None = None,
        error_category: str | None = None,
        comment: str = "",
    ) -> VerdictResult:
        """Judge a held task: approve, reject, correct (with ``label``), escalate or skip.

        Raises
        ------
        NotTaskHolder, LeaseExpired, InvalidLabel
            The task is not the caller's, the lease ran out, the label is not the project's.
        """
        body = {
            "verdict": str(verdict),
            "label": label,
            "error_category": error_category,
            "comment": comment,
        }
        path = self._path("projects", project, "tasks", task_id, "verdict")
        return parse(VerdictResult, self._json("POST", path, body=body))

    def undo(self, project: str) -> Review:
        """Take back the caller's last verdict (within the undo window); returns it."""
        return parse(Review, self._json("POST", self._path("projects", project, "queue", "undo")))
