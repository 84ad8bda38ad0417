"""API tokens: created for an account, stored as a SHA-256 digest, checked on every request.

An account is a row of the ``reviewer`` table whatever its role (people who review, services
that submit items, viewers of numbers): one namespace of names, one membership table. Tokens are
256 random bits, so a fast digest is enough to make a stolen database useless for logging in; a
slow password hash would only slow every request down.
"""

from __future__ import annotations

import functools
import hashlib
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import Select, bindparam, select, update

from loopwise.core.enums import Role
from loopwise.errors import InvalidInput, NotAllowed, TokenNotFound, Unauthenticated
from loopwise.services.context import Context
from loopwise.services.reviewers import check_name
from loopwise.store.tables import ApiTokenRow, ProjectMemberRow, ProjectRow, ReviewerRow

TOKEN_PREFIX = "lw_"
TOUCH_EVERY = timedelta(minutes=1)
"""``last_used_at`` is written at most this often per token, so reads stay reads."""


def digest(token: str) -> str:
    """The stored form of a token."""
    return hashlib.sha256(token.encode()).hexdigest()


@dataclass(frozen=True)
class TokenInfo:
    """A token as listed: never the token itself, only its first characters."""

    id: int
    user: str
    name: str
    prefix: str
    created_at: datetime
    expires_at: datetime | None
    last_used_at: datetime | None
    revoked_at: datetime | None


@dataclass(frozen=True)
class Principal:
    """Who is calling: the account, its role and the projects it belongs to."""

    name: str
    role: Role
    projects: frozenset[str]
    token_id: int

    def member_of(self, project: str) -> bool:
        return self.role is Role.ADMIN or project in self.projects


def _info(row: ApiTokenRow, user: str) -> TokenInfo:
    return TokenInfo(
        id=row.id,
        user=user,
        name=row.name,
        prefix=row.prefix,
        created_at=row.created_at,
        expires_at=row.expires_at,
        last_used_at=row.last_used_at,
        revoked_at=row.revoked_at,
    )


def create_token(
    ctx: Context,
    user: str,
    *,
    name: str = "default",
    expires_in: timedelta | None = None,
    actor: str = "admin",
) -> tuple[str, TokenInfo]:
    """A new token for ``user``; the token is returned here once and never again."""
    check_name(user, "user")
    if not isinstance(name, str) or not name.strip() or len(name) > 100:
        raise InvalidInput("must be a non-empty name of at most 100 characters", field="name")
    if expires_in is not None and expires_in <= timedelta(0):
        raise InvalidInput("must be positive", field="expires_in")
    token = TOKEN_PREFIX + secrets.token_urlsafe(32)
    with ctx.write() as tx:
        account = tx.session.scalar(select(ReviewerRow).where(ReviewerRow.name == user))
        if account is None:
            raise InvalidInput(f"no user named {user!r}", field="user")
        if not account.active:
            raise NotAllowed(f"user {user!r} is deactivated", field="user")
        row = ApiTokenRow(
            reviewer_id=account.id,
            name=name.strip(),
            prefix=token[: len(TOKEN_PREFIX) + 6],
            token_hash=digest(token),
            created_at=tx.now,
            expires_at=None if expires_in is None else tx.now + expires_in,
        )
        tx.repo.add(row)
        tx.audit(
            actor=actor,
            action="token.created",
            entity_type="token",
            entity_id=row.id,
            project_id=None,
            after={"user": user, "name": row.name, "prefix": row.prefix},
        )
        return token, _info(row, user)


def list_tokens(ctx: Context, user: str | None = None) -> list[TokenInfo]:
    with ctx.read() as tx:
        query = (
            select(ApiTokenRow, ReviewerRow.name)
            .join(ReviewerRow, ReviewerRow.id == ApiTokenRow.reviewer_id)
            .order_by(ApiTokenRow.id)
        )
        if user is not None:
            query = query.where(ReviewerRow.name == user)
        return [_info(row, name) for row, name in tx.session.execute(query).all()]


def revoke_token(ctx: Context, token_id: int, *, actor: str = "admin") -> TokenInfo:
    """Revoke a token at once; revoking twice keeps the first time."""
    with ctx.write() as tx:
        found = tx.session.execute(
            select(ApiTokenRow, ReviewerRow.name)
            .join(ReviewerRow, ReviewerRow.id == ApiTokenRow.reviewer_id)
            .where(ApiTokenRow.id == token_id)
            .with_for_update(of=ApiTokenRow)
        ).first()
        if found is None:
            raise TokenNotFound(f"no token with id {token_id}", field="token_id")
        row, user = found
        if row.revoked_at is None:
            row.revoked_at = tx.now
            tx.audit(
                actor=actor,
                action="token.revoked",
                entity_type="token",
                entity_id=row.id,
                project_id=None,
                after={"user": user, "prefix": row.prefix},
            )
        return _info(row, user)


@functools.cache
def _by_token() -> Select[ApiTokenRow, ReviewerRow, str]:
    """A token's row, its account, and each project the account belongs to (one row each;
    one row with no project when it belongs to none)."""
    return (
        select(ApiTokenRow, ReviewerRow, ProjectRow.name)
        .join(ReviewerRow, ReviewerRow.id == ApiTokenRow.reviewer_id)
        .outerjoin(ProjectMemberRow, ProjectMemberRow.reviewer_id == ReviewerRow.id)
        .outerjoin(ProjectRow, ProjectRow.id == ProjectMemberRow.project_id)
        .where(ApiTokenRow.token_hash == bindparam("token_hash"))
    )


def authenticate(ctx: Context, token: str) -> Principal:
    """The account a bearer token belongs to; ``Unauthenticated`` for any token that is
    missing, malformed, unknown, revoked or expired, or whose account is deactivated (the
    message does not say which, so it teaches an attacker nothing).

    Every API request starts here, so it is one statement, built once, read outside a
    transaction on PostgreSQL (a single statement needs none: no ``BEGIN`` and ``ROLLBACK``
    round trips).
    """
    refused = Unauthenticated("a valid API token is required (Authorization: Bearer <token>)")
    if not token.startswith(TOKEN_PREFIX) or len(token) > 200:
        raise refused
    with ctx.single_read() as session:
        found = session.execute(_by_token(), {"token_hash": digest(token)}).all()
    now = ctx.clock.now()
    if not found:
        raise refused
    row, account, _ = found[0]
    if (
        row.revoked_at is not None
        or (row.expires_at is not None and row.expires_at <= now)
        or not account.active
    ):
        raise refused
    projects = frozenset(name for _, _, name in found if name is not None)
    principal = Principal(account.name, Role(account.role), projects, row.id)
    if row.last_used_at is None or now - row.last_used_at >= TOUCH_EVERY:
        with ctx.write() as wtx:
            wtx.session.execute(
                update(ApiTokenRow).where(ApiTokenRow.id == row.id).values(last_used_at=now)
            )
    return principal
