"""Use cases on projects: create, read, list."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from loopwise.core.entities import Project, TrainingConfig
from loopwise.core.enums import DEFAULT_ERROR_TAXONOMY, InputKind
from loopwise.core.payloads import validate_label_set
from loopwise.core.policy import RoutingConfig, load_policy, parse_policy
from loopwise.core.review import ReviewConfig, parse_review_config
from loopwise.errors import DuplicateProject, InvalidInput
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


def _check_training(config: TrainingConfig) -> None:
    for name in ("holdout_share", "golden_share"):
        value = getattr(config, name)
        if not 0.0 <= value < 1.0:
            raise InvalidInput("must be in [0, 1)", field=f"training.{name}")
    if config.metric not in ("accuracy", "macro_f1"):
        raise InvalidInput("must be 'accuracy' or 'macro_f1'", field="training.metric")
    seed = config.split_seed
    if seed is not None and (isinstance(seed, bool) or not isinstance(seed, int)):
        raise InvalidInput("must be an integer or null", field="training.split_seed")


@retry_on_conflict
def create_project(
    ctx: Context,
    name: str,
    labels: Sequence[str],
    *,
    input_kind: InputKind | str = InputKind.TEXT,
    feature_names: Sequence[str] = (),
    routing: RoutingConfig | Mapping[str, Any] | str | None = None,
    training: TrainingConfig | None = None,
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
    training = training or TrainingConfig()
    _check_training(training)
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


def get_project(ctx: Context, name: str) -> Project:
    with ctx.read() as tx:
        return mappers.project(tx.repo.project_by_name(name))


def list_projects(ctx: Context) -> list[Project]:
    with ctx.read() as tx:
        return [mappers.project(row) for row in tx.repo.projects()]
