"""Webhook subscriptions and the outbox, against the real service (delivery off)."""

from __future__ import annotations

import pytest

from loopwise.errors import InvalidInput, NotAllowed, WebhookNotFound
from tests.client.conftest import Connect, Space, api


def test_subscribe_list_read_the_outbox_and_remove(connect: Connect, space: Space) -> None:
    admin = connect("admin")
    hook, secret = admin.add_webhook(space.name, "https://example.com/hook")
    assert secret
    assert (hook.project, hook.url, hook.active) == (space.name, "https://example.com/hook", True)
    assert hook.events
    assert admin.webhooks(space.name) == [hook]

    decided = {"payload": "hi", "external_id": "w-1", "probabilities": [0.99, 0.01]}
    assert connect("client").submit(space.name, decided).status == "decided"
    messages = admin.webhook_messages(space.name)
    assert messages
    assert {m.webhook_id for m in messages} == {hook.id}
    assert messages[0].event_type == "decision.made"
    assert messages[0].payload["data"]["external_id"] == "w-1"
    assert {m.status for m in messages} == {"pending"}
    assert admin.webhook_messages(space.name, status="delivered") == []
    assert len(admin.webhook_messages(space.name, limit=1)) == 1

    admin.remove_webhook(space.name, hook.id)
    assert [(h.id, h.active) for h in admin.webhooks(space.name)] == [(hook.id, False)]
    assert {m.status for m in admin.webhook_messages(space.name)} == {"failed"}
    with pytest.raises(WebhookNotFound) as caught:
        admin.remove_webhook(space.name, hook.id)
    assert (api(caught.value).status, caught.value.field) == (404, "webhook_id")


def test_subscribe_to_chosen_events_with_a_chosen_secret(connect: Connect, space: Space) -> None:
    admin = connect("admin")
    event = admin.add_webhook(space.name, "https://example.com/a")[0].events[0]
    hook, secret = admin.add_webhook(
        space.name, "http://example.com/b", events=[event], secret="whsec_" + "A" * 32
    )
    assert hook.events == (event,)
    assert secret.startswith("whsec_")


def test_a_bad_url_names_the_field(connect: Connect, space: Space) -> None:
    with pytest.raises(InvalidInput) as caught:
        connect("admin").add_webhook(space.name, "ftp://example.com")
    assert caught.value.field == "url"


def test_only_admins_manage_webhooks(connect: Connect, space: Space) -> None:
    with pytest.raises(NotAllowed):
        connect("viewer").webhooks(space.name)
