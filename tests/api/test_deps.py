"""Authentication: the bearer token on every request. Refused tokens all get the same 401 (it
says nothing about why); tokens are stored as SHA-256 digests and never logged or audited."""

from __future__ import annotations

import hashlib
import logging
import secrets
from collections.abc import Callable
from datetime import timedelta

import pytest
from sqlalchemy import select

from loopwise.services import accounts
from loopwise.store.tables import ApiTokenRow
from tests.api.conftest import Space, World, error

REFUSED = error("unauthenticated", "a valid API token is required (Authorization: Bearer <token>)")


def new_token(
    world: World,
    space: Space,
    role: str = "viewer",
    *,
    name: str = "default",
    expires_in: timedelta | None = None,
) -> str:
    """Another token for the ``role`` account of ``space``."""
    space.token(role)  # the account exists
    token, _ = accounts.create_token(
        world.lw.ctx, space.account(role), name=name, expires_in=expires_in
    )
    return token


def token_row(world: World, token: str) -> ApiTokenRow:
    rows = world.scalars(
        select(ApiTokenRow).where(ApiTokenRow.token_hash == accounts.digest(token))
    )
    assert len(rows) == 1
    row: ApiTokenRow = rows[0]
    return row


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


Spoil = Callable[[World, Space], dict[str, str]]


def _revoked(world: World, space: Space) -> dict[str, str]:
    token = new_token(world, space)
    accounts.revoke_token(world.lw.ctx, token_row(world, token).id)
    return bearer(token)


def _expired(world: World, space: Space) -> dict[str, str]:
    token = new_token(world, space, expires_in=timedelta(minutes=5))
    assert world.client.get("/v1/me", headers=bearer(token)).status_code == 200
    world.clock.advance(minutes=5)
    return bearer(token)


def _deactivated(world: World, space: Space) -> dict[str, str]:
    token = space.token("viewer")
    world.lw.update_reviewer(space.account("viewer"), active=False)
    return bearer(token)


REFUSALS: dict[str, Spoil] = {
    "no header": lambda world, space: {},
    "basic scheme": lambda world, space: {"Authorization": f"Basic {space.token('viewer')}"},
    "no scheme": lambda world, space: {"Authorization": space.token("viewer")},
    "empty bearer": lambda world, space: {"Authorization": "Bearer "},
    "unknown token": lambda world, space: bearer("lw_" + secrets.token_urlsafe(32)),
    "malformed token": lambda world, space: bearer("not-a-loopwise-token"),
    "over-long token": lambda world, space: bearer("lw_" + "a" * 300),
    "digest as token": lambda world, space: bearer(
        token_row(world, space.token("viewer")).token_hash
    ),
    "revoked token": _revoked,
    "expired token": _expired,
    "deactivated account": _deactivated,
}


class TestRefused:
    @pytest.mark.parametrize("spoil", list(REFUSALS))
    def test_401_with_the_same_body(self, world: World, space: Space, spoil: str) -> None:
        headers = REFUSALS[spoil](world, space)
        response = world.client.get(space.url(), headers=headers)
        assert response.status_code == 401
        assert response.headers["WWW-Authenticate"] == "Bearer"
        assert response.json() == REFUSED

    def test_on_a_write_nothing_is_written(self, world: World, space: Space) -> None:
        token = new_token(world, space, role="client")
        accounts.revoke_token(world.lw.ctx, token_row(world, token).id)
        response = world.client.post(
            space.url("/items"),
            json={"external_id": "x-1", "payload": "hello", "probabilities": [0.9, 0.1]},
            headers=bearer(token),
        )
        assert response.status_code == 401
        assert world.lw.audit_events(space.name, entity_type="item") == []

    def test_a_token_works_until_the_moment_it_expires(self, world: World, space: Space) -> None:
        token = new_token(world, space, expires_in=timedelta(hours=1))
        world.clock.advance(minutes=59, seconds=59)
        assert world.client.get("/v1/me", headers=bearer(token)).status_code == 200
        world.clock.advance(seconds=1)
        assert world.client.get("/v1/me", headers=bearer(token)).status_code == 401

    def test_revoking_one_token_leaves_the_others(self, world: World, space: Space) -> None:
        kept = space.token("viewer")
        revoked = new_token(world, space)
        accounts.revoke_token(world.lw.ctx, token_row(world, revoked).id)
        assert world.client.get("/v1/me", headers=bearer(revoked)).status_code == 401
        assert world.client.get("/v1/me", headers=bearer(kept)).status_code == 200


class TestStoredToken:
    def test_only_its_sha256_is_stored(self, world: World, space: Space) -> None:
        token = new_token(world, space, name="ci")
        row = token_row(world, token)
        assert row.token_hash == hashlib.sha256(token.encode()).hexdigest()
        assert (row.name, row.prefix) == ("ci", token[:9])
        stored = [getattr(row, column.key) for column in ApiTokenRow.__table__.columns]
        assert not any(token in str(value) for value in stored)
        assert not any(token[9:] in str(value) for value in stored)

    def test_last_used_at_is_written_at_most_once_a_minute(
        self, world: World, space: Space
    ) -> None:
        token = new_token(world, space)
        assert token_row(world, token).last_used_at is None
        first = world.clock.now()
        world.client.get("/v1/me", headers=bearer(token))
        assert token_row(world, token).last_used_at == first
        world.clock.advance(seconds=59)
        world.client.get("/v1/me", headers=bearer(token))
        assert token_row(world, token).last_used_at == first
        later = world.clock.advance(seconds=1)
        world.client.get("/v1/me", headers=bearer(token))
        assert token_row(world, token).last_used_at == later


def test_tokens_are_never_logged_or_audited(
    world: World, space: Space, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    good = space.token("client")
    revoked = new_token(world, space, role="client")
    accounts.revoke_token(world.lw.ctx, token_row(world, revoked).id)
    unknown = "lw_" + secrets.token_urlsafe(32)
    item = {"external_id": "x-1", "payload": "hello", "probabilities": [0.9, 0.1]}
    answers = [
        world.client.post(space.url("/items"), json=item, headers=bearer(good)),
        world.client.get(space.url("/decisions/x-1"), headers=bearer(good)),
        world.client.get(space.url("/queue"), headers=bearer(good)),
        world.client.post(space.url("/items"), json={"payload": 1}, headers=bearer(good)),
        world.client.get(space.url("/decisions"), headers=bearer(revoked)),
        world.client.get(space.url("/decisions"), headers=bearer(unknown)),
        world.client.get(space.url("/decisions"), headers={"Authorization": f"Basic {good}"}),
    ]
    assert [a.status_code for a in answers] == [200, 200, 403, 422, 401, 401, 401]

    secrets_seen = [good, revoked, unknown]
    assert len(caplog.records) > 0
    for record in caplog.records:
        text = f"{record.getMessage()} {record.args!r} {record.exc_text or ''}"
        assert not any(token in text for token in secrets_seen), record.name
    assert all(token not in a.text for a in answers for token in secrets_seen)
    events = world.lw.audit_events()
    assert any(e.action == "token.revoked" for e in events)
    assert not any(token in repr(event) for event in events for token in secrets_seen)
