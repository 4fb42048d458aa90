"""Stream rules: which decider guards a stream, and what a stream id may look like.

A stream id is `<category>-<id>`: the category in lowercase letters, the id a letter or digit
followed by up to 126 letters, digits, `_` or `-`. No slashes, dots or spaces, so an id is
safe in a URL path segment and in a file name.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Callable
from typing import Any

from events.errors import RuleViolation
from events.rules.admin import ADMIN
from events.rules.agreement import AGREEMENT, AgreementDecider, AgreementState, DocumentLimits
from events.rules.base import Decider
from events.rules.delegation import DELEGATION, DelegationDecider, DelegationState
from events.rules.log import LOG
from events.rules.person import NOTE_ERASURES, PERSON

STREAM_ID_PATTERN = r"^[a-z]{1,32}-[A-Za-z0-9][A-Za-z0-9_-]{0,126}$"
_STREAM_ID = re.compile(STREAM_ID_PATTERN)

_DECIDERS: dict[str, Decider[Any]] = {
    "agreement": AGREEMENT,
    "delegation": DELEGATION,
    "admin": ADMIN,
    "log": LOG,
    "person": PERSON,
    "erasure": NOTE_ERASURES,
}
RECORDABLE_CATEGORIES = frozenset({"agreement", "delegation"})
"""Categories staff may append to over HTTP; `admin-…` streams are written only by the
service's own token commands, or a recorder could issue itself an admin token, `log-…`
streams only by the audit commands that register and rotate the signing key, and `person-…`
and `erasure-…` streams only by an erasure (`events.erasure`)."""


def check_stream_id(stream_id: str) -> None:
    """Raise `RuleViolation("invalid_stream_id")` unless `stream_id` is `<category>-<id>`."""
    if _STREAM_ID.fullmatch(stream_id) is None:
        raise RuleViolation(
            "invalid_stream_id",
            f"{stream_id[:200]!r} is not <category>-<id> (pattern {STREAM_ID_PATTERN})",
        )


@functools.lru_cache(maxsize=10_000)  # asked several times an append; refusals are not cached
def decider_for(stream_id: str) -> Decider[Any]:
    """The decider guarding `stream_id`, chosen by its category.

    Raises `invalid_stream_id` for a malformed id and `unknown_stream_category` for a
    category other than `agreement`, `delegation`, `admin`, `log`, `person` and `erasure`.
    """
    check_stream_id(stream_id)
    category = stream_id.split("-", 1)[0]
    decider = _DECIDERS.get(category)
    if decider is None:
        raise RuleViolation(
            "unknown_stream_category",
            f"unknown stream category {category!r}; known: {', '.join(sorted(_DECIDERS))}",
        )
    return decider


DeciderFor = Callable[[str], Decider[Any]]


def deciders(limits: DocumentLimits) -> DeciderFor:
    """`decider_for`, with agreement documents capped at `limits` (the deployment's caps)."""
    if limits == AGREEMENT.limits:
        return decider_for
    agreement = AgreementDecider(limits)

    def choose(stream_id: str) -> Decider[Any]:
        decider = decider_for(stream_id)
        return agreement if decider is AGREEMENT else decider

    return choose


__all__ = [
    "RECORDABLE_CATEGORIES",
    "STREAM_ID_PATTERN",
    "AgreementDecider",
    "AgreementState",
    "Decider",
    "DeciderFor",
    "DelegationDecider",
    "DelegationState",
    "DocumentLimits",
    "check_stream_id",
    "decider_for",
    "deciders",
]
