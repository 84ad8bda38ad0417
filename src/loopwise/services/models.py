"""Use cases on models: train a candidate, evaluate it, promote it through the gate, roll back."""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass
from typing import Any

import numpy as np

from loopwise.core.entities import ModelVersion, Project
from loopwise.core.enums import ModelStage
from loopwise.core.policy import OODSpec
from loopwise.errors import ModelVersionNotFound, NotEnoughLabels, PromotionRefused
from loopwise.scoring.ood import make_detector
from loopwise.services.context import Context, Tx, retry_on_conflict
from loopwise.services.datasets import DataSets, LabelledSet, load_datasets
from loopwise.services.pool import QueryResult
from loopwise.services.routing import fit_calibration
from loopwise.store import mappers
from loopwise.store.tables import ModelVersionRow
from loopwise.training import (
    Evaluation,
    GateResult,
    TrainedModel,
    evaluate,
    fit_model,
    model_inputs,
    promotion_gate,
)
from loopwise.training.features import model_features


@retry_on_conflict
def _register(
    ctx: Context, project: Project, model: TrainedModel, data: DataSets, actor: str
) -> ModelVersionRow:
    """Store the fitted model's artifact and its version row; a lost race on the version number
    discards the file and is retried with the next number."""
    path = ""
    try:
        with ctx.write() as tx:
            version = tx.repo.next_model_version(project.id)
            path, digest = ctx.artifacts.save(model, project.id, version)
            row = ModelVersionRow(
                project_id=project.id,
                version=version,
                algorithm=model.algorithm,
                artifact_path=path,
                sha256=digest,
                metrics={
                    "train": {"n": len(data.train), "classes": dict(Counter(data.train.targets))},
                },
                stage=ModelStage.CANDIDATE.value,
                trained_on=len(data.train),
                rolled_back=False,
                created_at=tx.now,
            )
            tx.repo.add(row)
            tx.audit(
                actor=actor,
                action="model.trained",
                entity_type="model_version",
                entity_id=row.id,
                project_id=project.id,
                after={
                    "version": version,
                    "algorithm": model.algorithm,
                    "sha256": digest,
                    "trained_on": len(data.train),
                },
            )
    except BaseException:
        if path:
            ctx.artifacts.discard(path)
        raise
    return row


def _fit_ood(project: Project, model: TrainedModel, payloads: list[dict[str, Any]]) -> Any:
    """The policy's out-of-distribution detector fitted on the model's training features
    (the default k-NN one when the policy has the check off, so turning it on needs no
    retraining)."""
    spec = project.routing.ood or OODSpec()
    if len(payloads) < 20:
        return None
    features = model_features(model, model_inputs(project.input_kind, payloads))
    return make_detector(spec.method, quantile=spec.quantile).fit(features)


def train_candidate(
    ctx: Context,
    project_name: str,
    *,
    algorithm: str | None = None,
    estimator: Any = None,
    actor: str = "system",
) -> ModelVersion:
    """Fit a candidate on every resolved training label and register it (stage ``candidate``).

    ``algorithm`` names a registered estimator (default by input kind); ``estimator`` is any
    unfitted scikit-learn-compatible classifier with ``predict_proba``, cloned before fitting.
    """
    with ctx.read() as tx:
        project = mappers.project(tx.repo.project_by_name(project_name))
        data = load_datasets(tx, project)
    if len(data.train) == 0:
        raise NotEnoughLabels("no resolved training labels yet")
    model = fit_model(
        algorithm,
        project.input_kind,
        model_inputs(project.input_kind, data.train.payloads),
        data.train.targets,
        project.labels,
        sample_weight=None if len(set(data.train.weights)) <= 1 else data.train.weights,
        estimator=estimator,
    )
    model.ood = _fit_ood(project, model, data.train.payloads)
    row = _register(ctx, project, model, data, actor)
    ctx.models.put(row.id, model)
    return mappers.model_version(row)


@dataclass(frozen=True)
class EvaluationReport:
    """A candidate judged against production on the held-out and golden sets."""

    candidate: ModelVersion
    production: ModelVersion | None
    holdout: Evaluation
    production_holdout: Evaluation | None
    golden: Evaluation
    production_golden: Evaluation | None
    gate: GateResult

    def to_json(self) -> dict[str, Any]:
        return {
            "candidate": self.candidate.version,
            "production": None if self.production is None else self.production.version,
            "holdout": {
                "candidate": self.holdout.to_json(),
                "production": None
                if self.production_holdout is None
                else self.production_holdout.to_json(),
            },
            "golden": {
                "candidate": self.golden.to_json(),
                "production": None
                if self.production_golden is None
                else self.production_golden.to_json(),
            },
            "gate": self.gate.to_json(),
        }


def _score(model: TrainedModel, project: Project, data: LabelledSet) -> Evaluation:
    targets = np.asarray([project.labels.index(t) for t in data.targets], dtype=np.int64)
    probs = model.predict_proba(model_inputs(project.input_kind, data.payloads))
    return evaluate(probs, targets)


def _candidate_row(tx: Tx, project: Project, version: int | None) -> ModelVersionRow:
    if version is None:
        rows = [
            r for r in tx.repo.model_versions(project.id) if r.stage == ModelStage.CANDIDATE.value
        ]
        if not rows:
            raise ModelVersionNotFound(
                f"project {project.name!r} has no candidate model", field="version"
            )
        return rows[-1]
    row = tx.repo.model_version(project.id, version)
    if row is None:
        raise ModelVersionNotFound(
            f"project {project.name!r} has no model version {version}", field="version"
        )
    return row


def _report(ctx: Context, tx: Tx, project: Project, candidate: ModelVersionRow) -> EvaluationReport:
    data = load_datasets(tx, project)
    production = tx.repo.production_model(project.id)
    if production is not None and production.id == candidate.id:
        production = None
    cand_model = ctx.models.get(candidate)
    holdout = _score(cand_model, project, data.holdout)
    golden = _score(cand_model, project, data.golden)
    prod_holdout = prod_golden = None
    if production is not None:
        prod_model = ctx.models.get(production)
        prod_holdout = _score(prod_model, project, data.holdout)
        prod_golden = _score(prod_model, project, data.golden)
    counts = Counter(data.holdout.targets)
    majority = max(counts.values()) / len(data.holdout) if counts else 0.0
    gate = promotion_gate(
        holdout,
        prod_holdout,
        candidate_golden=golden,
        production_golden=prod_golden,
        majority_share=majority,
        config=project.training,
    )
    return EvaluationReport(
        candidate=mappers.model_version(candidate),
        production=None if production is None else mappers.model_version(production),
        holdout=holdout,
        production_holdout=prod_holdout,
        golden=golden,
        production_golden=prod_golden,
        gate=gate,
    )


def evaluate_candidate(
    ctx: Context, project_name: str, version: int | None = None
) -> EvaluationReport:
    """Judge a candidate (the newest by default) against production on held-out and golden sets."""
    with ctx.read() as tx:
        project = mappers.project(tx.repo.project_by_name(project_name))
        return _report(ctx, tx, project, _candidate_row(tx, project, version))


@dataclass(frozen=True)
class PromotionResult:
    promoted: bool
    report: EvaluationReport
    forced: bool = False
    query: QueryResult | None = None
    """The active-learning query the promotion set off, if any (see ``Loopwise.promote``)."""
    query_error: str | None = None
    """Why that query did not run (``field: message``), when it was refused: the promotion
    stands all the same."""


@retry_on_conflict
def promote(
    ctx: Context,
    project_name: str,
    version: int | None = None,
    *,
    force: bool = False,
    actor: str = "system",
) -> PromotionResult:
    """Make a candidate production if the gate agrees (or ``force``); record the verdict either way.

    A refused candidate is archived with the gate's reasons, so it cannot be promoted by mistake
    later without ``force``.
    """
    with ctx.write() as tx:
        project = mappers.project(tx.repo.project_by_name(project_name))
        candidate = _candidate_row(tx, project, version)
        if candidate.stage == ModelStage.PRODUCTION.value:
            raise PromotionRefused(
                f"version {candidate.version} is production already", field="version"
            )
        if candidate.stage != ModelStage.CANDIDATE.value and not force:
            raise PromotionRefused(
                f"version {candidate.version} is {candidate.stage}; promote it with force",
                field="version",
            )
        report = _report(ctx, tx, project, candidate)
        promoted = report.gate.promote or force
        previous = tx.repo.production_model(project.id)
        candidate.metrics = {**candidate.metrics, "evaluation": report.to_json()}
        if promoted:
            if previous is not None:
                previous.stage = ModelStage.ARCHIVED.value
                tx.session.flush()
            candidate.stage = ModelStage.PRODUCTION.value
            candidate.promoted_at = tx.now
            candidate.rolled_back = False
            tx.session.flush()
            fit_calibration(ctx, tx, project, candidate, actor)
        else:
            candidate.stage = ModelStage.ARCHIVED.value
        tx.session.flush()
        tx.audit(
            actor=actor,
            action="model.promoted" if promoted else "model.promotion_refused",
            entity_type="model_version",
            entity_id=candidate.id,
            project_id=project.id,
            before={"production": None if previous is None else previous.version},
            after={
                "production": candidate.version
                if promoted
                else (None if previous is None else previous.version),
                "forced": force and not report.gate.promote,
                "gate": report.gate.to_json(),
            },
        )
        return PromotionResult(
            promoted=promoted, report=report, forced=force and not report.gate.promote
        )


@retry_on_conflict
def rollback(ctx: Context, project_name: str, *, actor: str = "system") -> ModelVersion:
    """Put back the version that was production before the current one."""
    with ctx.write() as tx:
        project = mappers.project(tx.repo.project_by_name(project_name))
        current = tx.repo.production_model(project.id)
        if current is None:
            raise PromotionRefused(f"project {project.name!r} has no production model to roll back")
        earlier = [
            r
            for r in tx.repo.model_versions(project.id)
            if r.id != current.id
            and r.promoted_at is not None
            and not r.rolled_back
            and r.stage == ModelStage.ARCHIVED.value
        ]
        if not earlier:
            raise PromotionRefused(f"project {project.name!r} has no earlier production model")
        target = max(earlier, key=lambda r: (r.promoted_at, r.version))
        current.stage = ModelStage.ARCHIVED.value
        current.rolled_back = True
        tx.session.flush()
        target.stage = ModelStage.PRODUCTION.value
        tx.session.flush()
        tx.audit(
            actor=actor,
            action="model.rolled_back",
            entity_type="model_version",
            entity_id=target.id,
            project_id=project.id,
            before={"production": current.version},
            after={"production": target.version},
        )
        return mappers.model_version(target)


def list_models(ctx: Context, project_name: str) -> list[ModelVersion]:
    with ctx.read() as tx:
        project = tx.repo.project_by_name(project_name)
        return [mappers.model_version(r) for r in tx.repo.model_versions(project.id)]


def production_model(ctx: Context, project_name: str) -> tuple[ModelVersion, TrainedModel] | None:
    """The production version and its loaded (checksum-verified) model, if there is one."""
    with ctx.read() as tx:
        project = tx.repo.project_by_name(project_name)
        row = tx.repo.production_model(project.id)
        if row is None:
            return None
        return mappers.model_version(row), ctx.models.get(row)
