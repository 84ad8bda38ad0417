"""Webhooks of a project: subscribe (the secret is shown once), list, remove, read the outbox."""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import Any

import pytest
from sqlalchemy import func, select

from loopwise.store.tables import WebhookMessageRow, WebhookRow
from loopwise.webhooks.events import EVENT_TYPES
from tests.api.conftest import PROJECT, Space, World, error, iso
from tests.factories import SPAM

URL = "https://hooks.example/loopwise"


def hook_rows(world: World, space: Space) -> list[WebhookRow]:
    project_id = world.lw.project(space.name).id
    return world.scalars(
        select(WebhookRow).where(WebhookRow.project_id == project_id).order_by(WebhookRow.id)
    )


def all_messages(world: World) -> int:
    counted: int = world.scalars(select(func.count()).select_from(WebhookMessageRow))[0]
    return counted


def subscribe(world: World, space: Space, **body: Any) -> dict[str, Any]:
    response = world.client.post(
        space.url("/webhooks"), json={"url": URL, **body}, headers=space.header("admin")
    )
    assert response.status_code == 201, response.text
    created: dict[str, Any] = response.json()
    return created


class TestAddWebhook:
    def test_201_with_the_secret_shown_once(self, world: World, space: Space) -> None:
        response = world.client.post(
            space.url("/webhooks"), json={"url": URL}, headers=space.header("admin")
        )
        assert response.status_code == 201
        body = response.json()
        (row,) = hook_rows(world, space)
        assert re.fullmatch(r"whsec_[A-Za-z0-9+/]{43}=", body["secret"])
        assert body == {
            "id": row.id,
            "project": space.name,
            "url": URL,
            "events": list(EVENT_TYPES),
            "active": True,
            "created_at": iso(world.clock.now()),
            "secret": row.secret,
        }
        assert [
            (e.action, e.actor) for e in world.lw.audit_events(space.name, entity_type="webhook")
        ] == [("webhook.created", space.account("admin"))]
        assert not any(body["secret"] in repr(e) for e in world.lw.audit_events(space.name))

    def test_chosen_events_and_secret(self, world: World, space: Space) -> None:
        secret = "whsec_" + "A" * 43 + "="
        body = subscribe(
            world, space, events=["task.resolved", "decision.made", "task.resolved"], secret=secret
        )
        assert (body["events"], body["secret"]) == (["decision.made", "task.resolved"], secret)
        assert hook_rows(world, space)[0].secret == secret

    @pytest.mark.parametrize(
        ("body", "code", "field"),
        [
            ({"url": "ftp://hooks.example/x"}, "invalid_input", "url"),
            ({"url": "/relative"}, "invalid_input", "url"),
            (
                {"url": URL, "events": ["decision.made", "item.deleted"]},
                "invalid_input",
                "events[1]",
            ),
            ({"url": URL, "events": []}, "invalid_input", "events"),
            ({"url": URL, "secret": "not-a-secret"}, "invalid_webhook_secret", "secret"),
        ],
    )
    def test_422_names_the_field_and_stores_nothing(
        self, world: World, space: Space, body: dict[str, Any], code: str, field: str
    ) -> None:
        response = world.client.post(
            space.url("/webhooks"), json=body, headers=space.header("admin")
        )
        assert response.status_code == 422
        assert (response.json()["error"]["code"], response.json()["error"]["field"]) == (
            code,
            field,
        )
        assert hook_rows(world, space) == []


class TestListWebhooks:
    def test_never_shows_the_secret(self, world: World, space: Space) -> None:
        first = subscribe(world, space)
        second = subscribe(world, space, events=["model.promoted"])
        response = world.client.get(space.url("/webhooks"), headers=space.header("admin"))
        assert response.status_code == 200
        assert response.json() == [
            {k: v for k, v in first.items() if k != "secret"},
            {k: v for k, v in second.items() if k != "secret"},
        ]
        assert first["secret"] not in response.text


class TestRemoveWebhook:
    def test_204_deactivates_it_and_fails_its_pending_messages(
        self, world: World, space: Space
    ) -> None:
        hook = subscribe(world, space)
        space.submit("a-1", (0.9, 0.1))
        response = world.client.delete(
            space.url(f"/webhooks/{hook['id']}"), headers=space.header("admin")
        )
        assert response.status_code == 204
        assert response.content == b""
        (row,) = hook_rows(world, space)
        assert row.active is False
        ((status, error_text),) = world.rows(
            select(WebhookMessageRow.status, WebhookMessageRow.last_error).where(
                WebhookMessageRow.webhook_id == hook["id"]
            )
        )
        assert (status, error_text) == ("failed", "webhook removed")
        listed = world.client.get(space.url("/webhooks"), headers=space.header("admin")).json()
        assert [h["active"] for h in listed] == [False]

    def test_404_when_gone_or_elsewhere(self, world: World, space: Space) -> None:
        hook = subscribe(world, space)
        url = space.url(f"/webhooks/{hook['id']}")
        world.client.delete(url, headers=space.header("admin"))
        again = world.client.delete(url, headers=space.header("admin"))
        assert again.status_code == 404
        assert again.json() == error(
            "webhook_not_found",
            f"no active webhook {hook['id']} in project {space.name!r}",
            "webhook_id",
        )
        elsewhere = world.space()
        other = subscribe(world, elsewhere)
        response = world.client.delete(
            space.url(f"/webhooks/{other['id']}"), headers=space.header("admin")
        )
        assert response.status_code == 404
        assert hook_rows(world, elsewhere)[0].active is True


class TestMessages:
    @pytest.fixture
    def sms_hook(self, world: World) -> Iterator[dict[str, Any]]:
        """A webhook on ``sms`` for decisions, removed afterwards (``sms`` is shared)."""
        sms = Space(world, PROJECT)
        sms._tokens["admin"] = world.tokens.admin
        hook = subscribe(world, sms, events=["decision.made"])
        yield hook
        world.client.delete(sms.url(f"/webhooks/{hook['id']}"), headers=sms.header("admin"))

    def test_an_auto_decision_is_waiting_in_the_outbox(
        self, world: World, sms_hook: dict[str, Any]
    ) -> None:
        external_id = f"spam-{sms_hook['id']}"
        routed = world.client.post(
            f"/v1/projects/{PROJECT}/items",
            json={"external_id": external_id, "payload": SPAM[0]},
            headers=world.tokens.header("client"),
        ).json()
        assert routed["status"] == "decided"
        response = world.client.get(
            f"/v1/projects/{PROJECT}/webhooks/messages?status=pending",
            headers=world.tokens.header("admin"),
        )
        assert response.status_code == 200
        mine = [m for m in response.json() if m["webhook_id"] == sms_hook["id"]]
        assert len(mine) == 1
        (row,) = world.scalars(
            select(WebhookMessageRow).where(WebhookMessageRow.webhook_id == sms_hook["id"])
        )
        now = world.clock.now()
        assert mine[0] == {
            "id": row.id,
            "webhook_id": sms_hook["id"],
            "msg_id": row.msg_id,
            "event_type": "decision.made",
            "status": "pending",
            "attempts": 0,
            "next_attempt_at": iso(now),
            "last_status": None,
            "last_error": None,
            "created_at": iso(now),
            "delivered_at": None,
            "payload": {
                "type": "decision.made",
                "timestamp": now.isoformat(),
                "data": {
                    "project": PROJECT,
                    "item_id": routed["item_id"],
                    "external_id": external_id,
                    "status": "decided",
                    "label": "spam",
                    "route": "auto",
                    "confidence": routed["confidence"],
                    "model_version": 1,
                    "decided_at": now.isoformat(),
                },
            },
        }
        assert re.fullmatch(r"msg_[0-9a-f]{32}", row.msg_id)

    def test_a_queued_item_announces_nothing(self, world: World, space: Space) -> None:
        subscribe(world, space, events=["decision.made"])
        space.submit("q-1")
        assert (
            world.client.get(space.url("/webhooks/messages"), headers=space.header("admin")).json()
            == []
        )

    def test_only_subscribed_events(self, world: World, space: Space) -> None:
        subscribe(world, space, events=["task.resolved"])
        space.submit("a-1", (0.9, 0.1))
        assert (
            world.client.get(space.url("/webhooks/messages"), headers=space.header("admin")).json()
            == []
        )

    def test_no_outbox_rows_without_webhooks(self, world: World, space: Space) -> None:
        before = all_messages(world)
        space.submit("a-1", (0.9, 0.1))
        space.submit("a-2", (0.1, 0.9))
        assert all_messages(world) == before
        assert (
            world.client.get(space.url("/webhooks/messages"), headers=space.header("admin")).json()
            == []
        )

    def test_newest_first_and_filtered_by_status(self, world: World, space: Space) -> None:
        subscribe(world, space, events=["decision.made"])
        for i in range(3):
            space.submit(f"a-{i}", (0.9, 0.1))
        body = world.client.get(
            space.url("/webhooks/messages?limit=2"), headers=space.header("admin")
        ).json()
        assert [m["payload"]["data"]["external_id"] for m in body] == ["a-2", "a-1"]
        failed = world.client.get(
            space.url("/webhooks/messages?status=failed"), headers=space.header("admin")
        )
        assert failed.json() == []
        bad = world.client.get(
            space.url("/webhooks/messages?status=lost"), headers=space.header("admin")
        )
        assert bad.status_code == 422
        assert bad.json()["error"]["field"] == "status"
