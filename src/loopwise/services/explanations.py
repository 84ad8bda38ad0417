"""Why the production model leans the way it does on one item: the words (or columns) that
pushed it, for the review page's highlighting. Read-only; see
:mod:`loopwise.training.explain` for what a contribution means."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from loopwise.core.enums import InputKind
from loopwise.services.context import Context
from loopwise.store import mappers
from loopwise.training.explain import Contribution, contributions
from loopwise.training.models import model_inputs


@dataclass(frozen=True, slots=True)
class Explanation:
    """The contributions of ``model_version`` (the production model) towards ``label``."""

    model_version: int
    label: str
    contributions: tuple[Contribution, ...]


def explain(
    ctx: Context, project_name: str, payload: dict[str, Any], label: str | None, *, top: int = 8
) -> Explanation | None:
    """What pushed the production model towards ``label`` on ``payload``; ``None`` without a
    production model, without a label, or for a model with no linear attribution."""
    if label is None:
        return None
    with ctx.read() as tx:
        row = tx.repo.project_by_name(project_name)
        project = mappers.project(row)
        model_row = tx.repo.production_model(row.id)
        if model_row is None:
            return None
        version = model_row.version
        model = ctx.models.get(model_row)
    names = project.feature_names if project.input_kind is InputKind.TABULAR else ()
    found = contributions(
        model, model_inputs(project.input_kind, [payload]), label, top=top, feature_names=names
    )
    if not found:
        return None
    return Explanation(version, label, tuple(found))
