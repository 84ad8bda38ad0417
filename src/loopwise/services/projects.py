"""Use cases on projects: create, read, list."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from loopwise.core.entities import Project, TrainingConfig
from loopwise.core.enums import DEFAULT_ERROR_TAXONOMY, InputKind
from loopwise.core.payloads import validate_label_set
from loopwise.core.policy import RoutingConfig, load_policy, parse_policy
from loopwise.core.review import ReviewConfig, parse_review_config
from loopwise.core.training_config import SPLIT_SETTINGS, parse_training
from loopwise.errors import Conflict, DuplicateProject, InvalidInput
from loopwise.services.context import Context, retry_on_conflict
from loopwise.store import mappers
from loopwise.store.tables import ProjectRow

MAX_NAME = 100


def _check_name(name: object) -> str:
    if not isinstance(name, str) or not name.strip():
        raise InvalidInput("must be a non-empty string", field="name")
    if len(name) > MAX_NAME:
        raise InvalidInput(f"is {len(name)} characters; at most {MAX_NAME}", field="name")
    return name


def _routing(
    routing: RoutingConfig | Mapping[str, Any] | str | None, labels: Sequence[str]
) -> RoutingConfig:
    """The policy from a RoutingConfig, a mapping or YAML / JSON text; errors say ``routing.``."""
    try:
        if routing is None:
            return RoutingConfig()
        if isinstance(routing, str):
            return load_policy(routing, labels)
        data = routing.to_json() if isinstance(routing, RoutingConfig) else dict(routing)
        return parse_policy(data, labels)
    except InvalidInput as exc:
        raise InvalidInput(exc.message, field=f"routing.{exc.field}") from None


@retry_on_conflict
def create_project(
    ctx: Context,
    name: str,
    labels: Sequence[str],
    *,
    input_kind: InputKind | str = InputKind.TEXT,
    feature_names: Sequence[str] = (),
    routing: RoutingConfig | Mapping[str, Any] | str | None = None,
    training: TrainingConfig | Mapping[str, Any] | None = None,
    error_taxonomy: Sequence[str] = DEFAULT_ERROR_TAXONOMY,
    guideline: str = "",
    review: ReviewConfig | Mapping[str, Any] | None = None,
    actor: str = "system",
) -> Project:
    """Create a project with its label set, input kind, routing policy and review workflow."""
    name = _check_name(name)
    label_set = validate_label_set(labels)
    try:
        kind = InputKind(input_kind)
    except ValueError:
        raise InvalidInput(
            f"{input_kind!r} is not one of {[k.value for k in InputKind]}", field="input_kind"
        ) from None
    features = tuple(feature_names)
    if kind is InputKind.TABULAR:
        if not features or any(not isinstance(f, str) or not f for f in features):
            raise InvalidInput("a tabular project needs its feature names", field="feature_names")
        if len(set(features)) != len(features):
            raise InvalidInput("feature names must be distinct", field="feature_names")
    elif features:
        raise InvalidInput("only tabular projects have feature names", field="feature_names")
    config = _routing(routing, label_set)
    review_config = parse_review_config({} if review is None else review)
    training = parse_training({} if training is None else training)
    taxonomy = tuple(error_taxonomy)
    if len(set(taxonomy)) != len(taxonomy) or any(
        not isinstance(t, str) or not t for t in taxonomy
    ):
        raise InvalidInput("must be distinct non-empty strings", field="error_taxonomy")
    with ctx.write() as tx:
        if tx.repo.project_exists(name):
            raise DuplicateProject(f"a project named {name!r} exists already", field="name")
        row = ProjectRow(
            name=name,
            labels=list(label_set),
            input_kind=kind.value,
            feature_names=list(features),
            routing=config.to_json(),
            training=training.to_json(),
            error_taxonomy=list(taxonomy),
            guideline=guideline,
            review=review_config.to_json(),
            created_at=tx.now,
        )
        tx.repo.add(row)
        project = mappers.project(row)
        tx.audit(
            actor=actor,
            action="project.created",
            entity_type="project",
            entity_id=row.id,
            project_id=row.id,
            after={
                "name": name,
                "labels": list(label_set),
                "input_kind": kind.value,
                "routing": config.to_json(),
                "training": training.to_json(),
                "review": review_config.to_json(),
            },
        )
    return project


def set_review_config(
    ctx: Context,
    name: str,
    review: ReviewConfig | Mapping[str, Any],
    *,
    actor: str = "admin",
) -> ReviewConfig:
    """Replace a project's review workflow settings (overlap, SLAs, gold rate, ...)."""
    config = parse_review_config(
        dict(review)
        if isinstance(review, Mapping) and not isinstance(review, ReviewConfig)
        else review
    )
    with ctx.write() as tx:
        row = tx.repo.project_by_name(name, lock=True)
        before = dict(row.review)
        row.review = config.to_json()
        tx.session.flush()
        tx.audit(
            actor=actor,
            action="project.review_config_changed",
            entity_type="project",
            entity_id=row.id,
            project_id=row.id,
            before=before,
            after=config.to_json(),
        )
    return config


def set_training_config(
    ctx: Context,
    name: str,
    training: TrainingConfig | Mapping[str, Any],
    *,
    actor: str = "admin",
) -> TrainingConfig:
    """Replace a project's training settings (a setting left out takes its default), audited
    (``project.training_changed``).

    ``golden_share``, ``metric`` and ``min_improvement`` may change at any time: they act on
    the corrections and the promotions to come. ``holdout_share`` and ``split_seed`` decide on
    which side of the held-out split each label falls; they may change only while the project
    has no label, as a label written again after a change could move to the other side, and a
    model trained on it would then be judged on it.

    Raises
    ------
    InvalidInput
        A setting at fault (``field``: ``training.<setting>``).
    Conflict
        ``holdout_share`` or ``split_seed`` changed on a project with labels.
    """
    config = parse_training(training)
    with ctx.write() as tx:
        row = tx.repo.project_by_name(name, lock=True)
        before = TrainingConfig.from_json(row.training)
        moved = [s for s in SPLIT_SETTINGS if getattr(before, s) != getattr(config, s)]
        if moved and tx.repo.has_labels(row.id):
            raise Conflict(
                f"is fixed once the project has labels (it is {getattr(before, moved[0])!r}): "
                "changing it would move labels between the held-out and training sets",
                field=f"training.{moved[0]}",
            )
        row.training = config.to_json()
        tx.session.flush()
        tx.audit(
            actor=actor,
            action="project.training_changed",
            entity_type="project",
            entity_id=row.id,
            project_id=row.id,
            before=before.to_json(),
            after=config.to_json(),
        )
    return config


def get_project(ctx: Context, name: str) -> Project:
    with ctx.read() as tx:
        return mappers.project(tx.repo.project_by_name(name))


def list_projects(ctx: Context) -> list[Project]:
    with ctx.read() as tx:
        return [mappers.project(row) for row in tx.repo.projects()]
