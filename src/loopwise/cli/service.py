"""``loopwise serve``, ``loopwise users``, ``loopwise tokens`` and ``loopwise webhooks``: running
the HTTP service and managing who may call it."""

from __future__ import annotations

import os
import tempfile
from datetime import timedelta
from typing import Annotated

import typer
from rich.table import Table

from loopwise.cli.common import console, handle_errors, open_loopwise
from loopwise.services import accounts, webhooks
from loopwise.settings import Settings

users_app = typer.Typer(
    help="Accounts: people (reviewer, expert, admin) and services (client, viewer).",
    no_args_is_help=True,
)
tokens_app = typer.Typer(help="API tokens (stored hashed; shown once).", no_args_is_help=True)
webhooks_app = typer.Typer(help="Signed event callbacks of a project.", no_args_is_help=True)


def _split(value: str) -> list[str]:
    return [part.strip() for part in value.split(",") if part.strip()]


def serve(
    ctx: typer.Context,
    host: Annotated[str, typer.Option(help="Interface to listen on.")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="TCP port.")] = 8000,
    workers: Annotated[int, typer.Option(min=1, help="Processes (share one PostgreSQL).")] = 1,
    log_level: Annotated[str, typer.Option(help="uvicorn log level.")] = "info",
) -> None:
    """Run the HTTP API (OpenAPI at /docs) with uvicorn."""
    import uvicorn

    options = ctx.obj or {}
    if options.get("database_url"):
        os.environ["LOOPWISE_DATABASE_URL"] = str(options["database_url"])
    if options.get("data_dir"):
        os.environ["LOOPWISE_DATA_DIR"] = str(options["data_dir"])
    handle_errors(lambda: open_loopwise(ctx).close())()  # migrate once, before any worker
    # worker processes start their BLAS and OpenMP pools at this size (OpenMP's is per thread:
    # the cap each app sets at start-up reaches only the thread that sets it)
    threads = str(Settings().compute_threads)
    for name in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
        os.environ.setdefault(name, threads)
    if workers > 1 and not os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        os.environ["PROMETHEUS_MULTIPROC_DIR"] = tempfile.mkdtemp(prefix="loopwise-metrics-")
    uvicorn.run(
        "loopwise.api.app:app_from_env",
        factory=True,
        host=host,
        port=port,
        workers=workers,
        log_level=log_level,
        # a worker imports scikit-learn and opens its database before it answers uvicorn's
        # health check; on a busy small machine that takes longer than the default 5 s, and
        # uvicorn would kill and restart it forever
        timeout_worker_healthcheck=60,
    )


@users_app.command("create")
@handle_errors
def users_create(
    ctx: typer.Context,
    name: Annotated[str, typer.Argument(help="Account name.")],
    role: Annotated[
        str, typer.Option(help="admin, client, reviewer, expert or viewer.")
    ] = "client",
    projects: Annotated[str, typer.Option(help="Comma-separated projects to join.")] = "",
    tags: Annotated[str, typer.Option(help="Expertise tags (reviewers and experts).")] = "",
) -> None:
    """Create an account and make it a member of projects."""
    with open_loopwise(ctx) as lw:
        user = lw.add_reviewer(
            name, role=role, projects=_split(projects), tags=_split(tags), actor="cli"
        )
    console.print(f"created {user.role.value} [bold]{user.name}[/] in {list(user.projects)}")


@users_app.command("list")
@handle_errors
def users_list(ctx: typer.Context) -> None:
    """Every account with its role and projects."""
    with open_loopwise(ctx) as lw:
        people = lw.reviewers()
    table = Table("name", "role", "active", "projects")
    for p in people:
        table.add_row(p.name, p.role.value, "yes" if p.active else "no", ",".join(p.projects))
    console.print(table)


@tokens_app.command("create")
@handle_errors
def tokens_create(
    ctx: typer.Context,
    user: Annotated[str, typer.Argument(help="The account the token acts as.")],
    name: Annotated[str, typer.Option(help="What the token is for.")] = "default",
    expires_days: Annotated[
        int | None, typer.Option(min=1, help="Days until it stops working.")
    ] = None,
) -> None:
    """Create a token and print it: it is shown this once (only its hash is stored)."""
    with open_loopwise(ctx) as lw:
        token, info = accounts.create_token(
            lw.ctx,
            user,
            name=name,
            expires_in=None if expires_days is None else timedelta(days=expires_days),
            actor="cli",
        )
    console.print(token, soft_wrap=True, highlight=False)
    typer.echo(f"token {info.id} for {info.user}: keep it secret, it is not shown again", err=True)


@tokens_app.command("list")
@handle_errors
def tokens_list(
    ctx: typer.Context,
    user: Annotated[str | None, typer.Argument(help="Only this account's tokens.")] = None,
) -> None:
    """Tokens by id, account and prefix (never the token)."""
    with open_loopwise(ctx) as lw:
        found = accounts.list_tokens(lw.ctx, user)
    table = Table("id", "user", "name", "prefix", "created", "expires", "last used", "revoked")
    for t in found:
        table.add_row(
            str(t.id),
            t.user,
            t.name,
            t.prefix + "...",
            f"{t.created_at:%Y-%m-%d %H:%M}",
            "-" if t.expires_at is None else f"{t.expires_at:%Y-%m-%d %H:%M}",
            "-" if t.last_used_at is None else f"{t.last_used_at:%Y-%m-%d %H:%M}",
            "-" if t.revoked_at is None else f"{t.revoked_at:%Y-%m-%d %H:%M}",
        )
    console.print(table)


@tokens_app.command("revoke")
@handle_errors
def tokens_revoke(
    ctx: typer.Context, token_id: Annotated[int, typer.Argument(help="Token id.")]
) -> None:
    """Stop a token working, at once."""
    with open_loopwise(ctx) as lw:
        info = accounts.revoke_token(lw.ctx, token_id, actor="cli")
    console.print(f"revoked token {info.id} ({info.prefix}...) of {info.user}")


@webhooks_app.command("add")
@handle_errors
def webhooks_add(
    ctx: typer.Context,
    project: Annotated[str, typer.Argument(help="Project name.")],
    url: Annotated[str, typer.Argument(help="Where to POST events.")],
    events: Annotated[str, typer.Option(help="Comma-separated events (default: all).")] = "",
) -> None:
    """Subscribe a URL to a project's events; prints the signing secret once."""
    with open_loopwise(ctx) as lw:
        hook, secret = webhooks.add_webhook(
            lw.ctx, project, url, events=_split(events) or None, actor="cli"
        )
    console.print(f"webhook {hook.id} -> {hook.url} for {', '.join(hook.events)}")
    console.print(secret, soft_wrap=True, highlight=False)


@webhooks_app.command("list")
@handle_errors
def webhooks_list(
    ctx: typer.Context, project: Annotated[str, typer.Argument(help="Project name.")]
) -> None:
    """A project's webhooks and how their messages stand."""
    with open_loopwise(ctx) as lw:
        hooks = webhooks.list_webhooks(lw.ctx, project)
        recent = webhooks.messages(lw.ctx, project, limit=1000)
    table = Table("id", "url", "events", "active", "delivered", "pending", "failed")
    for h in hooks:
        mine = [m.status for m in recent if m.webhook_id == h.id]
        table.add_row(
            str(h.id),
            h.url,
            ",".join(h.events),
            "yes" if h.active else "no",
            *(str(mine.count(s)) for s in ("delivered", "pending", "failed")),
        )
    console.print(table)


@webhooks_app.command("remove")
@handle_errors
def webhooks_remove(
    ctx: typer.Context,
    project: Annotated[str, typer.Argument(help="Project name.")],
    webhook_id: Annotated[int, typer.Argument(help="Webhook id.")],
) -> None:
    """Stop sending a project's events to a webhook."""
    with open_loopwise(ctx) as lw:
        webhooks.remove_webhook(lw.ctx, project, webhook_id, actor="cli")
    console.print(f"removed webhook {webhook_id}")
