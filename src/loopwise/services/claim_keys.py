"""Claims made with a key, and giving back by key the tasks of claims whose answers will never
be read.

A review page claims its next task in the background while the person judges the one on
screen. Left while such a claim is in flight, the page never learns which task it took, so it
cannot give it back by id; before claim keys, that task stayed held until its lease ran out.
Now the page sends each claim with a key of its own and, as it is left, gives back the keys of
the claims still in flight (:func:`release_claims`). A claim already made has its task given
back; a key that comes back first is remembered for a day, and the claim, when it comes, takes
nothing (:func:`refused`). Keys belong to the reviewer who sends them.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from datetime import timedelta

from loopwise.errors import InvalidInput
from loopwise.services.context import Context, Tx
from loopwise.services.reviewers import access, check_name
from loopwise.services.tasks import give_back
from loopwise.store import claim_keys

KEY = re.compile(r"[A-Za-z0-9_-]{16,64}")
"""A claim key: 16 to 64 letters, digits, ``_`` or ``-`` (a page draws 32 hex digits)."""
MAX_KEYS = 50
REMEMBERED = timedelta(days=1)
"""How long a key given back before its claim is remembered: far longer than a claim is in
flight, and than the longest lease (a day)."""


def check_key(key: object, field: str = "claim_key") -> str:
    if not isinstance(key, str) or KEY.fullmatch(key) is None:
        raise InvalidInput(
            "must be 16 to 64 letters, digits, '_' or '-' (a key drawn at random per claim)",
            field=field,
        )
    return key


def check_keys(keys: object) -> list[str]:
    if isinstance(keys, str) or not isinstance(keys, Sequence) or not keys:
        raise InvalidInput("must be a list of 1 or more claim keys", field="claim_keys")
    if len(keys) > MAX_KEYS:
        raise InvalidInput(f"is {len(keys)} keys; at most {MAX_KEYS}", field="claim_keys")
    return sorted({check_key(k, f"claim_keys[{i}]") for i, k in enumerate(keys)})


def refused(tx: Tx, reviewer: str, key: str) -> bool:
    """Whether a claim with ``key`` must take nothing: its key came back before it (the page
    that sent it is gone). Holds the key until the claim's transaction ends."""
    claim_keys.lock(tx.session, reviewer, [key])
    return claim_keys.released(tx.session, reviewer, key)


def release_claims(ctx: Context, project_name: str, reviewer: str, keys: Sequence[str]) -> int:
    """Give back the tasks ``reviewer`` holds in the project through claims made with ``keys``
    (each audited ``task.released``, with its key), and remember the keys no claim has used yet
    so their claims take nothing; how many tasks went back. One transaction.

    Raises ``InvalidInput`` (``claim_keys``), ``NotAllowed``, ``ReviewerNotFound``,
    ``ProjectNotFound``.
    """
    reviewer = check_name(reviewer)
    wanted = check_keys(keys)
    with ctx.write() as tx:
        project = access(tx, project_name, reviewer).project(ctx, tx)
        claim_keys.lock(tx.session, reviewer, wanted)
        tasks = claim_keys.held(tx.session, project.id, reviewer, wanted)
        used = {task.claim_key for task in tasks}
        for task in tasks:
            give_back(tx, task, reviewer, after={"claim_key": task.claim_key})
        claim_keys.remember(tx.session, reviewer, [k for k in wanted if k not in used], tx.now)
        claim_keys.forget(tx.session, tx.now - REMEMBERED)
    return len(tasks)
