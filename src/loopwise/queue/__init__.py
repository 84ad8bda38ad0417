"""Queue logic, pure: priorities and SLAs, ageing, expertise matching, reviewer quality, fatigue.

Nothing here touches a database or a clock of its own; the services pass times in.
"""

from loopwise.queue.fatigue import SessionState, advance_session, break_due
from loopwise.queue.matching import canonical_tags, tag_key, tag_keys_within, tags_of
from loopwise.queue.priority import Ageing, catch_up, due_at, first_promotion, promote
from loopwise.queue.quality import GoldScore, gold_score, wilson_interval

__all__ = [
    "Ageing",
    "GoldScore",
    "SessionState",
    "advance_session",
    "break_due",
    "canonical_tags",
    "catch_up",
    "due_at",
    "first_promotion",
    "gold_score",
    "promote",
    "tag_key",
    "tag_keys_within",
    "tags_of",
    "wilson_interval",
]
