"""Webhooks end to end below HTTP: events land in the outbox in the transaction that caused
them, the worker delivers them signed to a real local receiver, failures are retried with
backoff, and nothing is queued for projects without webhooks."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import httpx
import pytest
from sqlalchemy import select

from loopwise import Loopwise
from loopwise.errors import InvalidInput, WebhookNotFound
from loopwise.services import webhooks
from loopwise.store.tables import WebhookMessageRow
from loopwise.testing import FrozenClock
from loopwise.webhooks import MAX_ATTEMPTS, Verifier
from tests.factories import CONFIDENT_ROUTING, SPAM, make_text_project, seeded_model


class Receiver:
    """A real HTTP endpoint on loopback that answers with the next queued status (200 when
    none is queued) and keeps every request."""

    def __init__(self) -> None:
        self.requests: list[tuple[dict[str, str], bytes]] = []
        self.statuses: list[int] = []
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers["content-length"]))
                receiver.requests.append(({k.lower(): v for k, v in self.headers.items()}, body))
                status = receiver.statuses.pop(0) if receiver.statuses else 200
                self.send_response(status)
                self.send_header("content-length", "0")
                self.end_headers()

            def log_message(self, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/hook"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    r = Receiver()
    yield r
    r.close()


@pytest.fixture
def project(lw: Loopwise) -> str:
    make_text_project(lw, "sms", routing=CONFIDENT_ROUTING)
    seeded_model(lw, "sms")
    return "sms"


def _messages(lw: Loopwise) -> list[WebhookMessageRow]:
    with lw.ctx.read() as tx:
        return list(tx.session.scalars(select(WebhookMessageRow).order_by(WebhookMessageRow.id)))


def _auto_decided(lw: Loopwise, project: str) -> str:
    item = {"external_id": "spam-1", "payload": SPAM[1], "probabilities": [0.02, 0.98]}
    routed = lw.submit(project, [item])[0]
    assert routed.route.value == "auto", routed
    return routed.external_id


class TestOutbox:
    def test_nothing_is_queued_without_webhooks(self, lw: Loopwise, project: str) -> None:
        _auto_decided(lw, project)
        assert _messages(lw) == []

    def test_an_automatic_decision_queues_one_message_per_webhook(
        self, lw: Loopwise, project: str, receiver: Receiver
    ) -> None:
        webhooks.add_webhook(lw.ctx, project, receiver.url)
        webhooks.add_webhook(lw.ctx, project, receiver.url + "/2", events=["model.promoted"])
        _auto_decided(lw, project)
        [message] = _messages(lw)
        assert message.event_type == "decision.made"
        assert message.status == "pending"
        assert message.payload["type"] == "decision.made"
        data = message.payload["data"]
        assert data["project"] == "sms"
        assert data["external_id"] == "spam-1"
        assert data["status"] == "decided"
        assert data["label"] == "spam"

    def test_a_resolution_announces_the_decision_and_the_task(
        self, lw: Loopwise, project: str, receiver: Receiver
    ) -> None:
        webhooks.add_webhook(lw.ctx, project, receiver.url)
        lw.add_reviewer("ann", projects=[project])
        routed = lw.submit(
            project, [{"external_id": "q-1", "payload": "hmm", "probabilities": [0.5, 0.5]}]
        )
        assert routed[0].task_id is not None
        entry = lw.claim_next(project, "ann")
        assert entry is not None
        lw.submit_verdict(project, entry.task.id, "ann", "correct", label="ham")
        kinds = [(m.event_type, m.payload["data"]["external_id"]) for m in _messages(lw)]
        assert kinds == [("decision.made", "q-1"), ("task.resolved", "q-1")]
        assert _messages(lw)[0].payload["data"]["label"] == "ham"

    def test_a_rolled_back_transaction_queues_nothing(
        self, lw: Loopwise, project: str, receiver: Receiver
    ) -> None:
        webhooks.add_webhook(lw.ctx, project, receiver.url)
        bad = [{"external_id": "ok", "payload": SPAM[1]}, {"external_id": "bad", "payload": ""}]
        with pytest.raises(InvalidInput):
            lw.submit(project, bad)
        assert _messages(lw) == []

    def test_promotion_is_announced(self, lw: Loopwise, project: str, receiver: Receiver) -> None:
        webhooks.add_webhook(lw.ctx, project, receiver.url, events=["model.promoted"])
        candidate = lw.train(project)
        lw.promote(project, candidate.version, force=True)
        [message] = _messages(lw)
        assert message.event_type == "model.promoted"
        assert message.payload["data"]["project"] == "sms"


class TestSubscriptions:
    def test_bad_url_and_events_are_refused_by_field(self, lw: Loopwise, project: str) -> None:
        with pytest.raises(InvalidInput) as url:
            webhooks.add_webhook(lw.ctx, project, "ftp://example.org/x")
        assert url.value.field == "url"
        with pytest.raises(InvalidInput) as events:
            webhooks.add_webhook(lw.ctx, project, "http://example.org/", events=["nope"])
        assert events.value.field == "events[0]"
        with pytest.raises(InvalidInput) as secret:
            webhooks.add_webhook(lw.ctx, project, "http://example.org/", secret="hunter2")
        assert secret.value.field == "secret"

    def test_removing_stops_pending_messages(
        self, lw: Loopwise, project: str, receiver: Receiver
    ) -> None:
        hook, _ = webhooks.add_webhook(lw.ctx, project, receiver.url)
        _auto_decided(lw, project)
        webhooks.remove_webhook(lw.ctx, project, hook.id)
        [message] = _messages(lw)
        assert (message.status, message.last_error) == ("failed", "webhook removed")
        assert webhooks.list_webhooks(lw.ctx, project)[0].active is False
        with pytest.raises(WebhookNotFound):
            webhooks.remove_webhook(lw.ctx, project, hook.id)


class TestDelivery:
    def test_delivered_signed_and_verifiable(
        self, lw: Loopwise, project: str, receiver: Receiver, clock: FrozenClock
    ) -> None:
        _, secret = webhooks.add_webhook(lw.ctx, project, receiver.url)
        _auto_decided(lw, project)
        with httpx.Client() as client:
            assert webhooks.deliver_due(lw.ctx, client) == 1
            assert webhooks.deliver_due(lw.ctx, client) == 0
        [(headers, body)] = receiver.requests
        payload = Verifier(secret, clock=clock).verify(body, headers)
        assert payload["data"]["external_id"] == "spam-1"
        [message] = _messages(lw)
        assert message.status == "delivered"
        assert message.attempts == 1
        assert headers["webhook-id"] == message.msg_id

    def test_failures_are_retried_with_backoff_then_succeed(
        self, lw: Loopwise, project: str, receiver: Receiver, clock: FrozenClock
    ) -> None:
        webhooks.add_webhook(lw.ctx, project, receiver.url)
        _auto_decided(lw, project)
        receiver.statuses = [500, 503]
        with httpx.Client() as client:
            assert webhooks.deliver_due(lw.ctx, client) == 1
            [message] = _messages(lw)
            assert (message.status, message.attempts, message.last_status) == ("pending", 1, 500)
            wait = (message.next_attempt_at - clock.now()).total_seconds()
            assert 2.5 <= wait <= 5.0
            assert webhooks.deliver_due(lw.ctx, client) == 0  # not due yet
            clock.advance(seconds=wait)
            assert webhooks.deliver_due(lw.ctx, client) == 1
            clock.advance(hours=1)
            assert webhooks.deliver_due(lw.ctx, client) == 1
        [message] = _messages(lw)
        assert (message.status, message.attempts) == ("delivered", 3)
        assert len(receiver.requests) == 3
        assert len({h["webhook-id"] for h, _ in receiver.requests}) == 1

    def test_a_dead_receiver_fails_the_message_after_the_last_attempt(
        self, lw: Loopwise, project: str, clock: FrozenClock
    ) -> None:
        webhooks.add_webhook(lw.ctx, project, "http://127.0.0.1:9/closed")
        _auto_decided(lw, project)
        with httpx.Client(timeout=2.0) as client:
            for _ in range(MAX_ATTEMPTS):
                assert webhooks.deliver_due(lw.ctx, client) == 1
                clock.advance(days=1)
            assert webhooks.deliver_due(lw.ctx, client) == 0
        [message] = _messages(lw)
        assert (message.status, message.attempts) == ("failed", MAX_ATTEMPTS)
        assert message.last_error

    def test_the_worker_thread_delivers_when_woken(
        self, lw: Loopwise, project: str, receiver: Receiver
    ) -> None:
        webhooks.add_webhook(lw.ctx, project, receiver.url)
        worker = webhooks.WebhookWorker(lw.ctx, interval=30.0)
        lw.ctx.observers.append(worker.observe)
        worker.start()
        try:
            _auto_decided(lw, project)
            for _ in range(100):
                if receiver.requests:
                    break
                threading.Event().wait(0.05)
        finally:
            worker.stop()
            lw.ctx.observers.remove(worker.observe)
        assert len(receiver.requests) == 1
        assert json.loads(receiver.requests[0][1])["type"] == "decision.made"


def test_a_failing_observer_does_not_fail_a_committed_use_case(
    lw: Loopwise, project: str, caplog: pytest.LogCaptureFixture
) -> None:
    def broken(events: list[dict[str, Any]]) -> None:
        raise RuntimeError("metrics backend down")

    lw.ctx.observers.append(broken)
    try:
        routed = lw.submit(project, [{"external_id": "o-1", "payload": SPAM[1]}])
    finally:
        lw.ctx.observers.remove(broken)
    assert lw.item(project, "o-1").item.id == routed[0].item_id
    assert "observer" in caplog.text
