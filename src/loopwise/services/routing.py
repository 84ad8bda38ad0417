"""Use cases of routing: calibrate and certify on verified labels, change the policy, report.

The calibration set is every human-verified label in the held-out split (never trained on) that
is not in the golden set, scored by the production model. The certified threshold is computed
on the model's own confidence, so calibration fitted on the same items cannot bias it; the
calibrated confidence is what people see and what fixed and per-class thresholds compare to.
The guarantee assumes verified items are representative of live traffic: imported ground truth
and QA samples are; items people reviewed because the model was unsure are harder than average,
which makes the certificate conservative rather than optimistic.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np
from sqlalchemy import func, select

from loopwise.core.entities import Project
from loopwise.core.enums import DecisionOrigin, LabelSplit
from loopwise.core.policy import RoutingConfig, load_policy, parse_policy
from loopwise.errors import NoProductionModel
from loopwise.routing.risk import Certificate, automation_error_curve, certify_threshold
from loopwise.scoring.calibration import (
    Calibrator,
    calibrator_from_json,
    expected_calibration_error,
    make_calibrator,
    reliability_bins,
)
from loopwise.services.context import Context, Tx, retry_on_conflict
from loopwise.services.datasets import load_datasets
from loopwise.store import mappers
from loopwise.store.tables import (
    CalibrationRow,
    DecisionRow,
    LabelRow,
    ModelVersionRow,
    PredictionRow,
    ProjectRow,
)
from loopwise.training.models import model_inputs

MIN_TO_CALIBRATE = 30
"""Fewer verified items than this and probabilities are left as the model gives them."""
RECALIBRATE_GROWTH = 0.1
"""Recalibrate when the verified set has grown by this share (and at least 10 items)."""


@dataclass(frozen=True)
class RoutingState:
    """What routing needs beyond the policy: the calibration in force and its certificate."""

    calibration_id: int | None
    calibrator: Calibrator
    certificate: Certificate | None


def certificate_from_json(data: dict[str, Any] | None) -> Certificate | None:
    if not data:
        return None
    threshold = data.get("threshold")
    return Certificate(
        alpha=float(data["alpha"]),
        delta=float(data["delta"]),
        threshold=float("inf") if threshold is None else float(threshold),
        bound=float(data["bound"]),
        n=int(data["n"]),
        selected=int(data["selected"]),
        errors=int(data["errors"]),
        automation=float(data["automation"]),
        needed=int(data["needed"]),
    )


def latest_calibration(tx: Tx, model_version_id: int) -> CalibrationRow | None:
    return tx.session.scalar(
        select(CalibrationRow)
        .where(CalibrationRow.model_version_id == model_version_id)
        .order_by(CalibrationRow.id.desc())
        .limit(1)
    )


def verified_count(tx: Tx, project_id: int) -> int:
    return int(
        tx.session.scalar(
            select(func.count())
            .select_from(LabelRow)
            .where(LabelRow.project_id == project_id, LabelRow.split == LabelSplit.HOLDOUT.value)
        )
        or 0
    )


def fit_calibration(
    ctx: Context, tx: Tx, project: Project, model_row: ModelVersionRow, actor: str
) -> CalibrationRow:
    """Calibrate the model on the verified held-out labels and certify the policy's target."""
    data = load_datasets(tx, project).holdout
    config = project.routing
    targets = np.asarray([project.labels.index(t) for t in data.targets], dtype=np.int64)
    probs = ctx.models.get(model_row).predict_proba(model_inputs(project.input_kind, data.payloads))
    n = len(targets)
    method = config.calibration if n >= MIN_TO_CALIBRATE else "none"
    calibrator = make_calibrator(method)
    if n:
        calibrator.fit(probs, targets)
    calibrated = calibrator.transform(probs) if n else probs
    correct = probs.argmax(axis=1) == targets
    certificate = None
    if config.target_error is not None:
        certificate = certify_threshold(
            probs.max(axis=1) if n else np.zeros(0),
            correct,
            alpha=config.target_error,
            delta=config.delta,
        )
    report = {
        "verified": n,
        "accuracy": float(correct.mean()) if n else None,
        "ece_before": expected_calibration_error(probs, targets),
        "ece_after": expected_calibration_error(calibrated, targets),
        "reliability_before": reliability_bins(probs, targets),
        "reliability_after": reliability_bins(calibrated, targets),
        "curve": automation_error_curve(
            probs.max(axis=1) if n else np.zeros(0), correct, np.round(np.linspace(0.5, 1.0, 51), 3)
        ),
    }
    row = CalibrationRow(
        project_id=project.id,
        model_version_id=model_row.id,
        policy_version=config.version,
        method=method,
        state=calibrator.to_json(),
        certificate=None if certificate is None else certificate.to_json(),
        report=report,
        verified=verified_count(tx, project.id),
        created_at=tx.now,
    )
    tx.repo.add(row)
    tx.audit(
        actor=actor,
        action="routing.recalibrated",
        entity_type="model_version",
        entity_id=model_row.id,
        project_id=project.id,
        after={
            "model_version": model_row.version,
            "calibration": method,
            "verified": n,
            "ece_before": report["ece_before"],
            "ece_after": report["ece_after"],
            "certificate": None if certificate is None else certificate.to_json(),
        },
    )
    return row


def routing_state(
    ctx: Context, tx: Tx, project: Project, model_row: ModelVersionRow | None
) -> RoutingState:
    """The calibration in force for ``model_row``, refitted first when it is missing, made for
    another policy version, or the verified set has grown enough since.

    Asked on every submit: one query reads the latest calibration's state (not its report)
    together with the current number of verified labels."""
    if model_row is None:
        return RoutingState(None, calibrator_from_json(None), None)
    verified = (
        select(func.count())
        .select_from(LabelRow)
        .where(LabelRow.project_id == project.id, LabelRow.split == LabelSplit.HOLDOUT.value)
        .scalar_subquery()
        .label("verified_now")
    )
    latest = tx.session.execute(
        select(
            CalibrationRow.id,
            CalibrationRow.policy_version,
            CalibrationRow.verified,
            CalibrationRow.state,
            CalibrationRow.certificate,
            verified,
        )
        .where(CalibrationRow.model_version_id == model_row.id)
        .order_by(CalibrationRow.id.desc())
        .limit(1)
    ).first()
    if (
        latest is None
        or latest.policy_version != project.routing.version
        or latest.verified_now - latest.verified >= max(10, RECALIBRATE_GROWTH * latest.verified)
    ):
        row = fit_calibration(ctx, tx, project, model_row, "system")
        calibration_id, state, certificate = row.id, row.state, row.certificate
    else:
        calibration_id, state, certificate = latest.id, latest.state, latest.certificate
    return RoutingState(
        calibration_id,
        calibrator_from_json(state),
        certificate_from_json(certificate) if project.routing.target_error is not None else None,
    )


@retry_on_conflict
def recalibrate(ctx: Context, project_name: str, *, actor: str = "system") -> CalibrationRow:
    """Refit calibration and the certified threshold for the production model now."""
    with ctx.write() as tx:
        project = mappers.project(tx.repo.project_by_name(project_name))
        model_row = tx.repo.production_model(project.id)
        if model_row is None:
            raise NoProductionModel(
                f"project {project_name!r} has no production model to calibrate"
            )
        return fit_calibration(ctx, tx, project, model_row, actor)


@retry_on_conflict
def set_policy(
    ctx: Context,
    project_name: str,
    policy: RoutingConfig | Mapping[str, Any] | str,
    *,
    actor: str = "admin",
) -> RoutingConfig:
    """Replace the project's routing policy (a RoutingConfig, a mapping, or YAML / JSON text).

    The version goes up by one; the change is audited with the old and new policy; with a
    production model the calibration and certificate are refitted in the same transaction.
    """
    with ctx.write() as tx:
        row = tx.repo.project_by_name(project_name, lock=True)
        project = mappers.project(row)
        version = project.routing.version + 1
        if isinstance(policy, str):
            config = load_policy(policy, project.labels, version=version)
        else:
            data = policy.to_json() if isinstance(policy, RoutingConfig) else dict(policy)
            config = parse_policy({**data, "version": version}, project.labels)
        before = project.routing.to_json()
        row.routing = config.to_json()
        tx.session.flush()
        tx.audit(
            actor=actor,
            action="project.policy_changed",
            entity_type="project",
            entity_id=row.id,
            project_id=row.id,
            before=before,
            after=config.to_json(),
        )
        model_row = tx.repo.production_model(row.id)
        if model_row is not None:
            fit_calibration(ctx, tx, mappers.project(row), model_row, actor)
        return config


@dataclass(frozen=True)
class RoutingReport:
    """Where routing stands: the policy, the calibration and certificate in force, and how
    many items each tier and rule took."""

    policy: RoutingConfig
    model_version: int | None
    calibration: dict[str, Any] | None
    certificate: Certificate | None
    tiers: dict[str, int]
    rules: dict[str, int]
    qa_checked: int
    qa_agreed: int

    @property
    def qa_accuracy(self) -> float | None:
        """Accuracy of would-be automatic decisions on the random QA sample (unbiased)."""
        return self.qa_agreed / self.qa_checked if self.qa_checked else None

    def to_json(self) -> dict[str, Any]:
        return {
            "policy": self.policy.to_json(),
            "model_version": self.model_version,
            "calibration": self.calibration,
            "certificate": None if self.certificate is None else self.certificate.to_json(),
            "certificate_text": None if self.certificate is None else self.certificate.explain(),
            "tiers": self.tiers,
            "rules": self.rules,
            "qa_checked": self.qa_checked,
            "qa_accuracy": self.qa_accuracy,
        }


def routing_report(ctx: Context, project_name: str) -> RoutingReport:
    with ctx.read() as tx:
        row: ProjectRow = tx.repo.project_by_name(project_name)
        project = mappers.project(row)
        model_row = tx.repo.production_model(project.id)
        calibration = None if model_row is None else latest_calibration(tx, model_row.id)
        tiers: Counter[str] = Counter()
        rules: Counter[str] = Counter()
        for route, names in tx.session.execute(
            select(DecisionRow.route, DecisionRow.rules).where(
                DecisionRow.project_id == project.id,
                DecisionRow.origin == DecisionOrigin.ROUTED.value,
            )
        ):
            tiers[route] += 1
            rules.update(names or [])
        qa_checked, qa_agreed = _qa_counts(tx, project.id)
        return RoutingReport(
            policy=project.routing,
            model_version=None if model_row is None else model_row.version,
            calibration=None
            if calibration is None
            else {
                "method": calibration.method,
                "created_at": calibration.created_at.isoformat(),
                **calibration.report,
            },
            certificate=None
            if calibration is None
            else certificate_from_json(calibration.certificate),
            tiers=dict(tiers),
            rules=dict(rules),
            qa_checked=qa_checked,
            qa_agreed=qa_agreed,
        )


def _qa_counts(tx: Tx, project_id: int) -> tuple[int, int]:
    """QA-sampled items people have resolved, and how many agreed with the model."""
    rows = tx.session.execute(
        select(DecisionRow.rules, PredictionRow.predicted_label, LabelRow.value)
        .join(LabelRow, LabelRow.item_id == DecisionRow.item_id)
        .join(PredictionRow, PredictionRow.id == DecisionRow.prediction_id)
        .where(DecisionRow.project_id == project_id)
    ).all()
    checked = agreed = 0
    for names, predicted, value in rows:
        if "qa_sample" in (names or []):
            checked += 1
            agreed += int(predicted == value)
    return checked, agreed
