"""``Loopwise``: the Python API of the whole loop, one method per use case.

Each method is one transaction that writes its audit event; see the service modules for the
details of each.
"""

from __future__ import annotations

import dataclasses
import logging
from collections.abc import Iterator, Mapping, Sequence
from datetime import datetime
from typing import Any

from loopwise.core.active import ActiveLearningConfig
from loopwise.core.clock import Clock, SystemClock
from loopwise.core.entities import (
    AuditEvent,
    ModelVersion,
    Project,
    QueueEntry,
    Review,
    Reviewer,
    TrainingConfig,
)
from loopwise.core.enums import DEFAULT_ERROR_TAXONOMY, InputKind, Role, Stage, Verdict
from loopwise.core.policy import RoutingConfig
from loopwise.core.review import ReviewConfig
from loopwise.errors import EmptyPool, LoopwiseError
from loopwise.services import (
    answers,
    claim_keys,
    dashboard,
    gold,
    items,
    labels,
    models,
    pool,
    pool_listing,
    pool_removal,
    projects,
    quality,
    reviewers,
    reviews,
    routing,
    stats,
    undo,
    verdicts,
)
from loopwise.services.context import Context, ModelCache
from loopwise.settings import Settings
from loopwise.store import mappers
from loopwise.store.artifacts import ArtifactStore
from loopwise.store.db import ensure_schema, make_engine
from loopwise.training import TrainedModel

log = logging.getLogger(__name__)


class Loopwise:
    """The human-in-the-loop cycle over one database.

    Parameters
    ----------
    settings:
        Where the database and artifacts live; defaults read ``LOOPWISE_*`` variables.
    clock:
        Source of time (tests pass a frozen one).
    migrate:
        Bring the schema up to date on start (the default).
    """

    def __init__(
        self, settings: Settings | None = None, *, clock: Clock | None = None, migrate: bool = True
    ) -> None:
        self.settings = settings or Settings()
        engine = make_engine(
            self.settings.database_url,
            echo=self.settings.echo_sql,
            pool_size=self.settings.db_pool_size,
        )
        if migrate:
            try:
                ensure_schema(engine)
            except BaseException:
                engine.dispose()
                raise
        artifacts = ArtifactStore(self.settings.artifacts)
        self.ctx = Context(
            settings=self.settings,
            engine=engine,
            clock=clock or SystemClock(),
            artifacts=artifacts,
            models=ModelCache(artifacts),
        )

    def close(self) -> None:
        self.ctx.engine.dispose()

    def __enter__(self) -> Loopwise:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # projects
    def create_project(
        self,
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
        return projects.create_project(
            self.ctx,
            name,
            labels,
            input_kind=input_kind,
            feature_names=feature_names,
            routing=routing,
            training=training,
            error_taxonomy=error_taxonomy,
            guideline=guideline,
            review=review,
            actor=actor,
        )

    def project(self, name: str) -> Project:
        return projects.get_project(self.ctx, name)

    def set_training_config(
        self, project: str, config: TrainingConfig | Mapping[str, Any], *, actor: str = "admin"
    ) -> TrainingConfig:
        """Replace the training settings (held-out and golden shares, the promotion gate's
        metric and margin, the split seed); the split's settings only while there is no label
        (:func:`loopwise.services.projects.set_training_config`)."""
        return projects.set_training_config(self.ctx, project, config, actor=actor)

    def projects(self) -> list[Project]:
        return projects.list_projects(self.ctx)

    # items
    def submit(
        self, project: str, batch: Sequence[Any], *, actor: str = "client"
    ) -> list[items.Routed]:
        """Accept, predict and route a batch (see :func:`loopwise.services.items.submit_items`)."""
        return items.submit_items(self.ctx, project, batch, actor=actor)

    def check_rows(self, project: str, rows: Sequence[Any], *, use: items.RowsFor) -> None:
        """Validate rows for :meth:`submit` (``use="submit"``), :meth:`add_to_pool`
        (``"pool"``) or :meth:`import_labels` (``"labels"``) without writing (see
        :func:`loopwise.services.items.check_rows`): check a whole file this way before writing
        it batch by batch."""
        items.check_rows(self.ctx, project, rows, use=use)

    def item(self, project: str, external_id: str) -> items.ItemView:
        return items.get_item(self.ctx, project, external_id)

    # review
    def queue(
        self, project: str, *, stage: Stage | None = None, limit: int = 50, offset: int = 0
    ) -> list[QueueEntry]:
        return reviews.list_queue(self.ctx, project, stage=stage, limit=limit, offset=offset)

    def claim_next(
        self,
        project: str,
        reviewer: str,
        *,
        stage: Stage | str | None = None,
        claim_key: str | None = None,
    ) -> QueueEntry | None:
        """The best task ``reviewer`` may take, under a lease (see :func:`reviews.claim_next`);
        with a ``claim_key``, :meth:`release_claims` can give it back by that key."""
        return reviews.claim_next(
            self.ctx,
            project,
            reviewer,
            stage=None if stage is None else Stage(stage),
            claim_key=claim_key,
        )

    def release_claims(self, project: str, reviewer: str, keys: Sequence[str]) -> int:
        """Give back the tasks of ``reviewer``'s claims made with ``keys``, and make the claims
        not made yet take nothing (:func:`loopwise.services.claim_keys.release_claims`)."""
        return claim_keys.release_claims(self.ctx, project, reviewer, keys)

    def held_by(self, project: str, reviewer: str) -> list[QueueEntry]:
        """The tasks ``reviewer`` holds under a live lease (see :func:`reviews.held_by`)."""
        return reviews.held_by(self.ctx, project, reviewer)

    def heartbeat(self, project: str, task_id: int, reviewer: str) -> datetime:
        """Renew the lease on a held task; returns the new expiry."""
        return reviews.heartbeat(self.ctx, project, task_id, reviewer)

    def release(self, project: str, task_id: int, reviewer: str) -> None:
        reviews.release(self.ctx, project, task_id, reviewer)

    def submit_verdict(
        self,
        project: str,
        task_id: int,
        reviewer: str,
        verdict: Verdict | str,
        *,
        label: str | None = None,
        error_category: str | None = None,
        comment: str = "",
    ) -> answers.VerdictResult:
        """Approve, reject, correct, escalate or skip a held task (see
        :func:`loopwise.services.verdicts.submit_verdict`)."""
        return verdicts.submit_verdict(
            self.ctx,
            project,
            task_id,
            reviewer,
            verdict,
            label=label,
            error_category=error_category,
            comment=comment,
        )

    def undo(self, project: str, reviewer: str) -> Review:
        """Take back ``reviewer``'s last verdict within the project's undo window."""
        return undo.undo(self.ctx, project, reviewer)

    def reviews_of_item(self, item_id: int, *, viewer: str | None = None) -> list[Review]:
        return reviews.reviews_of_item(self.ctx, item_id, viewer=viewer)

    # people
    def add_reviewer(
        self,
        name: str,
        *,
        role: Role | str = Role.REVIEWER,
        tags: Sequence[str] = (),
        projects: Sequence[str] = (),
        max_open_tasks: int = 3,
        daily_limit: int | None = None,
        actor: str = "admin",
    ) -> Reviewer:
        """Register a reviewer, expert or admin as a member of ``projects``."""
        return reviewers.add_reviewer(
            self.ctx,
            name,
            role=role,
            tags=tags,
            projects=projects,
            max_open_tasks=max_open_tasks,
            daily_limit=daily_limit,
            actor=actor,
        )

    def add_member(self, project: str, reviewer: str, *, actor: str = "admin") -> Reviewer:
        return reviewers.add_member(self.ctx, project, reviewer, actor=actor)

    def update_reviewer(self, name: str, *, actor: str = "admin", **changes: Any) -> Reviewer:
        """Change ``role``, ``tags``, ``max_open_tasks``, ``daily_limit`` or ``active``."""
        return reviewers.update_reviewer(self.ctx, name, actor=actor, **changes)

    def reviewer(self, name: str) -> Reviewer:
        return reviewers.get_reviewer(self.ctx, name)

    def reviewers(self, project: str | None = None) -> list[Reviewer]:
        return reviewers.list_reviewers(self.ctx, project)

    def set_review_config(
        self, project: str, config: ReviewConfig | Mapping[str, Any], *, actor: str = "admin"
    ) -> ReviewConfig:
        """Replace the review workflow settings (overlap, SLAs, gold rate, undo window...)."""
        return projects.set_review_config(self.ctx, project, config, actor=actor)

    def add_gold_items(
        self, project: str, rows: Sequence[Mapping[str, Any]], *, actor: str = "admin"
    ) -> int:
        """Add gold (honeypot) items with known labels, served to reviewers at ``gold_rate``."""
        return gold.add_gold_items(self.ctx, project, rows, actor=actor)

    # quality of people's work
    def reviewer_quality(self, project: str) -> list[quality.ReviewerQuality]:
        """Gold accuracy with its interval, consensus skill and flags of every member."""
        return quality.reviewer_quality(self.ctx, project)

    def agreement(self, project: str, *, period: str = "day") -> quality.Agreement:
        """Krippendorff's alpha, Fleiss' kappa, per-label and per-pair agreement, over time."""
        return quality.agreement_report(self.ctx, project, period=period)

    def fatigue(self, project: str, *, bucket: int = 25) -> list[quality.FatigueBucket]:
        """Gold accuracy by position in the reviewer's session."""
        return quality.fatigue_report(self.ctx, project, bucket=bucket)

    # labels
    def import_labels(
        self, project: str, rows: Sequence[Mapping[str, Any]], *, actor: str = "import"
    ) -> int:
        return labels.import_labels(self.ctx, project, rows, actor=actor)

    def export_labels(self, project: str) -> Iterator[dict[str, Any]]:
        return labels.export_labels(self.ctx, project)

    def add_golden(
        self,
        project: str,
        external_id: str,
        label: str,
        *,
        reason: str = "added by hand",
        actor: str = "admin",
    ) -> None:
        labels.add_golden(self.ctx, project, external_id, label, reason=reason, actor=actor)

    # models
    def train(
        self,
        project: str,
        *,
        algorithm: str | None = None,
        estimator: Any = None,
        actor: str = "system",
    ) -> ModelVersion:
        """Train a candidate: a registered ``algorithm`` or any unfitted sklearn ``estimator``."""
        return models.train_candidate(
            self.ctx, project, algorithm=algorithm, estimator=estimator, actor=actor
        )

    def evaluate(self, project: str, version: int | None = None) -> models.EvaluationReport:
        return models.evaluate_candidate(self.ctx, project, version)

    def promote(
        self,
        project: str,
        version: int | None = None,
        *,
        force: bool = False,
        actor: str = "system",
    ) -> models.PromotionResult:
        """Promote a candidate (see :func:`loopwise.services.models.promote`). A promotion
        also queries the pool for a batch, with the new model, when the project's active
        learning says so (``requery_after_promotion``) and candidates wait; that query is
        ``result.query``. The promotion is committed before it: a query the project's settings
        make fail (``bait`` on thousands of TF-IDF columns, say) leaves the promotion standing,
        and ``result.query_error`` says why nothing was queued."""
        result = models.promote(self.ctx, project, version, force=force, actor=actor)
        if result.promoted and self.project(project).active_learning.requery_after_promotion:
            try:
                found = pool.query(self.ctx, project, actor=actor, up_to=True)
            except EmptyPool:  # nothing waits
                return result
            except LoopwiseError as exc:
                why = f"{exc.field}: {exc.message}" if exc.field else exc.message
                log.warning("the pool query after promoting in %r did not run: %s", project, why)
                return dataclasses.replace(result, query_error=why)
            result = dataclasses.replace(result, query=found)
        return result

    def rollback(self, project: str, *, actor: str = "system") -> ModelVersion:
        return models.rollback(self.ctx, project, actor=actor)

    def models(self, project: str) -> list[ModelVersion]:
        return models.list_models(self.ctx, project)

    def production_model(self, project: str) -> tuple[ModelVersion, TrainedModel] | None:
        return models.production_model(self.ctx, project)

    # active learning
    def add_to_pool(self, project: str, rows: Sequence[Any], *, actor: str = "client") -> int:
        """Add unlabelled candidates to the project's pool; how many were new (see
        :func:`loopwise.services.pool.add_to_pool`)."""
        return pool.add_to_pool(self.ctx, project, rows, actor=actor)

    def check_removal(self, project: str, candidates: Sequence[str | Mapping[str, Any]]) -> None:
        """Validate candidates for :meth:`remove_from_pool`, any number, writing nothing (see
        :func:`loopwise.services.pool_removal.check_removal`)."""
        pool_removal.check_removal(self.ctx, project, candidates)

    def pool_status(self, project: str) -> pool.PoolStatus:
        return pool.pool_status(self.ctx, project)

    def pool_candidates(
        self,
        project: str,
        *,
        state: pool_listing.PoolState | str = pool_listing.PoolState.WAITING,
        after: int | None = None,
        limit: int = 100,
    ) -> list[pool_listing.PoolCandidate]:
        """One page of the pool's candidates (``waiting``, ``chosen`` or ``all``), oldest
        first; the next is ``after`` the last one's ``id`` (see
        :func:`loopwise.services.pool_listing.list_pool`)."""
        return pool_listing.list_pool(self.ctx, project, state=state, after=after, limit=limit)

    def remove_from_pool(
        self,
        project: str,
        candidates: Sequence[str | Mapping[str, Any]] | None = None,
        *,
        everything: bool = False,
        actor: str = "client",
    ) -> pool_removal.PoolRemoval:
        """Remove waiting candidates (named by external id or payload), or ``everything``
        waiting, from the project's pool; a chosen one stays (see
        :func:`loopwise.services.pool_removal.remove_from_pool`)."""
        return pool_removal.remove_from_pool(
            self.ctx, project, candidates, everything=everything, actor=actor
        )

    def query(
        self,
        project: str,
        n: int | None = None,
        *,
        strategy: str | None = None,
        seed: int | None = None,
        actor: str = "system",
    ) -> pool.QueryResult:
        """Queue the ``n`` most informative candidates of the pool for review (see
        :func:`loopwise.services.pool.query`)."""
        return pool.query(self.ctx, project, n, strategy=strategy, seed=seed, actor=actor)

    def set_active_learning(
        self,
        project: str,
        config: ActiveLearningConfig | Mapping[str, Any],
        *,
        actor: str = "admin",
    ) -> ActiveLearningConfig:
        """Replace the project's active-learning settings (strategy, batch, exploration)."""
        given = config if isinstance(config, ActiveLearningConfig) else dict(config)
        return pool.set_active_learning(self.ctx, project, given, actor=actor)

    # routing
    def set_policy(
        self, project: str, policy: RoutingConfig | Mapping[str, Any] | str, *, actor: str = "admin"
    ) -> RoutingConfig:
        """Replace the routing policy (a RoutingConfig, a mapping, or YAML / JSON text)."""
        return routing.set_policy(self.ctx, project, policy, actor=actor)

    def recalibrate(self, project: str, *, actor: str = "system") -> routing.RoutingReport:
        """Refit calibration and the certified threshold for the production model now."""
        routing.recalibrate(self.ctx, project, actor=actor)
        return routing.routing_report(self.ctx, project)

    def routing_report(self, project: str) -> routing.RoutingReport:
        """The policy, calibration, certificate and how many items each tier and rule took."""
        return routing.routing_report(self.ctx, project)

    # numbers and records
    def stats(self, project: str) -> stats.ProjectStats:
        return stats.project_stats(self.ctx, project)

    def dashboard(self, project: str, *, period: str = "day") -> dashboard.Dashboard:
        """Every dashboard chart (automation, model accuracy, queue, latency, agreement,
        reviewers, errors, learning curve, calibration) as tables; ``period`` is ``"day"`` or
        ``"hour"`` (see :func:`loopwise.services.dashboard.dashboard`)."""
        return dashboard.dashboard(self.ctx, project, period=period)

    def audit_events(
        self,
        project: str | None = None,
        *,
        entity_type: str | None = None,
        entity_id: str | None = None,
    ) -> list[AuditEvent]:
        with self.ctx.read() as tx:
            project_id = None if project is None else tx.repo.project_by_name(project).id
            rows = tx.repo.audit_events(project_id, entity_type, entity_id)
            return [mappers.audit_event(r) for r in rows]
