"""``loopwise reviewers add|list|quality``: people, their projects, and how far to trust them."""

from __future__ import annotations

from typing import Annotated

import typer
from rich.table import Table

from loopwise.cli.common import console, handle_errors, open_loopwise

reviewers_app = typer.Typer(
    help="Reviewers, experts and admins: membership, limits, quality.", no_args_is_help=True
)


def _split(value: str) -> list[str]:
    return [part.strip() for part in value.split(",") if part.strip()]


@reviewers_app.command("add")
@handle_errors
def reviewers_add(
    ctx: typer.Context,
    name: Annotated[str, typer.Argument(help="The person's name.")],
    role: Annotated[str, typer.Option(help="reviewer, expert or admin.")] = "reviewer",
    projects: Annotated[str, typer.Option(help="Comma-separated projects to join.")] = "",
    tags: Annotated[str, typer.Option(help="Comma-separated expertise tags.")] = "",
    max_open_tasks: Annotated[int, typer.Option(help="Tasks held at once.")] = 3,
    daily_limit: Annotated[int | None, typer.Option(help="Verdicts per day.")] = None,
) -> None:
    """Register a person and make them a member of projects."""
    with open_loopwise(ctx) as lw:
        person = lw.add_reviewer(
            name,
            role=role,
            projects=_split(projects),
            tags=_split(tags),
            max_open_tasks=max_open_tasks,
            daily_limit=daily_limit,
            actor="cli",
        )
    console.print(f"added {person.role.value} [bold]{person.name}[/] to {list(person.projects)}")


@reviewers_app.command("list")
@handle_errors
def reviewers_list(
    ctx: typer.Context,
    project: Annotated[str | None, typer.Argument(help="Only members of this project.")] = None,
) -> None:
    """People with their role, tags, limits and projects."""
    with open_loopwise(ctx) as lw:
        people = lw.reviewers(project)
    table = Table("name", "role", "tags", "max held", "daily", "active", "projects")
    for p in people:
        table.add_row(
            p.name,
            p.role.value,
            ",".join(p.tags),
            str(p.max_open_tasks),
            "-" if p.daily_limit is None else str(p.daily_limit),
            "yes" if p.active else "no",
            ",".join(p.projects),
        )
    console.print(table)


@reviewers_app.command("quality")
@handle_errors
def reviewers_quality(
    ctx: typer.Context, project: Annotated[str, typer.Argument(help="Project name.")]
) -> None:
    """Each member's gold accuracy (95% Wilson interval), consensus skill and flag, and the
    project's agreement."""
    with open_loopwise(ctx) as lw:
        people = lw.reviewer_quality(project)
        agreement = lw.agreement(project)
    table = Table("reviewer", "role", "reviews", "gold", "95% interval", "skill", "flag")
    for q in people:
        table.add_row(
            q.reviewer,
            q.role,
            str(q.reviews),
            "-" if q.gold.accuracy is None else f"{q.gold.accuracy:.1%} of {q.gold.answers}",
            f"{q.gold.low:.1%}-{q.gold.high:.1%}",
            "-" if q.consensus_skill is None else f"{q.consensus_skill:.3f}",
            "flagged" if q.flagged else "",
        )
    console.print(table)
    for q in people:
        if q.flagged:
            console.print(f"{q.reviewer} flagged: {q.flagged}", style="yellow")
    if agreement.alpha is None:
        console.print("No item has two answers yet: no agreement to report.")
        return
    fleiss = "-" if agreement.fleiss is None else f"{agreement.fleiss:.3f}"
    console.print(
        f"Agreement over {agreement.items} items: Krippendorff's alpha {agreement.alpha:.3f}, "
        f"Fleiss' kappa {fleiss} ({agreement.raters} raters); by label: "
        + ", ".join(
            f"{k} {'-' if v is None else f'{v:.3f}'}" for k, v in agreement.by_label.items()
        )
    )
