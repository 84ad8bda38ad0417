"""``loopwise demo``: the whole loop on the bundled SMS spam data, shown as it runs."""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Annotated

import typer
from rich import box
from rich.progress import TaskID
from rich.table import Table

from loopwise.cli.common import (
    check_output,
    console,
    handle_errors,
    open_loopwise,
    progress_bar,
    writing,
)
from loopwise.datasets import load_labelled_csv, load_sms_spam
from loopwise.demo import DemoConfig, RoundResult, run_demo, unique_project_name


def _verdict(result: RoundResult) -> str:
    if result.promoted is None:
        return "[yellow]not trained[/]"
    return "[green]promoted[/]" if result.promoted else "[red]kept[/]"


@handle_errors
def demo(
    ctx: typer.Context,
    dataset: Annotated[
        Path | None, typer.Option(help="CSV with label,text columns (default: bundled SMS spam).")
    ] = None,
    rounds: Annotated[int, typer.Option(min=1, help="Rounds of stream, review, retrain.")] = 5,
    seed_labels: Annotated[int, typer.Option(min=2, help="Labelled items to start from.")] = 300,
    reviewer_error_rate: Annotated[
        float, typer.Option(help="How often a simulated reviewer errs.")
    ] = 0.01,
    target_error: Annotated[
        float,
        typer.Option(help="Certify auto-decisions err at most this often (0: use --threshold)."),
    ] = 0.05,
    target_confidence: Annotated[
        float, typer.Option(help="With this probability (1 - delta).")
    ] = 0.9,
    threshold: Annotated[
        float, typer.Option(help="Fixed threshold on calibrated confidence (--target-error 0).")
    ] = 0.9,
    qa_sample: Annotated[float, typer.Option(help="Share of automatic decisions checked.")] = 0.02,
    seed: Annotated[int, typer.Option(help="Random seed.")] = 7,
    project: Annotated[
        str | None, typer.Option(help="Project name (default: a new demo-* name).")
    ] = None,
    json_path: Annotated[
        Path | None, typer.Option("--json", help="Also write the run as JSON.")
    ] = None,
) -> None:
    """Run the whole loop on real data with simulated reviewers (the project stays)."""
    check_output(json_path, "json")
    data = load_sms_spam() if dataset is None else load_labelled_csv(dataset)
    config = DemoConfig(
        rounds=rounds,
        seed_labels=seed_labels,
        reviewer_error_rate=reviewer_error_rate,
        auto_threshold=threshold,
        target_error=target_error or None,
        target_confidence=target_confidence,
        qa_sample=qa_sample,
        seed=seed,
    )
    started = time.perf_counter()
    with open_loopwise(ctx) as lw:
        name = project or unique_project_name(lw, f"demo-{data.name.replace('_', '-')}")
        console.print(
            f"[bold]loopwise demo[/]: {len(data)} texts from [cyan]{data.name}[/], labels "
            f"{', '.join(data.label_set)}; project [bold]{name}[/] in {lw.settings.database_url}"
        )
        table = Table(box=box.SIMPLE_HEAD, pad_edge=False, collapse_padding=True)
        for column in (
            "round",
            "thresh",
            "items",
            "auto",
            "dec acc",
            "model",
            "labels",
            "reviews",
            "to expert",
            "gate",
        ):
            table.add_column(column, justify="left" if column == "gate" else "right")
        with progress_bar() as progress:
            tasks: dict[str, TaskID] = {}

            def on_progress(phase: str, done: int, total: int) -> None:
                if phase not in tasks:
                    tasks[phase] = progress.add_task(phase, total=max(total, 1))
                progress.update(tasks[phase], completed=done, total=max(total, done, 1))

            def on_round(r: RoundResult) -> None:
                progress.console.print(
                    f"round {r.round}: {r.certificate}\n  {r.submitted} items, "
                    f"{r.automation_rate:.1%} automated, {r.reviews} reviewed, "
                    f"model accuracy {r.model_accuracy:.4f}, {_verdict(r)}",
                    soft_wrap=True,
                )

            result = run_demo(
                lw, data, config, project=name, progress=on_progress, on_round=on_round
            )
    result.seconds = round(time.perf_counter() - started, 2)
    table.add_row(
        "seed",
        "-",
        str(seed_labels),
        "-",
        "-",
        f"{result.seed_model_accuracy:.4f}",
        str(seed_labels),
        "-",
        "-",
        "",
    )
    for r in result.rounds:
        table.add_row(
            str(r.round),
            "none" if r.threshold is None else f"{r.threshold:.4f}",
            str(r.submitted),
            f"{r.automation_rate:.1%}",
            f"{r.decision_accuracy:.4f}",
            f"{r.model_accuracy:.4f}",
            str(r.labels),
            str(r.reviews),
            str(r.escalated),
            _verdict(r),
        )
    console.print(table)
    if any(r.al_accuracy is not None for r in result.rounds):
        active = Table(box=box.SIMPLE_HEAD, pad_edge=False, collapse_padding=True)
        for column in ("round", "AL picks", "AL acc", "random acc", "ahead"):
            active.add_column(column, justify="right")
        for r in result.rounds:
            if r.al_accuracy is None or r.random_accuracy is None:
                continue
            active.add_row(
                str(r.round),
                str(r.al_labels),
                f"{r.al_accuracy:.4f}",
                f"{r.random_accuracy:.4f}",
                f"{r.al_accuracy - r.random_accuracy:+.4f}",
            )
        console.print(active)
    console.print(
        "thresh: threshold in force (none: nothing certified, all reviewed); auto: share decided "
        "automatically; dec acc: accuracy of final decisions; model: production model's accuracy "
        "on the fixed test split; labels: resolved labels so far. Second table, active learning: "
        "AL picks: pool items the default strategy chose so far (the reviewers labelled them "
        "with the rest of the queue); AL acc / random acc: test accuracy of a model trained on "
        "the seed labels plus those picks, and plus as many drawn at random from the same pool.",
        soft_wrap=True,
        style="dim",
    )
    people = Table(box=box.SIMPLE_HEAD, pad_edge=False, collapse_padding=True)
    for column in ("reviewer", "role", "reviews", "sim error", "gold acc (95% CI)", "DS skill"):
        people.add_column(column, justify="left" if column in ("reviewer", "role") else "right")
    people.add_column("flag", justify="left")
    for person in result.reviewers:
        gold = (
            "-"
            if person["gold_accuracy"] is None
            else f"{person['gold_accuracy']:.0%} of {person['gold_answers']} "
            f"({person['gold_low']:.0%}-{person['gold_high']:.0%})"
        )
        skill = "-" if person["consensus_skill"] is None else f"{person['consensus_skill']:.3f}"
        people.add_row(
            person["reviewer"],
            person["role"],
            str(person["reviews"]),
            f"{person['error_rate']:.0%}",
            gold,
            skill,
            "flagged" if person["flagged"] else "",
        )
    console.print(people)
    alpha = "-" if result.agreement_alpha is None else f"{result.agreement_alpha:.3f}"
    console.print(
        f"Every task had {config.overlap} independent reviews, settled by Dawid-Skene; "
        f"disagreement went to the expert. Krippendorff's alpha {alpha}. DS skill: each "
        "reviewer's estimated reliability (higher = better); gold: accuracy on gold items "
        "served among their tasks.",
        soft_wrap=True,
        style="dim",
    )
    last = result.rounds[-1]
    console.print(
        f"Model accuracy on the fixed test split: {result.seed_model_accuracy:.4f} (seed) -> "
        f"{last.model_accuracy:.4f} (round {last.round}).\n"
        f"Items: {result.items_submitted} accepted, {result.items_decided} decided automatically, "
        f"{result.items_resolved} resolved by people or seed labels, {result.items_queued} queued, "
        f"[bold]{result.items_lost} lost[/]. {result.seconds:.1f} s."
    )
    if last.al_accuracy is not None and last.random_accuracy is not None:
        won = sum(
            1
            for r in result.rounds
            if r.al_accuracy is not None
            and r.random_accuracy is not None
            and r.al_accuracy > r.random_accuracy
        )
        console.print(
            f"Active learning: with {last.al_labels} pool items chosen by the default strategy, "
            f"test accuracy {last.al_accuracy:.4f} against {last.random_accuracy:.4f} with as many "
            f"chosen at random (ahead in {won} of {len(result.rounds)} rounds)."
        )
    console.print(
        f"The project [bold]{name}[/] stays in the database: `loopwise models list {name}`, "
        f"`loopwise labels export {name}`."
    )
    reviewer = config.reviewers[0]
    console.print(
        f"[bold]Open the web UI on it[/] ({result.items_queued} items wait for review):\n"
        f"  1. `loopwise serve` (leave it running) and open http://127.0.0.1:8000/ui/\n"
        f"  2. `loopwise tokens create {reviewer}` in another terminal and sign in with the "
        f"token it prints: {reviewer} reviews {name} with the keyboard (? lists the keys)\n"
        f"  3. `loopwise users create boss --role admin` and `loopwise tokens create boss` for "
        "the dashboard and the admin pages",
        soft_wrap=True,
    )
    if json_path is not None:
        with writing(json_path, "json"):
            json_path.write_text(json.dumps(result.to_json(), indent=2) + "\n", encoding="utf-8")
        console.print(f"wrote {json_path}")
