"""The decider for `admin-…` streams: API tokens and calendar feed keys, issued and revoked
as events.

| rule | refused when |
| --- | --- |
| `event_type_not_allowed_in_category` | anything but the events below and NoteAttached |
| `token_already_issued` | a token id issued before |
| `token_unknown` | revoking a token id never issued |
| `token_already_revoked` | revoking twice |
| `calendar_key_already_issued` | a calendar key id issued before |
| `calendar_key_unknown` | revoking a calendar key id never issued |
| `calendar_key_already_revoked` | revoking a calendar key twice |
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, replace

from events.catalogue import (
    CalendarKeyIssued,
    CalendarKeyRevoked,
    EventData,
    NoteAttached,
    TokenIssued,
    TokenRevoked,
)
from events.errors import RuleViolation
from events.rules.base import FoldByEvolving


@dataclass(frozen=True, slots=True)
class AdminState:
    issued: frozenset[str] = frozenset()
    revoked: frozenset[str] = frozenset()
    keys_issued: frozenset[str] = frozenset()
    keys_revoked: frozenset[str] = frozenset()


class AdminDecider(FoldByEvolving[AdminState]):
    def initial(self) -> AdminState:
        return AdminState()

    def evolve(self, state: AdminState, event: EventData) -> AdminState:
        match event:
            case TokenIssued(token_id=token_id):
                return replace(state, issued=state.issued | {token_id})
            case TokenRevoked(token_id=token_id):
                return replace(state, revoked=state.revoked | {token_id})
            case CalendarKeyIssued(key_id=key_id):
                return replace(state, keys_issued=state.keys_issued | {key_id})
            case CalendarKeyRevoked(key_id=key_id):
                return replace(state, keys_revoked=state.keys_revoked | {key_id})
        return state

    def check(
        self, state: AdminState, new: Sequence[EventData], ids: Sequence[str | None] | None = None
    ) -> AdminState:
        for index, event in enumerate(new):
            match event:
                case TokenIssued(token_id=token_id) if token_id in state.issued:
                    raise RuleViolation("token_already_issued", f"token {token_id} exists", index)
                case TokenRevoked(token_id=token_id) if token_id not in state.issued:
                    raise RuleViolation("token_unknown", f"no token {token_id}", index)
                case TokenRevoked(token_id=token_id) if token_id in state.revoked:
                    raise RuleViolation("token_already_revoked", f"{token_id} is revoked", index)
                case CalendarKeyIssued(key_id=key_id) if key_id in state.keys_issued:
                    raise RuleViolation(
                        "calendar_key_already_issued", f"calendar key {key_id} exists", index
                    )
                case CalendarKeyRevoked(key_id=key_id) if key_id not in state.keys_issued:
                    raise RuleViolation("calendar_key_unknown", f"no calendar key {key_id}", index)
                case CalendarKeyRevoked(key_id=key_id) if key_id in state.keys_revoked:
                    raise RuleViolation(
                        "calendar_key_already_revoked", f"{key_id} is revoked", index
                    )
                case (
                    TokenIssued()
                    | TokenRevoked()
                    | CalendarKeyIssued()
                    | CalendarKeyRevoked()
                    | NoteAttached()
                ):
                    pass
                case _:
                    raise RuleViolation(
                        "event_type_not_allowed_in_category",
                        f"{event.type_name} has no place in an admin stream",
                        index,
                    )
            state = self.evolve(state, event)
        return state


ADMIN = AdminDecider()
