"""Test data: small real samples of the bundled SMS spam data and helpers to build projects."""

from __future__ import annotations

import random
from collections.abc import Sequence
from functools import cache
from typing import Any

import numpy as np

from loopwise import Loopwise, ModelVersion, Project, RoutingConfig, TrainingConfig
from loopwise.datasets import TextDataset, load_sms_spam

HAM = [
    "Ok lar... Joking wif u oni...",
    "I'm gonna be home soon and i don't want to talk about this stuff anymore tonight",
    "Even my brother is not like to speak with me. They treat me like aids patent.",
    "As per your request Melle Melle has been set as your callertune for all Callers.",
    "I HAVE A DATE ON SUNDAY WITH WILL!!",
    "Oh k...i'm watching here:)",
    "Fine if that's the way u feel. That's the way its gota b",
    "Is that seriously how you spell his name?",
    "I'm going to try for 2 months ha ha only joking",
    "So ü pay first lar... Then when is da stock comin...",
    "Aft i finish my lunch then i go str down lor. Ard 3 smth lor. U finish ur lunch already?",
    "Lol your always so convincing.",
]
SPAM = [
    "Free entry in 2 a wkly comp to win FA Cup final tkts 21st May 2005. Text FA to 87121",
    "WINNER!! As a valued network customer you have been selected to receivea £900 prize reward!",
    "Had your mobile 11 months or more? U R entitled to Update to the latest colour mobiles "
    "with camera for Free! Call The Mobile Update Co FREE on 08002986030",
    "SIX chances to win CASH! From 100 to 20,000 pounds txt> CSH11 and send to 87575.",
    "URGENT! You have won a 1 week FREE membership in our £100,000 Prize Jackpot! Txt CLAIM",
    "XXXMobileMovieClub: To use your credit, click the WAP link in the next txt message",
    "England v Macedonia - dont miss the goals/team news. Txt ur national team to 87077",
    "Thanks for your subscription to Ringtone UK your mobile will be charged £5/month",
    "07732584351 - Rodger Burns - MSG = We tried to call you re your reply to our sms for a "
    "free nokia mobile + free camcorder. Please call now 08000930705 for delivery tomorrow",
    "SMS. ac Sptv: The New Jersey Devils and the Detroit Red Wings play Ice Hockey. Txt PLAY",
    "Congrats! 1 year special cinema pass for 2 is yours. call 09061209465 now! C Suprman V",
    "You have 1 new voicemail. Please call 08719181513. Claim your free prize",
]


def make_text_project(lw: Loopwise, name: str = "sms", **kwargs: Any) -> Project:
    return lw.create_project(name, ["ham", "spam"], **kwargs)


def seed_rows(prefix: str = "seed") -> list[dict[str, Any]]:
    """Labelled rows, both classes, with stable external ids."""
    rows = [
        {"external_id": f"{prefix}-ham-{i}", "payload": t, "label": "ham"}
        for i, t in enumerate(HAM)
    ]
    rows += [
        {"external_id": f"{prefix}-spam-{i}", "payload": t, "label": "spam"}
        for i, t in enumerate(SPAM)
    ]
    return rows


FEATURES = ("age", "income", "debt")
"""Feature names of the tabular project built by :func:`make_tabular_project`."""


def make_tabular_project(lw: Loopwise, name: str = "loans", **kwargs: Any) -> Project:
    return lw.create_project(
        name, ["repaid", "default"], input_kind="tabular", feature_names=FEATURES, **kwargs
    )


def tabular_rows(n: int = 20, prefix: str = "loan") -> list[dict[str, Any]]:
    """Labelled tabular rows, both classes: high debt relative to income defaults."""
    rows = []
    for i in range(n):
        default = i % 2 == 1
        features = [30.0 + i, 20.0 + 3 * i, (40.0 if default else 5.0) + i]
        label = "default" if default else "repaid"
        rows.append(
            {"external_id": f"{prefix}-{i}", "payload": {"features": features}, "label": label}
        )
    return rows


def text_items(texts: Sequence[str], prefix: str = "item") -> list[dict[str, Any]]:
    """Items to submit, with external ids ``{prefix}-0``, ``{prefix}-1``, ..."""
    return [{"external_id": f"{prefix}-{i}", "payload": t} for i, t in enumerate(texts)]


def scored_item(external_id: str, text: str, probabilities: Sequence[float]) -> dict[str, Any]:
    """An item the caller's own model already scored (the A2I case: loopwise only routes)."""
    return {"external_id": external_id, "payload": text, "probabilities": list(probabilities)}


CONFIDENT_ROUTING = RoutingConfig(auto_threshold=0.75, ood=None)
"""Auto-decide at confidence 0.75: the seed-trained model is above it on the seed texts
(about 0.83 to 0.87) and below it on short unseen chatter such as ``"hello"``. The
out-of-distribution check is off, so only confidence decides (``"hello"`` is out of the
24-text vocabulary and would also be flagged as anomalous)."""

NO_HOLDOUT = TrainingConfig(holdout_share=0.0, golden_share=0.0)
"""Every label trains and no correction joins the golden set: the first model passes the gate
("no held-out labels to judge it yet") and later ones need ``force``."""


def seeded_model(lw: Loopwise, project: str = "sms") -> ModelVersion:
    """Import :func:`seed_rows`, train a candidate and promote it (forced if the gate refuses)."""
    lw.import_labels(project, seed_rows())
    candidate = lw.train(project)
    if not lw.promote(project, candidate.version).promoted:
        lw.promote(project, candidate.version, force=True)
    return candidate


SMS_SHUFFLE_SEED = 7


@cache
def _shuffled_sms() -> tuple[TextDataset, tuple[int, ...]]:
    data = load_sms_spam()
    order = np.random.default_rng(SMS_SHUFFLE_SEED).permutation(len(data))
    return data, tuple(int(i) for i in order)


def sms_rows(count: int, *, skip: int = 0, prefix: str = "sms") -> list[dict[str, Any]]:
    """``count`` labelled rows of the bundled SMS data (5,160 texts) in one fixed shuffled
    order, starting after the first ``skip``; external ids ``{prefix}-{position}``, so slices
    that do not overlap never share an id. The data set is read once per test session."""
    data, order = _shuffled_sms()
    if skip < 0 or count < 0 or skip + count > len(order):
        raise ValueError(f"the SMS data has {len(order)} texts; asked for {skip}..{skip + count}")
    return [
        {"external_id": f"{prefix}-{k}", "payload": data.texts[i], "label": data.labels[i]}
        for k, i in enumerate(order[skip : skip + count], start=skip)
    ]


def add_reviewers(
    lw: Loopwise, project: str, *names: str, role: str = "reviewer", **kwargs: Any
) -> None:
    """Register ``names`` as members of ``project`` (claims need registered members)."""
    for name in names:
        lw.add_reviewer(name, role=role, projects=[project], **kwargs)


# Review workflow (queue, leases, consensus, gold): projects whose routing rules set levels,
# expertise tags, overlap and the expert stage from item metadata.

REVIEW_RULES: list[dict[str, Any]] = [
    {"name": "vip", "when": "tier == 'vip'", "priority": "urgent"},
    {"name": "big", "when": "amount > 1000", "priority": "high"},
    {"name": "bulk", "when": "tier == 'bulk'", "priority": "low"},
    {"name": "fraud", "when": "fraud", "tags": ["fraud"]},
    {"name": "triple", "when": "triple", "reviews": 3},
    {"name": "audit", "when": "audit", "route": "expert"},
]
"""Metadata ``tier: vip`` -> urgent, ``amount > 1000`` -> high, ``tier: bulk`` -> low;
``fraud: true`` needs the ``fraud`` tag; ``triple: true`` needs 3 reviews; ``audit: true``
goes to the expert stage."""

COIN = (0.5, 0.5)
"""Caller probabilities at confidence 0.5: queued, priority score 1.0 (the most uncertain)."""
LEANING = (0.3, 0.7)
"""``spam`` at confidence 0.7: queued, priority score about 0.881."""
SURE_ISH = (0.8, 0.2)
"""``ham`` at confidence 0.8: queued (below 0.9), priority score about 0.722."""


def review_project(
    lw: Loopwise,
    name: str = "sms",
    *,
    review: dict[str, Any] | None = None,
    labels: Sequence[str] = ("ham", "spam"),
    **kwargs: Any,
) -> Project:
    """A project routing on :data:`REVIEW_RULES` (no OOD check, every label trains)."""
    return lw.create_project(
        name,
        list(labels),
        routing={"ood": None, "rules": REVIEW_RULES},
        training=NO_HOLDOUT,
        review=review,
        **kwargs,
    )


def meta_item(
    external_id: str, probabilities: Sequence[float] = COIN, **metadata: Any
) -> dict[str, Any]:
    """A caller-scored item with ``metadata`` for the routing rules."""
    return {
        "external_id": external_id,
        "payload": f"message {external_id}",
        "probabilities": list(probabilities),
        "metadata": metadata,
    }


class FixedChance(random.Random):
    """A chance source (``lw.ctx.random``) whose every draw is ``value``: ``0.0`` offers a gold
    task at every claim of a project with a gold rate, ``0.99`` never does."""

    def __init__(self, value: float) -> None:
        super().__init__(0)
        self.value = value

    def random(self) -> float:
        return self.value
