"""Who may do what: one table of roles to actions, checked on every route.

Admins may do everything everywhere. Everyone else acts only on projects they are members of
(and a reviewer only ever as themselves: the reviewer of a claim or verdict is always the
token's account, never a name in the request).

=====================  =====  ======  ========  ======  ======
action                 admin  client  reviewer  expert  viewer
=====================  =====  ======  ========  ======  ======
read_project           yes    yes     yes       yes     yes
submit (items, pool    yes    yes
candidates, queries)
read_decisions         yes    yes                       yes
review                 yes            yes       yes
read_queue             yes            yes       yes     yes
read_stats             yes    yes     yes       yes     yes
export_labels          yes                              yes
manage (config, gold,  yes
models, webhooks,
people)
=====================  =====  ======  ========  ======  ======
"""

from __future__ import annotations

from enum import StrEnum

from loopwise.core.enums import Role
from loopwise.errors import NotAllowed
from loopwise.services.accounts import Principal


class Action(StrEnum):
    READ_PROJECT = "read_project"
    SUBMIT = "submit"
    READ_DECISIONS = "read_decisions"
    REVIEW = "review"
    READ_QUEUE = "read_queue"
    READ_STATS = "read_stats"
    EXPORT_LABELS = "export_labels"
    MANAGE = "manage"


ALLOWED: dict[Role, frozenset[Action]] = {
    Role.ADMIN: frozenset(Action),
    Role.CLIENT: frozenset(
        {Action.READ_PROJECT, Action.SUBMIT, Action.READ_DECISIONS, Action.READ_STATS}
    ),
    Role.REVIEWER: frozenset(
        {Action.READ_PROJECT, Action.REVIEW, Action.READ_QUEUE, Action.READ_STATS}
    ),
    Role.EXPERT: frozenset(
        {Action.READ_PROJECT, Action.REVIEW, Action.READ_QUEUE, Action.READ_STATS}
    ),
    Role.VIEWER: frozenset(
        {
            Action.READ_PROJECT,
            Action.READ_DECISIONS,
            Action.READ_QUEUE,
            Action.READ_STATS,
            Action.EXPORT_LABELS,
        }
    ),
}


def may(principal: Principal, action: Action, project: str | None) -> bool:
    """Whether ``principal`` may do ``action`` (on ``project``, for project routes)."""
    if action not in ALLOWED[principal.role]:
        return False
    return project is None or principal.member_of(project)


def authorize(principal: Principal, action: Action, project: str | None) -> None:
    """Raise ``NotAllowed`` unless :func:`may` says yes, naming what is missing."""
    if action not in ALLOWED[principal.role]:
        raise NotAllowed(
            f"{principal.name!r} is a {principal.role.value}; {action.value} needs another role"
        )
    if project is not None and not principal.member_of(project):
        raise NotAllowed(
            f"{principal.name!r} is not a member of project {project!r}", field="project"
        )
