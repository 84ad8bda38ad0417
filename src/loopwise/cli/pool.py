"""``loopwise pool add|remove|list|status|query|settings``: the unlabelled pool active learning
chooses from."""

from __future__ import annotations

import json
from functools import partial
from pathlib import Path
from typing import Annotated, Any, TextIO

import typer
from rich.table import Table

from loopwise.cli.common import (
    ProjectArg,
    RowsFileArg,
    RowsFormatOption,
    check_output,
    console,
    handle_errors,
    open_loopwise,
    writing,
)
from loopwise.cli.io import file_format, write_in_batches
from loopwise.core.active import ActiveLearningConfig
from loopwise.datasets.item_files import read_candidates, read_items
from loopwise.services.loop import Loopwise
from loopwise.services.pool_listing import MAX_PAGE, PoolState
from loopwise.services.pool_removal import PoolRemoval

pool_app = typer.Typer(
    help="Active learning: the unlabelled pool and the queries that queue its best items.",
    no_args_is_help=True,
)


@pool_app.command("add")
@handle_errors
def pool_add(
    ctx: typer.Context,
    project: ProjectArg,
    path: RowsFileArg,
    fmt: RowsFormatOption = None,
    batch: Annotated[int, typer.Option(min=1, max=10_000, help="Rows per transaction.")] = 5000,
) -> None:
    """Add unlabelled candidates (a 'label' column is ignored: import labels with
    `items import --labelled`)."""
    with open_loopwise(ctx) as lw:
        file = read_items(lw.project(project), path, file_format(path, fmt))
        rows = [{k: v for k, v in r.items() if k != "label"} for r in file.rows]

        def add(part: list[dict[str, Any]]) -> int:
            return lw.add_to_pool(project, part, actor="cli")

        check = partial(lw.check_rows, project, use="pool")
        added = sum(write_in_batches(file, rows, add, batch, "adding candidates", check=check))
        waiting = lw.pool_status(project).waiting
    console.print(f"{added:,} new candidate(s) in the pool of {project}; {waiting:,} waiting")


@pool_app.command("remove")
@handle_errors
def pool_remove(
    ctx: typer.Context,
    project: ProjectArg,
    path: Annotated[
        Path | None,
        typer.Argument(
            help="CSV or JSONL file naming candidates: by external_id, or by payload.",
            dir_okay=False,
        ),
    ] = None,
    ids: Annotated[
        list[str] | None, typer.Option("--id", help="A candidate's external id (repeatable).")
    ] = None,
    everything: Annotated[
        bool, typer.Option("--all", help="Remove every waiting candidate.")
    ] = False,
    fmt: RowsFormatOption = None,
    batch: Annotated[int, typer.Option(min=1, max=10_000, help="Rows per transaction.")] = 5000,
) -> None:
    """Remove waiting candidates from the pool: those a file names (the file that added them
    will do), those given by --id, or --all. A candidate a query chose is an item under review
    now and stays."""
    given = [name for name, on in (("FILE", path), ("--id", ids), ("--all", everything)) if on]
    if len(given) != 1:
        raise typer.BadParameter(
            "name the candidates with one of FILE, --id or --all"
            + (f" (given: {', '.join(given)})" if given else ""),
            param_hint="FILE / --id / --all",
        )
    with open_loopwise(ctx) as lw:
        if everything:
            results = [lw.remove_from_pool(project, everything=True, actor="cli")]
        elif ids:
            results = [lw.remove_from_pool(project, list(ids), actor="cli")]
        else:
            assert path is not None
            results = _remove_file(lw, project, path, file_format(path, fmt), batch)
        waiting = lw.pool_status(project).waiting
    removed, chosen, missing = (sum(getattr(r, k) for r in results) for k in _COUNTS)
    kept = f"; {chosen:,} chosen by a query kept (items now)" if chosen else ""
    absent = f"; {missing:,} not in the pool" if missing else ""
    console.print(
        f"{removed:,} candidate(s) removed from the pool of {project}{kept}{absent}; "
        f"{waiting:,} waiting"
    )


_COUNTS = ("removed", "chosen", "not_found")


def _remove_file(lw: Loopwise, project: str, path: Path, fmt: str, batch: int) -> list[PoolRemoval]:
    """Remove the candidates ``path`` names, checked whole first, ``batch`` at a time."""
    file = read_candidates(lw.project(project), path, fmt)

    def remove(part: list[dict[str, Any]]) -> PoolRemoval:
        return lw.remove_from_pool(project, part, actor="cli")

    return write_in_batches(
        file,
        file.rows,
        remove,
        batch,
        "removing candidates",
        check=partial(lw.check_removal, project),
        done="removed",
        again="a candidate removed already counts as not in the pool",
    )


@pool_app.command("list")
@handle_errors
def pool_list(
    ctx: typer.Context,
    project: ProjectArg,
    state: Annotated[
        PoolState, typer.Option(help="waiting (a query can choose them), chosen, or all.")
    ] = PoolState.WAITING,
    limit: Annotated[
        int | None,
        typer.Option(min=1, help="At most this many (default: 20 shown, every one written)."),
    ] = None,
    output: Annotated[
        Path | None,
        typer.Option(
            help="Write them here as JSONL: the rows `pool add` and `pool remove` read.",
            dir_okay=False,
        ),
    ] = None,
) -> None:
    """The pool's candidates, oldest first: shown as a table, or written to a file (edit it,
    then `pool remove` what it names)."""
    check_output(output, "output")
    with open_loopwise(ctx) as lw:
        if output is None:
            found = lw.pool_candidates(project, state=state, limit=min(limit or 20, MAX_PAGE))
            status = lw.pool_status(project)
        else:
            with writing(output, "output"), output.open("w", encoding="utf-8") as handle:
                count = _write_candidates(lw, project, state, limit, handle)
            console.print(f"wrote {count:,} {state} candidate(s) of {project} to {output}")
            return
    table = Table("external id", "payload", "added", "item")
    for c in found:
        table.add_row(
            c.external_id,
            _shown(c.payload),
            f"{c.added_at:%Y-%m-%d %H:%M}",
            "-" if c.item_id is None else str(c.item_id),
        )
    console.print(table)
    console.print(
        f"{len(found):,} {state} candidate(s) shown; {status.waiting:,} waiting, "
        f"{status.chosen:,} chosen"
    )


def _shown(payload: dict[str, Any]) -> str:
    """A payload in a table cell: its text, or its features, cut to 60 characters."""
    shown = str(payload["text"]) if "text" in payload else json.dumps(payload["features"])
    return shown if len(shown) <= 60 else shown[:59] + "…"


def _write_candidates(
    lw: Loopwise, project: str, state: PoolState, limit: int | None, handle: TextIO
) -> int:
    """Write the candidates in ``state`` (at most ``limit``) as JSONL rows, a page at a time."""
    count, after = 0, None
    while limit is None or count < limit:
        size = MAX_PAGE if limit is None else min(MAX_PAGE, limit - count)
        page = lw.pool_candidates(project, state=state, after=after, limit=size)
        for c in page:
            row = {"external_id": c.external_id, "payload": c.payload, "metadata": c.metadata}
            handle.write(json.dumps(row, ensure_ascii=False) + "\n")
        count += len(page)
        if len(page) < size:
            break
        after = page[-1].id
    return count


@pool_app.command("status")
@handle_errors
def pool_status(ctx: typer.Context, project: ProjectArg) -> None:
    """Candidates waiting, chosen so far, and the project's active-learning settings."""
    with open_loopwise(ctx) as lw:
        status = lw.pool_status(project)
        config = lw.project(project).active_learning
    console.print(f"{status.waiting:,} waiting, {status.chosen:,} chosen; {_settings(config)}")


def _settings(config: ActiveLearningConfig) -> str:
    return (
        f"strategy {config.strategy}, batch {config.batch}, explore {config.explore:.0%}, "
        f"query after each promotion: {'yes' if config.requery_after_promotion else 'no'}"
    )


@pool_app.command("query")
@handle_errors
def pool_query(
    ctx: typer.Context,
    project: ProjectArg,
    n: Annotated[int | None, typer.Option("--n", help="Items to choose (default: batch).")] = None,
    strategy: Annotated[
        str | None, typer.Option(help="A strategy name (default: the project's).")
    ] = None,
    seed: Annotated[int | None, typer.Option(help="Seed for strategies that draw.")] = None,
) -> None:
    """Queue the most informative candidates for review (discovery priority)."""
    with open_loopwise(ctx) as lw, console.status("scoring the pool"):
        result = lw.query(project, n, strategy=strategy, seed=seed, actor="cli")
    table = Table("pick", "external id", "model says", "confidence", "task")
    for c in result.chosen:
        table.add_row(
            str(c.rank + 1),
            c.external_id,
            c.predicted_label or "-",
            "-" if c.confidence is None else f"{c.confidence:.3f}",
            str(c.task_id),
        )
    console.print(table)
    model = (
        "no model yet (cold start)"
        if result.model_version is None
        else (f"model v{result.model_version}")
    )
    console.print(
        f"{result.strategy} chose {len(result.chosen)} of {result.considered:,} with {model}"
        f"{result.awaiting_note}"
    )


@pool_app.command("settings")
@handle_errors
def pool_settings(
    ctx: typer.Context,
    project: ProjectArg,
    strategy: Annotated[str | None, typer.Option(help="Strategy name.")] = None,
    batch: Annotated[int | None, typer.Option(help="Items a query chooses.")] = None,
    explore: Annotated[float | None, typer.Option(help="Share chosen at random (0-1).")] = None,
    requery: Annotated[
        bool | None, typer.Option(help="Query a batch after each promotion.")
    ] = None,
) -> None:
    """Change the project's active-learning settings (the others are kept); with no option,
    show them."""
    given = {
        "strategy": strategy,
        "batch": batch,
        "explore": explore,
        "requery_after_promotion": requery,
    }
    changes = {k: v for k, v in given.items() if v is not None}
    with open_loopwise(ctx) as lw:
        config = lw.project(project).active_learning
        if changes:
            config = lw.set_active_learning(project, config.to_json() | changes, actor="cli")
    console.print(f"active learning of {project}: {_settings(config)}")
