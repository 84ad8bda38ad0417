"""``loopwise pool add|status|query|settings``: the unlabelled pool active learning chooses from."""

from __future__ import annotations

from typing import Annotated, Any

import typer
from rich.table import Table

from loopwise.cli.common import (
    ProjectArg,
    RowsFileArg,
    RowsFormatOption,
    console,
    handle_errors,
    open_loopwise,
)
from loopwise.cli.io import file_format, read_items, write_in_batches
from loopwise.core.active import ActiveLearningConfig

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

        added = sum(
            write_in_batches(lw, project, file, rows, add, batch, "adding candidates", use="pool")
        )
        waiting = lw.pool_status(project).waiting
    console.print(f"{added:,} new candidate(s) in the pool of {project}; {waiting:,} waiting")


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
