"""Expertise matching: a reviewer may take a task when they hold every tag it requires.

A task's required tags are stored as one canonical key (sorted, comma-joined; ``""`` for
none), so the claim query asks ``required_tags IN (keys the reviewer covers)``: every subset
of the reviewer's tags. That is one plain, indexable comparison on every database instead of
JSON containment, which SQLite and PostgreSQL spell differently. Reviewers hold at most
:data:`MAX_TAGS` tags, so the list has at most 256 keys.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from itertools import combinations

from loopwise.errors import InvalidInput

MAX_TAGS = 8
_TAG = re.compile(r"^[a-z0-9][a-z0-9_-]{0,39}$")


def canonical_tags(tags: Iterable[str], *, field: str = "tags") -> tuple[str, ...]:
    """Sorted, distinct, validated tags (lower-case letters, digits, ``_`` and ``-``)."""
    if isinstance(tags, str):
        raise InvalidInput("must be a list of tags, not one string", field=field)
    out = set()
    for i, tag in enumerate(tags):
        if not isinstance(tag, str) or not _TAG.match(tag):
            raise InvalidInput(
                f"{tag!r} is not a tag: use up to 40 lower-case letters, digits, '_' or '-'",
                field=f"{field}[{i}]",
            )
        out.add(tag)
    if len(out) > MAX_TAGS:
        raise InvalidInput(f"at most {MAX_TAGS} tags, got {len(out)}", field=field)
    return tuple(sorted(out))


def tag_key(tags: Iterable[str]) -> str:
    """The stored form of a set of tags: ``"fraud,legal"``; ``""`` for none."""
    return ",".join(sorted(set(tags)))


def tags_of(key: str) -> tuple[str, ...]:
    """The tags a stored key stands for (the inverse of :func:`tag_key`)."""
    return tuple(t for t in key.split(",") if t)


def tag_keys_within(tags: Iterable[str]) -> list[str]:
    """Every key whose tags are all in ``tags``: the tasks a holder of ``tags`` may take."""
    held = sorted(set(tags))
    return [",".join(c) for n in range(len(held) + 1) for c in combinations(held, n)]
