"""``loopwise routing show|set|recalibrate|report``: the routing policy and its evidence."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated

import typer
from rich.table import Table

from loopwise.cli.charts import reliability_svg
from loopwise.cli.common import (
    ProjectArg,
    check_output,
    console,
    handle_errors,
    open_loopwise,
    writing,
)
from loopwise.core.policy import dump_policy
from loopwise.errors import InvalidInput
from loopwise.services.routing import RoutingReport

routing_app = typer.Typer(
    help="Routing policy, calibration and certified thresholds.", no_args_is_help=True
)


@routing_app.command("show")
@handle_errors
def routing_show(ctx: typer.Context, project: ProjectArg) -> None:
    """Print the project's routing policy as YAML."""
    with open_loopwise(ctx) as lw:
        console.print(dump_policy(lw.project(project).routing), end="", highlight=False)


@routing_app.command("set")
@handle_errors
def routing_set(
    ctx: typer.Context,
    project: ProjectArg,
    path: Annotated[Path, typer.Argument(help="Policy file, YAML or JSON.", dir_okay=False)],
) -> None:
    """Replace the routing policy with a file's (validated; errors name the line)."""
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise InvalidInput(f"cannot be read: {exc.strerror}", field=str(path)) from None
    with open_loopwise(ctx) as lw:
        config = lw.set_policy(project, text, actor="cli")
        console.print(f"policy version {config.version} in force for {project}")


@routing_app.command("recalibrate")
@handle_errors
def routing_recalibrate(ctx: typer.Context, project: ProjectArg) -> None:
    """Refit calibration and the certified threshold on the verified labels now."""
    with open_loopwise(ctx) as lw:
        _print_report(lw.recalibrate(project, actor="cli"))


@routing_app.command("report")
@handle_errors
def routing_report(
    ctx: typer.Context,
    project: ProjectArg,
    json_path: Annotated[Path | None, typer.Option("--json", help="Also write it as JSON.")] = None,
    svg_path: Annotated[
        Path | None, typer.Option("--svg", help="Write the reliability diagram as SVG.")
    ] = None,
) -> None:
    """Threshold, certified bound, calibration error, automation-vs-error curve, rule counts."""
    check_output(json_path, "json")
    check_output(svg_path, "svg")
    with open_loopwise(ctx) as lw:
        report = lw.routing_report(project)
    _print_report(report)
    if json_path is not None:
        with writing(json_path, "json"):
            json_path.write_text(json.dumps(report.to_json(), indent=2) + "\n", encoding="utf-8")
        console.print(f"wrote {json_path}")
    if svg_path is not None:
        if report.calibration is None:
            raise InvalidInput("no calibration yet: promote a model first", field="svg")
        svg = reliability_svg(
            report.calibration["reliability_before"],
            report.calibration["reliability_after"],
            title=f"{project}: reliability, model v{report.model_version}",
        )
        with writing(svg_path, "svg"):
            svg_path.write_text(svg, encoding="utf-8")
        console.print(f"wrote {svg_path}")


def _print_report(report: RoutingReport) -> None:
    policy = report.policy
    console.print(f"[bold]policy v{policy.version}[/], production model v{report.model_version}")
    if policy.target_error is not None:
        text = "no certificate yet" if report.certificate is None else report.certificate.explain()
        console.print(
            f"target: error <= {policy.target_error:.1%} at {policy.target_confidence:.0%}: {text}",
            soft_wrap=True,
        )
    else:
        console.print(f"fixed threshold {policy.auto_threshold} on calibrated confidence")
    calibration = report.calibration
    if calibration is not None:
        console.print(
            f"calibration {calibration['method']} on {calibration['verified']} verified items: "
            f"ECE {calibration['ece_before']:.4f} -> {calibration['ece_after']:.4f}"
        )
        curve = Table(
            "threshold", "automation", "error", title="automation vs error (verified items)"
        )
        for point in calibration["curve"][::5]:
            curve.add_row(
                f"{point['threshold']:.2f}", f"{point['automation']:.1%}", f"{point['error']:.2%}"
            )
        console.print(curve)
        bins = Table(
            "confidence", "items", "mean conf.", "accuracy", title="reliability (calibrated)"
        )
        for b in calibration["reliability_after"]:
            if b["count"]:
                bins.add_row(
                    f"{b['low']:.1f}-{b['high']:.1f}",
                    str(b["count"]),
                    f"{b['confidence']:.3f}",
                    f"{b['accuracy']:.3f}",
                )
        console.print(bins)
    counts = Table("tier / rule", "items", title="where routed items went")
    for name, count in sorted(report.tiers.items()):
        counts.add_row(f"tier {name}", str(count))
    for name, count in sorted(report.rules.items(), key=lambda kv: -kv[1]):
        counts.add_row(name, str(count))
    console.print(counts)
    if report.qa_accuracy is not None:
        console.print(f"QA sample: {report.qa_checked} checked, accuracy {report.qa_accuracy:.2%}")
