"""The whole loop on a real data set, with simulated reviewers: what ``loopwise demo`` runs.

The data set is split once: a fixed test split (never shown to loopwise) measures the production
model after every round; a small labelled seed starts the project; the rest arrives as a stream
in rounds. Each round: the stream is submitted (predicted and routed), simulated reviewers work
the queue (answering from the ground truth, wrong at a configurable rate), a candidate is trained
on every resolved label, and the promotion gate decides whether it replaces production.

The people: three careful reviewers, one careless one (``unreliable``, wrong at
``unreliable_error_rate``) and an expert. Every task gets ``overlap`` independent reviews,
settled by Dawid-Skene; disagreement goes to the expert. A share of each reviewer's tasks are
gold items with known answers, which measure them: the careless reviewer ends with the lowest
consensus skill and, once the evidence is in, a flag.

Active learning: ``pool_size`` texts wait unlabelled in the project's pool. Each round the
default strategy chooses ``al_batch`` of them (``Loopwise.query``) and the reviewers label them
with the rest of the queue. To show what the choice is worth, two models are trained each round
on the seed labels plus every pick so far: the active-learning picks (as the reviewers labelled
them) and as many picks drawn at random from the same pool (with their true labels), and both are
measured on the test split.

After the last round, ``backlog`` more stream items arrive and are routed by the final model,
and the default strategy picks the next ``al_batch`` from the pool; those queued for review are
left waiting, for a person to take in the web UI (the demo prints how to open it).
"""

from __future__ import annotations

import random
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field
from typing import Any

import numpy as np

from loopwise.core.entities import TrainingConfig
from loopwise.core.enums import ItemStatus, Role, Route, Verdict
from loopwise.core.policy import RoutingConfig
from loopwise.datasets import TextDataset
from loopwise.demo_arms import PickedAndDrawn
from loopwise.errors import InvalidInput, NotEnoughLabels, ReviewerNotFound
from loopwise.services.loop import Loopwise
from loopwise.training.models import model_inputs

Progress = Callable[[str, int, int], None]
"""Called as ``progress(phase, done, total)`` while a round works."""


@dataclass(frozen=True)
class DemoConfig:
    rounds: int = 5
    seed_labels: int = 300
    test_share: float = 0.2
    reviewers: tuple[str, ...] = ("alice", "bob", "carol", "dave")
    unreliable: str = "dave"
    expert: str = "erin"
    reviewer_error_rate: float = 0.01
    unreliable_error_rate: float = 0.3
    overlap: int = 3
    gold_items: int = 40
    gold_rate: float = 0.1
    auto_threshold: float = 0.9
    target_error: float | None = 0.05
    target_confidence: float = 0.9
    qa_sample: float = 0.02
    batch_size: int = 500
    pool_size: int = 1000
    al_batch: int = 40
    backlog: int = 200
    """Stream items held back from the rounds and submitted after the last one, routed by the
    final model and left for people with the next active-learning batch: what is queued waits
    for the web UI."""
    seed: int = 7

    def check(self, dataset: TextDataset) -> None:
        if self.rounds < 1:
            raise InvalidInput("must be at least 1", field="rounds")
        if not 0.0 <= self.reviewer_error_rate < 0.5:
            raise InvalidInput("must be in [0, 0.5)", field="reviewer_error_rate")
        if not 0.0 <= self.unreliable_error_rate <= 1.0:
            raise InvalidInput("must be in [0, 1]", field="unreliable_error_rate")
        if not 1 <= self.overlap <= len(self.reviewers):
            raise InvalidInput(
                f"must be from 1 to the number of reviewers ({len(self.reviewers)})",
                field="overlap",
            )
        if not 0.0 < self.test_share < 0.9:
            raise InvalidInput("must be in (0, 0.9)", field="test_share")
        if not 0.0 <= self.auto_threshold <= 1.0:
            raise InvalidInput("must be in [0, 1]", field="auto_threshold")
        if self.target_error is not None and not 0.0 < self.target_error < 1.0:
            raise InvalidInput("must be in (0, 1)", field="target_error")
        classes = len(dataset.label_set)
        if self.seed_labels < 2 * classes:
            raise InvalidInput(
                f"must be at least {2 * classes} (two per label)", field="seed_labels"
            )
        if self.pool_size < 0:
            raise InvalidInput("must not be negative", field="pool_size")
        if self.al_batch < 0:
            raise InvalidInput("must not be negative", field="al_batch")
        if len(dataset) < self.seed_labels + 10 * self.rounds + 20:
            raise InvalidInput(
                f"has {len(dataset)} distinct texts; too few for {self.rounds} rounds",
                field="dataset",
            )


@dataclass
class RoundResult:
    round: int
    submitted: int
    automation_rate: float
    decision_accuracy: float
    model_accuracy: float
    model_version: int | None
    labels: int
    reviews: int
    escalated: int
    promoted: bool | None
    gate: list[str] = field(default_factory=list)
    threshold: float | None = None
    certificate: str = ""
    al_labels: int = 0
    """Pool items active learning chose so far."""
    al_accuracy: float | None = None
    """Test accuracy of a model trained on the seed labels plus the active-learning picks."""
    random_accuracy: float | None = None
    """The same with as many picks drawn at random from the pool."""


@dataclass
class DemoResult:
    project: str
    dataset: str
    database_url: str
    seed_model_accuracy: float
    rounds: list[RoundResult]
    items_submitted: int
    items_decided: int
    items_queued: int
    items_resolved: int
    items_lost: int
    reviewers: list[dict[str, Any]] = field(default_factory=list)
    agreement_alpha: float | None = None
    seconds: float = 0.0

    def to_json(self) -> dict[str, Any]:
        data = asdict(self)
        data["rounds"] = [
            {k: v for k, v in asdict(r).items() if k != "gate"} | {"gate": r.gate}
            for r in self.rounds
        ]
        return data


def _stratified_split(
    labels: Sequence[str], share: float, rng: np.random.Generator
) -> tuple[list[int], list[int]]:
    """Indices ``(taken, rest)`` with ``share`` of every label in ``taken``."""
    taken: list[int] = []
    for label in sorted(set(labels)):
        idx = [i for i, y in enumerate(labels) if y == label]
        rng.shuffle(idx)
        taken += idx[: max(1, round(share * len(idx)))]
    taken_set = set(taken)
    return sorted(taken), [i for i in range(len(labels)) if i not in taken_set]


def _seed_indices(
    labels: Sequence[str], pool: list[int], n: int, rng: np.random.Generator
) -> list[int]:
    """``n`` random pool items, with at least two of every label."""
    order = list(pool)
    rng.shuffle(order)
    chosen: list[int] = []
    for label in sorted({labels[i] for i in pool}):
        chosen += [i for i in order if labels[i] == label][:2]
    for i in order:
        if len(chosen) >= n:
            break
        if i not in chosen:
            chosen.append(i)
    return chosen


def _threshold_in_force(lw: Loopwise, project: str) -> tuple[float | None, str]:
    """The auto-decision threshold the next round will be routed with, and why."""
    report = lw.routing_report(project)
    if report.policy.target_error is None:
        return report.policy.auto_threshold, f"fixed threshold {report.policy.auto_threshold}"
    if report.certificate is None:
        return None, "no production model to certify"
    cert = report.certificate
    return (cert.threshold if cert.certified else None), cert.explain()


def _join(lw: Loopwise, name: str, role: Role, project: str) -> None:
    """Make ``name`` a ``role`` on ``project``; people are shared across projects, so a second
    demo in the same database reuses the first one's reviewers."""
    try:
        person = lw.reviewer(name)
    except ReviewerNotFound:
        lw.add_reviewer(name, role=role, projects=[project], actor="demo")
        return
    if person.role is not role:
        lw.update_reviewer(name, role=role, actor="demo")
    lw.add_member(project, name, actor="demo")


def unique_project_name(lw: Loopwise, base: str) -> str:
    existing = {p.name for p in lw.projects()}
    if base not in existing:
        return base
    n = 2
    while f"{base}-{n}" in existing:
        n += 1
    return f"{base}-{n}"


def run_demo(
    lw: Loopwise,
    dataset: TextDataset,
    config: DemoConfig,
    *,
    project: str,
    progress: Progress | None = None,
    on_round: Callable[[RoundResult], None] | None = None,
) -> DemoResult:
    """Run the loop; see the module docstring. Returns every round's figures."""
    config.check(dataset)
    report = progress or (lambda phase, done, total: None)
    rng = np.random.default_rng(config.seed)
    sim = random.Random(config.seed)
    labels = dataset.labels
    label_set = dataset.label_set
    test, pool = _stratified_split(labels, config.test_share, rng)
    seed = _seed_indices(labels, pool, config.seed_labels, rng)
    seed_set = set(seed)
    stream = [i for i in pool if i not in seed_set]
    rng.shuffle(stream)
    gold, stream = stream[: config.gold_items], stream[config.gold_items :]
    # a fifth of the stream at most waits in the pool (small data sets keep their rounds)
    pool_size = min(config.pool_size, len(stream) // 5)
    al_batch = min(config.al_batch, pool_size // config.rounds)
    if not al_batch:
        pool_size = 0
    candidates, stream = stream[:pool_size], stream[pool_size:]
    backlog_size = min(config.backlog, len(stream) // 10)
    backlog, stream = stream[len(stream) - backlog_size :], stream[: len(stream) - backlog_size]
    rounds = np.array_split(np.asarray(stream), config.rounds)

    lw.create_project(
        project,
        label_set,
        routing=RoutingConfig(
            auto_threshold=config.auto_threshold,
            target_error=config.target_error,
            target_confidence=config.target_confidence,
            qa_sample=config.qa_sample,
        ),
        # the held-out, golden and QA sets follow the demo's seed, not the project's id, so a
        # second demo in the same database measures what the first did
        training=TrainingConfig(split_seed=config.seed),
        guideline="Spam is unsolicited commercial or fraudulent messaging; everything else is ham.",
        review={
            "overlap": config.overlap,
            "aggregator": "dawid_skene",
            "gold_rate": config.gold_rate,
            "gold_min_answers": 5,
        },
        actor="demo",
    )
    for name in config.reviewers:
        _join(lw, name, Role.REVIEWER, project)
    _join(lw, config.expert, Role.EXPERT, project)
    lw.ctx.random.seed(config.seed)
    lw.set_active_learning(
        project, {"batch": max(1, al_batch), "requery_after_promotion": False}, actor="demo"
    )
    if candidates:
        lw.add_to_pool(
            project,
            [{"external_id": f"p{i}", "payload": dataset.texts[i]} for i in candidates],
            actor="demo:pool",
        )
    lw.import_labels(
        project,
        [{"external_id": f"m{i}", "payload": dataset.texts[i], "label": labels[i]} for i in seed],
        actor="demo:seed",
    )
    test_inputs = model_inputs(
        lw.project(project).input_kind, [{"text": dataset.texts[i]} for i in test]
    )
    test_truth = np.asarray([labels[i] for i in test])

    def model_accuracy() -> tuple[float, int | None]:
        current = lw.production_model(project)
        if current is None:
            majority = max(np.mean(test_truth == y) for y in label_set)
            return float(majority), None
        version, model = current
        predicted = np.asarray(model.labels)[model.predict_proba(test_inputs).argmax(axis=1)]
        return float(np.mean(predicted == test_truth)), version.version

    def retrain() -> tuple[bool | None, list[str]]:
        try:
            lw.train(project, actor="demo")
        except NotEnoughLabels as exc:
            return None, [exc.message]
        result = lw.promote(project, actor="demo")
        return result.promoted, list(result.report.gate.reasons)

    retrain()
    seed_accuracy, _ = model_accuracy()
    if gold:
        lw.add_gold_items(
            project,
            [
                {"external_id": f"gold{i}", "payload": dataset.texts[i], "label": labels[i]}
                for i in gold
            ],
            actor="demo",
        )
    truth_of = {f"gold{i}": labels[i] for i in gold}
    truth_of.update({f"p{i}": labels[i] for i in candidates})
    arms = PickedAndDrawn(lw, project, dataset, seed, test_inputs, test_truth)
    draws = [int(i) for i in rng.permutation(np.asarray(candidates, dtype=np.int64))]

    def error_rate(reviewer: str) -> float:
        if reviewer == config.expert:
            return 0.0
        if reviewer == config.unreliable:
            return config.unreliable_error_rate
        return config.reviewer_error_rate

    results: list[RoundResult] = []
    for number, chunk in enumerate(rounds, start=1):
        threshold, certificate = _threshold_in_force(lw, project)
        idx = chunk.tolist()
        routed = []
        for start in range(0, len(idx), config.batch_size):
            part = idx[start : start + config.batch_size]
            routed += lw.submit(
                project,
                [{"external_id": f"m{i}", "payload": dataset.texts[i]} for i in part],
                actor="demo:stream",
            )
            report(
                f"round {number}: predict and route",
                min(start + config.batch_size, len(idx)),
                len(idx),
            )
        truth = {f"m{i}": labels[i] for i in idx}
        truth_of.update(truth)
        queued = sum(1 for r in routed if r.status is ItemStatus.QUEUED)
        picked: list[str] = []
        if al_batch:
            found = lw.query(project, al_batch, seed=config.seed + number, actor="demo")
            picked = [c.external_id for c in found.chosen]
            queued += len(picked)
        finals: dict[str, str | None] = {
            r.external_id: r.final_label for r in routed if r.route is Route.AUTO
        }
        reviews = escalated = 0
        people = [*config.reviewers, config.expert]
        idle = 0
        turn = 0
        while idle < len(people):
            reviewer = people[turn % len(people)]
            turn += 1
            entry = lw.claim_next(project, reviewer)
            if entry is None:
                idle += 1
                continue
            idle = 0
            correct = truth_of[entry.item.external_id]
            belief = correct
            if sim.random() < error_rate(reviewer):
                belief = sim.choice([y for y in label_set if y != correct])
            suggestion = None if entry.prediction is None else entry.prediction.predicted_label
            if belief == suggestion:
                verdict = lw.submit_verdict(project, entry.task.id, reviewer, Verdict.APPROVE)
            else:
                verdict = lw.submit_verdict(
                    project,
                    entry.task.id,
                    reviewer,
                    Verdict.CORRECT,
                    label=belief,
                    error_category=None
                    if suggestion is None
                    else sim.choice(("model_bias", "new_pattern", "ambiguous_input")),
                )
            if verdict.resolved:
                finals[entry.item.external_id] = verdict.final_label
            escalated += int(verdict.escalated)
            reviews += 1
            report(f"round {number}: people review", reviews, queued * config.overlap)
        decision_accuracy = float(np.mean([finals.get(k) == v for k, v in truth.items()]))
        arms.add(
            [(k, finals.get(k)) for k in picked],
            [f"p{i}" for i in draws[(number - 1) * al_batch : number * al_batch]],
        )
        al_accuracy, random_accuracy = arms.accuracies() if candidates else (None, None)
        promoted, gate = retrain()
        accuracy, version = model_accuracy()
        result = RoundResult(
            threshold=threshold,
            certificate=certificate,
            round=number,
            submitted=len(idx),
            automation_rate=sum(1 for r in routed if r.route is Route.AUTO) / len(idx),
            decision_accuracy=decision_accuracy,
            model_accuracy=accuracy,
            model_version=version,
            labels=lw.stats(project).labels,
            reviews=reviews,
            escalated=escalated,
            promoted=promoted,
            gate=gate,
            al_labels=len(arms.picked),
            al_accuracy=al_accuracy,
            random_accuracy=random_accuracy,
        )
        results.append(result)
        if on_round is not None:
            on_round(result)
    if backlog:
        lw.submit(
            project,
            [{"external_id": f"m{i}", "payload": dataset.texts[i]} for i in backlog],
            actor="demo:stream",
        )
    if al_batch and lw.pool_status(project).waiting >= al_batch:
        lw.query(project, al_batch, seed=config.seed, actor="demo")
    stats = lw.stats(project)
    submitted = len(seed) + len(stream) + len(backlog) + len(gold) + lw.pool_status(project).chosen
    return DemoResult(
        project=project,
        dataset=dataset.name,
        database_url=lw.settings.database_url,
        seed_model_accuracy=seed_accuracy,
        rounds=results,
        items_submitted=submitted,
        items_decided=stats.decided,
        items_queued=stats.queued,
        items_resolved=stats.resolved,
        items_lost=submitted - (stats.decided + stats.queued + stats.resolved),
        reviewers=[
            {
                "reviewer": q.reviewer,
                "role": q.role,
                "reviews": q.reviews,
                "error_rate": error_rate(q.reviewer),
                "gold_answers": q.gold.answers,
                "gold_accuracy": q.gold.accuracy,
                "gold_low": q.gold.low,
                "gold_high": q.gold.high,
                "consensus_skill": q.consensus_skill,
                "flagged": q.flagged,
            }
            for q in lw.reviewer_quality(project)
        ],
        agreement_alpha=lw.agreement(project).alpha,
    )
