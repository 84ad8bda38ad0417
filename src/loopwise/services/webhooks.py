"""Webhooks: subscriptions per project, and delivery of the outbox by a background worker.

Messages are written in the transaction that caused them (see :mod:`loopwise.store.outbox`),
so none is lost if the process dies; the worker sends them signed (Standard Webhooks), retries
failures with exponential backoff and gives up after ``MAX_ATTEMPTS`` (the message stays, as
``failed``, for an operator to see). A slow or dead receiver only delays its own messages.
"""

from __future__ import annotations

import json
import logging
import random
import threading
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any
from urllib.parse import urlsplit

import httpx
from sqlalchemy import func, select

from loopwise.errors import InvalidInput, WebhookNotFound
from loopwise.services.context import Context
from loopwise.store import outbox
from loopwise.store.tables import WebhookMessageRow, WebhookRow
from loopwise.webhooks.delivery import MAX_ATTEMPTS, DeliveryResult, backoff_seconds, deliver
from loopwise.webhooks.events import EVENT_TYPES
from loopwise.webhooks.signing import generate_secret, parse_secret

log = logging.getLogger(__name__)
LOCK_FOR = timedelta(seconds=120)
"""How long a claimed message is held; a round (``limit`` / ``threads`` waves of at most the
HTTP timeout) must finish well within it, or another worker could send it a second time."""


@dataclass(frozen=True)
class Webhook:
    id: int
    project: str
    url: str
    events: tuple[str, ...]
    active: bool
    created_at: datetime


@dataclass(frozen=True)
class Message:
    """One outbox message as operators see it (the payload is what was, or will be, sent)."""

    id: int
    webhook_id: int
    msg_id: str
    event_type: str
    status: str
    attempts: int
    next_attempt_at: datetime
    last_status: int | None
    last_error: str | None
    created_at: datetime
    delivered_at: datetime | None
    payload: dict[str, Any]


def _check_url(url: object) -> str:
    if not isinstance(url, str) or len(url) > 2000:
        raise InvalidInput("must be an http(s) URL of at most 2,000 characters", field="url")
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise InvalidInput("must be an absolute http:// or https:// URL", field="url")
    return url


def _check_events(events: object) -> list[str]:
    if events is None:
        return list(EVENT_TYPES)
    if isinstance(events, str) or not isinstance(events, list | tuple) or not events:
        raise InvalidInput(f"must be a non-empty list of {list(EVENT_TYPES)}", field="events")
    for i, event in enumerate(events):
        if event not in EVENT_TYPES:
            raise InvalidInput(f"{event!r} is not one of {list(EVENT_TYPES)}", field=f"events[{i}]")
    return sorted(set(events))


def _webhook(row: WebhookRow, project: str) -> Webhook:
    return Webhook(row.id, project, row.url, tuple(row.events), row.active, row.created_at)


def add_webhook(
    ctx: Context,
    project: str,
    url: str,
    *,
    events: list[str] | tuple[str, ...] | None = None,
    secret: str | None = None,
    actor: str = "admin",
) -> tuple[Webhook, str]:
    """Subscribe ``url`` to ``events`` (default: all) of ``project``. Returns the webhook and
    its signing secret (``whsec_...``), generated unless given."""
    url = _check_url(url)
    chosen = _check_events(events)
    if secret is None:
        secret = generate_secret()
    else:
        parse_secret(secret)
    with ctx.write() as tx:
        project_row = tx.repo.project_by_name(project)
        row = WebhookRow(
            project_id=project_row.id,
            url=url,
            secret=secret,
            events=chosen,
            active=True,
            created_at=tx.now,
        )
        tx.repo.add(row)
        tx.audit(
            actor=actor,
            action="webhook.created",
            entity_type="webhook",
            entity_id=row.id,
            project_id=project_row.id,
            after={"url": url, "events": chosen},
        )
        return _webhook(row, project), secret


def list_webhooks(ctx: Context, project: str) -> list[Webhook]:
    with ctx.read() as tx:
        project_row = tx.repo.project_by_name(project)
        rows = tx.session.scalars(
            select(WebhookRow)
            .where(WebhookRow.project_id == project_row.id)
            .order_by(WebhookRow.id)
        )
        return [_webhook(r, project) for r in rows]


def remove_webhook(ctx: Context, project: str, webhook_id: int, *, actor: str = "admin") -> None:
    """Deactivate a webhook: nothing new is queued for it and its pending messages stop."""
    with ctx.write() as tx:
        project_row = tx.repo.project_by_name(project)
        row = tx.session.scalar(
            select(WebhookRow)
            .where(WebhookRow.id == webhook_id, WebhookRow.project_id == project_row.id)
            .with_for_update()
        )
        if row is None or not row.active:
            raise WebhookNotFound(
                f"no active webhook {webhook_id} in project {project!r}", field="webhook_id"
            )
        row.active = False
        tx.session.execute(
            outbox.update_pending(row.id, status=outbox.FAILED, error="webhook removed")
        )
        tx.audit(
            actor=actor,
            action="webhook.removed",
            entity_type="webhook",
            entity_id=row.id,
            project_id=project_row.id,
            before={"url": row.url},
        )


def messages(
    ctx: Context, project: str, *, status: str | None = None, limit: int = 100
) -> list[Message]:
    """The project's outbox, newest first."""
    with ctx.read() as tx:
        project_row = tx.repo.project_by_name(project)
        query = (
            select(WebhookMessageRow)
            .join(WebhookRow, WebhookRow.id == WebhookMessageRow.webhook_id)
            .where(WebhookRow.project_id == project_row.id)
            .order_by(WebhookMessageRow.id.desc())
            .limit(limit)
        )
        if status is not None:
            query = query.where(WebhookMessageRow.status == status)
        return [
            Message(
                m.id,
                m.webhook_id,
                m.msg_id,
                m.event_type,
                m.status,
                m.attempts,
                m.next_attempt_at,
                m.last_status,
                m.last_error,
                m.created_at,
                m.delivered_at,
                m.payload,
            )
            for m in tx.session.scalars(query)
        ]


def outbox_counts(ctx: Context) -> dict[str, int]:
    """Messages by status over every project (for metrics)."""
    with ctx.read() as tx:
        rows = tx.session.execute(
            select(WebhookMessageRow.status, func.count()).group_by(WebhookMessageRow.status)
        ).all()
        return {str(status): int(n) for status, n in rows}


@dataclass(frozen=True)
class _Job:
    message_id: int
    msg_id: str
    event_type: str
    url: str
    secret: str
    body: bytes
    attempts: int
    locked_until: datetime


def _outcome(job: _Job, result: DeliveryResult, now: datetime, jitter: float) -> dict[str, Any]:
    attempts = job.attempts + 1
    values: dict[str, Any] = {
        "attempts": attempts,
        "last_status": result.status,
        "last_error": None if result.ok else (result.error or "failed")[:500],
    }
    if result.ok:
        values.update(status=outbox.DELIVERED, delivered_at=now)
    elif attempts >= MAX_ATTEMPTS:
        values.update(status=outbox.FAILED)
    else:
        wait = backoff_seconds(attempts, jitter=jitter)
        if result.retry_after is not None:
            wait = max(wait, min(result.retry_after, 3600.0))
        values.update(next_attempt_at=now + timedelta(seconds=wait))
    return values


def deliver_due(ctx: Context, client: httpx.Client, *, limit: int = 16, threads: int = 4) -> int:
    """Send every due message once (up to ``limit``); returns how many were attempted.

    Messages are claimed and locked in one short transaction, sent outside any transaction
    (``threads`` at a time), and each outcome is written in its own transaction.
    """
    with ctx.write() as tx:
        locked_until = tx.now + LOCK_FOR
        claimed = outbox.claim_due(tx.session, tx.now, limit=limit, lock_for=LOCK_FOR)
        jobs = [
            _Job(
                m.id,
                m.msg_id,
                m.event_type,
                h.url,
                h.secret,
                json.dumps(m.payload, separators=(",", ":")).encode(),
                m.attempts,
                locked_until,
            )
            for m, h in claimed
        ]
    if not jobs:
        return 0

    def send(job: _Job) -> tuple[_Job, DeliveryResult]:
        stamp = int(ctx.clock.now().timestamp())
        return job, deliver(
            client, job.url, job.secret, job.msg_id, job.event_type, job.body, stamp
        )

    with ThreadPoolExecutor(max_workers=max(1, min(threads, len(jobs)))) as pool:
        done = list(pool.map(send, jobs))
    for job, result in done:
        with ctx.write() as tx:
            outbox.finish(
                tx.session,
                job.message_id,
                values=_outcome(job, result, tx.now, random.random()),
                locked_until=job.locked_until,
            )
        if not result.ok:
            log.info("webhook %s to %s failed: %s", job.msg_id, job.url, result.error)
    return len(jobs)


class WebhookWorker:
    """A daemon thread that delivers the outbox: every ``interval`` seconds, or at once when
    :meth:`wake` is called (the API wakes it after a transaction queued messages)."""

    def __init__(self, ctx: Context, *, interval: float = 1.0, timeout: float = 5.0) -> None:
        self._ctx = ctx
        self._interval = interval
        self._client = httpx.Client(timeout=timeout, follow_redirects=False, trust_env=False)
        self._wake = threading.Event()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="loopwise-webhooks", daemon=True)

    def start(self) -> None:
        self._thread.start()

    def wake(self) -> None:
        self._wake.set()

    def observe(self, events: list[dict[str, Any]]) -> None:
        """A context observer: wake up when a transaction may have queued messages."""
        if any(e["action"] in outbox.SOURCES for e in events):
            self._wake.set()

    def stop(self, timeout: float = 10.0) -> None:
        self._stop.set()
        self._wake.set()
        if self._thread.is_alive():
            self._thread.join(timeout)
        self._client.close()

    def _run(self) -> None:
        while not self._stop.is_set():
            try:
                while deliver_due(self._ctx, self._client) and not self._stop.is_set():
                    pass
            except Exception:  # keep delivering after a database hiccup; it is logged
                log.exception("webhook delivery round failed")
            self._wake.wait(self._interval)
            self._wake.clear()
