"""``loopwise <noun> <verb>``: the command line over the Python API."""

from __future__ import annotations

import sys
from functools import partial
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.table import Table

from loopwise.cli.common import (
    ProjectArg,
    RowsFileArg,
    RowsFormatOption,
    check_output,
    console,
    errors,
    handle_errors,
    open_loopwise,
    writing,
)
from loopwise.cli.demo import demo
from loopwise.cli.io import file_format, write_in_batches, write_labels
from loopwise.cli.pool import pool_app
from loopwise.cli.reviewers import reviewers_app
from loopwise.cli.routing import routing_app
from loopwise.cli.service import serve, tokens_app, users_app, webhooks_app
from loopwise.cli.simulate import simulate
from loopwise.core.enums import InputKind
from loopwise.core.policy import RoutingConfig
from loopwise.datasets.item_files import read_items
from loopwise.services.items import Routed
from loopwise.store.db import current_revision, head_revision, upgrade

app = typer.Typer(help="loopwise: human-in-the-loop machine learning.", no_args_is_help=True)
db_app = typer.Typer(help="The database schema.", no_args_is_help=True)
project_app = typer.Typer(help="Projects: label set, input kind, routing.", no_args_is_help=True)
items_app = typer.Typer(help="Items: submit for prediction and routing.", no_args_is_help=True)
labels_app = typer.Typer(help="Resolved labels: the training data.", no_args_is_help=True)
models_app = typer.Typer(help="Model versions: train, promote, roll back.", no_args_is_help=True)
app.add_typer(db_app, name="db")
app.add_typer(project_app, name="project")
app.add_typer(items_app, name="items")
app.add_typer(labels_app, name="labels")
app.add_typer(models_app, name="models")
app.add_typer(routing_app, name="routing")
app.add_typer(reviewers_app, name="reviewers")
app.add_typer(pool_app, name="pool")
app.add_typer(users_app, name="users")
app.add_typer(tokens_app, name="tokens")
app.add_typer(webhooks_app, name="webhooks")
app.command()(demo)
app.command()(serve)
app.command()(simulate)


@app.callback()
def main(
    ctx: typer.Context,
    database_url: Annotated[
        str | None, typer.Option(help="Database URL (default: LOOPWISE_DATABASE_URL or SQLite).")
    ] = None,
    data_dir: Annotated[
        Path | None, typer.Option(help="Data directory (default: LOOPWISE_DATA_DIR).")
    ] = None,
) -> None:
    ctx.obj = {"database_url": database_url, "data_dir": data_dir}


@db_app.command("upgrade")
@handle_errors
def db_upgrade(ctx: typer.Context) -> None:
    """Apply pending migrations."""
    lw = open_loopwise(ctx)
    try:
        upgrade(lw.ctx.engine)
        console.print(f"schema at {current_revision(lw.ctx.engine)} (head {head_revision()})")
    finally:
        lw.close()


@project_app.command("create")
@handle_errors
def project_create(
    ctx: typer.Context,
    name: ProjectArg,
    labels: Annotated[str, typer.Option(help="Comma-separated label set, e.g. ham,spam.")],
    kind: Annotated[InputKind, typer.Option(help="Input kind.")] = InputKind.TEXT,
    features: Annotated[str, typer.Option(help="Comma-separated feature names (tabular).")] = "",
    threshold: Annotated[
        float, typer.Option(help="Auto-decide at or above this confidence.")
    ] = 0.9,
    guideline: Annotated[str, typer.Option(help="Labelling guideline shown to reviewers.")] = "",
) -> None:
    """Create a project."""
    with open_loopwise(ctx) as lw:
        project = lw.create_project(
            name,
            [x.strip() for x in labels.split(",") if x.strip()],
            input_kind=kind,
            feature_names=[x.strip() for x in features.split(",") if x.strip()],
            routing=RoutingConfig(auto_threshold=threshold),
            guideline=guideline,
            actor="cli",
        )
        console.print(f"created project [bold]{project.name}[/] (id {project.id})")


@project_app.command("list")
@handle_errors
def project_list(ctx: typer.Context) -> None:
    """List projects with their item counts."""
    with open_loopwise(ctx) as lw:
        table = Table("name", "kind", "labels", "items", "queued", "labels resolved", "automation")
        for project in lw.projects():
            stats = lw.stats(project.name)
            table.add_row(
                project.name,
                project.input_kind.value,
                ",".join(project.labels),
                str(stats.items),
                str(stats.queued),
                str(stats.labels),
                f"{stats.automation_rate:.1%}",
            )
        console.print(table)


@items_app.command("import")
@handle_errors
def items_import(
    ctx: typer.Context,
    project: ProjectArg,
    path: RowsFileArg,
    fmt: RowsFormatOption = None,
    labelled: Annotated[
        bool, typer.Option(help="The file's 'label' column is ground truth: import resolved.")
    ] = False,
    batch: Annotated[int, typer.Option(min=1, max=10_000, help="Items per transaction.")] = 1000,
) -> None:
    """Submit items from a file (predicted and routed), or import them as labelled ground truth."""
    with open_loopwise(ctx) as lw:
        file = read_items(lw.project(project), path, file_format(path, fmt))
        if labelled:

            def resolve(part: list[dict[str, Any]]) -> int:
                return lw.import_labels(project, part, actor="cli")

            check = partial(lw.check_rows, project, use="labels")
            done = sum(write_in_batches(file, file.rows, resolve, batch, "importing", check=check))
            console.print(f"resolved {done} item(s) in {project}")
            return
        if any("label" in r for r in file.rows):
            console.print(
                "[yellow]note[/] the 'label' column is ignored; pass --labelled to import it"
            )
        rows = [{k: v for k, v in r.items() if k != "label"} for r in file.rows]

        def submit(part: list[dict[str, Any]]) -> list[Routed]:
            return lw.submit(project, part, actor="cli")

        check_submit = partial(lw.check_rows, project, use="submit")
        routed = [
            r
            for batch_routed in write_in_batches(
                file, rows, submit, batch, "routing", check=check_submit
            )
            for r in batch_routed
        ]
        auto = sum(1 for r in routed if r.route.value == "auto")
        dup = sum(1 for r in routed if r.duplicate)
        console.print(
            f"{len(routed)} item(s): {auto} decided automatically, {len(routed) - auto} queued "
            f"for review, {dup} already known"
        )


@labels_app.command("export")
@handle_errors
def labels_export(
    ctx: typer.Context,
    project: ProjectArg,
    fmt: Annotated[str, typer.Option("--format", help="csv or jsonl.")] = "jsonl",
    output: Annotated[Path | None, typer.Option(help="File to write (default: stdout).")] = None,
) -> None:
    """Export resolved labels with their provenance."""
    fmt = file_format(Path(f"x.{fmt}"), fmt)
    check_output(output, "output")
    with open_loopwise(ctx) as lw:
        rows = lw.export_labels(project)
        if output is None:
            write_labels(rows, sys.stdout, fmt)
            return
        with writing(output, "output"), output.open("w", encoding="utf-8", newline="") as handle:
            count = write_labels(rows, handle, fmt)
        console.print(f"wrote {count} label(s) to {output}")


@models_app.command("list")
@handle_errors
def models_list(ctx: typer.Context, project: ProjectArg) -> None:
    """List model versions with their stage and held-out accuracy."""
    with open_loopwise(ctx) as lw:
        table = Table("version", "stage", "algorithm", "trained on", "held-out acc.", "created")
        for mv in lw.models(project):
            holdout = mv.metrics.get("evaluation", {}).get("holdout", {}).get("candidate", {})
            acc = holdout.get("accuracy")
            table.add_row(
                str(mv.version),
                mv.stage.value,
                mv.algorithm,
                str(mv.trained_on),
                "-" if acc is None else f"{acc:.4f}",
                mv.created_at.strftime("%Y-%m-%d %H:%M"),
            )
        console.print(table)


@models_app.command("train")
@handle_errors
def models_train(
    ctx: typer.Context,
    project: ProjectArg,
    algorithm: Annotated[str | None, typer.Option(help="Estimator name.")] = None,
) -> None:
    """Train a candidate on every resolved training label."""
    with open_loopwise(ctx) as lw:
        mv = lw.train(project, algorithm=algorithm, actor="cli")
        console.print(f"trained candidate v{mv.version} on {mv.trained_on} labels ({mv.algorithm})")


@models_app.command("promote")
@handle_errors
def models_promote(
    ctx: typer.Context,
    project: ProjectArg,
    version: Annotated[
        int | None, typer.Option(help="Version (default: newest candidate).")
    ] = None,
    force: Annotated[bool, typer.Option(help="Promote even if the gate refuses.")] = False,
) -> None:
    """Promote a candidate if the gate agrees (or with --force)."""
    with open_loopwise(ctx) as lw:
        result = lw.promote(project, version, force=force, actor="cli")
        for reason in result.report.gate.reasons:
            console.print(f"  {reason}")
        verdict = "promoted" if result.promoted else "refused"
        if result.forced:
            verdict += " (forced past the gate)"
        console.print(f"v{result.report.candidate.version}: {verdict}")
        if result.query is not None:
            found = result.query
            console.print(
                f"pool query after the promotion: {found.strategy} chose {len(found.chosen)} of "
                f"{found.considered:,} with model v{found.model_version}{found.awaiting_note}, "
                "queued for review"
            )
        if result.query_error is not None:
            errors.print(
                f"[yellow]note[/] the pool query after the promotion did not run: "
                f"{result.query_error}",
                highlight=False,
                soft_wrap=True,
            )
        if not result.promoted:
            raise typer.Exit(1)


@models_app.command("settings")
@handle_errors
def models_settings(
    ctx: typer.Context,
    project: ProjectArg,
    holdout_share: Annotated[
        float | None, typer.Option(help="Share of labels held out to judge candidates (0-1).")
    ] = None,
    golden_share: Annotated[
        float | None, typer.Option(help="Share of corrections kept in the golden set (0-1).")
    ] = None,
    metric: Annotated[
        str | None, typer.Option(help="What the gate compares: accuracy or macro_f1.")
    ] = None,
    min_improvement: Annotated[
        float | None, typer.Option(help="How much a candidate must beat production by.")
    ] = None,
    split_seed: Annotated[
        int | None, typer.Option(help="Keys the stable per-item hashes (default: project id).")
    ] = None,
    project_split_seed: Annotated[
        bool,
        typer.Option(
            "--project-split-seed",
            help="Key the hashes by the project's id again (clears --split-seed).",
        ),
    ] = False,
) -> None:
    """Change the project's training settings (the others are kept); with no option, show
    them. The held-out split's (--holdout-share, --split-seed, --project-split-seed) only
    while it has no label."""
    if project_split_seed and split_seed is not None:
        raise typer.BadParameter(
            "give --split-seed or --project-split-seed, not both", param_hint="--split-seed"
        )
    given = {
        "holdout_share": holdout_share,
        "golden_share": golden_share,
        "metric": metric,
        "min_improvement": min_improvement,
        "split_seed": split_seed,
    }
    changes: dict[str, object] = {k: v for k, v in given.items() if v is not None}
    if project_split_seed:
        changes["split_seed"] = None
    with open_loopwise(ctx) as lw:
        config = lw.project(project).training
        if changes:
            config = lw.set_training_config(project, config.to_json() | changes, actor="cli")
    seed = "the project's id" if config.split_seed is None else str(config.split_seed)
    console.print(
        f"training of {project}: held out {config.holdout_share:.0%}, golden "
        f"{config.golden_share:.0%} of corrections, gate on {config.metric} by at least "
        f"{config.min_improvement:g}, split seed {seed}"
    )


@models_app.command("rollback")
@handle_errors
def models_rollback(ctx: typer.Context, project: ProjectArg) -> None:
    """Put back the previous production model."""
    with open_loopwise(ctx) as lw:
        mv = lw.rollback(project, actor="cli")
        console.print(f"production is v{mv.version} again")
