"""Prometheus metrics (prometheus-client).

Per process, counted as things happen: HTTP requests and their latency, decisions by route,
verdicts, lease expiries. They come from the services' audit events (a context observer), so
work done outside HTTP in the same process counts too. With ``loopwise serve --workers N``,
``PROMETHEUS_MULTIPROC_DIR`` is set and every worker's counts are summed at scrape time.

Read from the database at scrape time, so they are right whichever worker answers: open review
tasks by stage and priority (with the oldest one's age) and webhook messages by status.
"""

from __future__ import annotations

import os
import time
from collections import Counter as Tally
from collections.abc import Iterator
from typing import Any

from prometheus_client import (
    CollectorRegistry,
    Counter,
    Histogram,
    disable_created_metrics,
    generate_latest,
)
from prometheus_client.core import GaugeMetricFamily, Metric
from prometheus_client.multiprocess import MultiProcessCollector
from prometheus_client.registry import Collector
from sqlalchemy import func, select

from loopwise.api.errors import ASGIApp, Message, Receive, Scope, Send
from loopwise.core.enums import Priority, TaskStatus
from loopwise.services.context import Context
from loopwise.store.tables import ProjectRow, ReviewTaskRow, WebhookMessageRow

disable_created_metrics()  # type: ignore[no-untyped-call]  # the *_created series double the output and say little here
BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0)


class Metrics:
    """The process's counters and the scrape of database gauges."""

    def __init__(self, ctx: Context) -> None:
        self.ctx = ctx
        self.multiprocess = bool(os.environ.get("PROMETHEUS_MULTIPROC_DIR"))
        self.registry = CollectorRegistry(auto_describe=True)
        self.requests = Counter(
            "loopwise_http_requests",
            "HTTP requests answered, by method, route template and status",
            ["method", "route", "status"],
            registry=self.registry,
        )
        self.latency = Histogram(
            "loopwise_http_request_duration_seconds",
            "Time to answer HTTP requests, by method and route template",
            ["method", "route"],
            buckets=BUCKETS,
            registry=self.registry,
        )
        self.decisions = Counter(
            "loopwise_decisions",
            "Final decisions by who made them: auto (the model), or the source of a resolved"
            " label (reviewer, consensus, expert, import)",
            ["project", "route"],
            registry=self.registry,
        )
        self.routed = Counter(
            "loopwise_items_routed",
            "Items accepted and routed, by where they went",
            ["project", "route"],
            registry=self.registry,
        )
        self.verdicts = Counter(
            "loopwise_verdicts",
            "Verdicts submitted",
            ["project", "verdict"],
            registry=self.registry,
        )
        self.lease_expiries = Counter(
            "loopwise_lease_expiries",
            "Review tasks whose lease lapsed and went back to the queue",
            ["project"],
            registry=self.registry,
        )
        self._names: dict[int, str] = {}

    def _project(self, project_id: int | None) -> str:
        if project_id is None:
            return ""
        name = self._names.get(project_id)
        if name is None:
            with self.ctx.read() as tx:
                name = tx.session.scalar(select(ProjectRow.name).where(ProjectRow.id == project_id))
            name = self._names[project_id] = name or str(project_id)
        return name

    def observe(self, events: list[dict[str, Any]]) -> None:
        """A context observer: count what a committed transaction did.

        Counts are summed per series first and each series is raised once: a bulk ingest
        commits thousands of events, and every ``inc`` of a multiprocess counter checks the
        process id and writes its memory-mapped file (about 5 µs an item otherwise)."""
        counts: Tally[tuple[Counter, tuple[str, ...]]] = Tally()
        for event in events:
            action = event["action"]
            if action == "item.routed":
                route = (event.get("after") or {}).get("route", "")
                project = self._project(event["project_id"])
                counts[self.routed, (project, route)] += 1
                if route == "auto":
                    counts[self.decisions, (project, "auto")] += 1
            elif action == "item.resolved":
                source = (event.get("after") or {}).get("source", "")
                counts[self.decisions, (self._project(event["project_id"]), source)] += 1
            elif action == "review.submitted":
                verdict = (event.get("after") or {}).get("verdict", "")
                counts[self.verdicts, (self._project(event["project_id"]), verdict)] += 1
            elif action == "task.lease_expired":
                counts[self.lease_expiries, (self._project(event["project_id"]),)] += 1
        for (counter, labels), n in counts.items():
            counter.labels(*labels).inc(n)

    def render(self) -> bytes:
        """The exposition text: this process's (or every worker's) counters and the gauges."""
        if self.multiprocess:
            registry = CollectorRegistry()
            MultiProcessCollector(registry)  # type: ignore[no-untyped-call]
        else:
            registry = CollectorRegistry()
            registry.register(_Forward(self.registry))
        registry.register(_DatabaseGauges(self.ctx))
        return generate_latest(registry)


class _Forward(Collector):
    def __init__(self, registry: CollectorRegistry) -> None:
        self._registry = registry

    def collect(self) -> Iterator[Metric]:
        yield from self._registry.collect()


class _DatabaseGauges(Collector):
    def __init__(self, ctx: Context) -> None:
        self.ctx = ctx

    def collect(self) -> Iterator[Metric]:
        depth = GaugeMetricFamily(
            "loopwise_queue_depth",
            "Open review tasks by project, stage and priority",
            labels=["project", "stage", "priority"],
        )
        oldest = GaugeMetricFamily(
            "loopwise_queue_oldest_seconds",
            "Age of the oldest open review task by project, stage and priority",
            labels=["project", "stage", "priority"],
        )
        outbox = GaugeMetricFamily(
            "loopwise_webhook_messages", "Webhook outbox messages by status", labels=["status"]
        )
        with self.ctx.read() as tx:
            rows = tx.session.execute(
                select(
                    ProjectRow.name,
                    ReviewTaskRow.stage,
                    ReviewTaskRow.priority,
                    func.count(),
                    func.min(ReviewTaskRow.created_at),
                )
                .join(ProjectRow, ProjectRow.id == ReviewTaskRow.project_id)
                .where(ReviewTaskRow.status.in_([TaskStatus.OPEN.value, TaskStatus.CLAIMED.value]))
                .group_by(ProjectRow.name, ReviewTaskRow.stage, ReviewTaskRow.priority)
            ).all()
            for name, stage, priority, count, first in rows:
                level = Priority(priority).name.lower()
                depth.add_metric([name, stage, level], count)
                age = 0.0 if first is None else (tx.now - first).total_seconds()
                oldest.add_metric([name, stage, level], max(0.0, age))
            for status, count in tx.session.execute(
                select(WebhookMessageRow.status, func.count()).group_by(WebhookMessageRow.status)
            ).all():
                outbox.add_metric([status], count)
        yield depth
        yield oldest
        yield outbox


def route_template(scope: Scope) -> str:
    """The matched route's path template with its router prefix (``/v1/projects/{project}``).

    The route a router matched knows its path without the prefix it was included under; the
    prefix is the part of the request path before the route's segments.
    """
    route_path: str | None = getattr(scope.get("route"), "path", None)
    if not route_path:
        return "unmatched"
    segments = str(scope.get("path", "")).split("/")
    depth = route_path.count("/")
    prefix = "/".join(segments[: len(segments) - depth]) if depth < len(segments) else ""
    return prefix + route_path


class HttpMetrics:
    """ASGI middleware counting requests by route template (not raw path: bounded labels).

    It also sends ``Server-Timing: app;dur=<ms>``, the time from the request reaching the
    application to the response's first bytes, so a browser's Resource Timing (and the review
    page's benchmark) can tell the server's share of a request from the network's."""

    def __init__(self, app: ASGIApp, metrics: Metrics) -> None:
        self.app = app
        self.metrics = metrics

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        start = time.perf_counter()
        status = 500

        async def send_status(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = int(message["status"])
                took = (time.perf_counter() - start) * 1000
                headers = list(message.get("headers", []))
                headers.append((b"server-timing", f"app;dur={took:.2f}".encode()))
                message = {**message, "headers": headers}
            await send(message)

        try:
            await self.app(scope, receive, send_status)
        finally:
            template = route_template(scope)
            method = scope.get("method", "")
            self.metrics.requests.labels(method, template, str(status)).inc()
            self.metrics.latency.labels(method, template).observe(time.perf_counter() - start)
