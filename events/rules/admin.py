"""The decider for `admin-…` streams: API tokens, issued and revoked as events.

| rule | refused when |
| --- | --- |
| `event_type_not_allowed_in_category` | anything but TokenIssued, TokenRevoked, NoteAttached |
| `token_already_issued` | a token id issued before |
| `token_unknown` | revoking a token id never issued |
| `token_already_revoked` | revoking twice |
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from events.catalogue import EventData, NoteAttached, TokenIssued, TokenRevoked
from events.errors import RuleViolation
from events.rules.base import FoldByEvolving


@dataclass(frozen=True, slots=True)
class AdminState:
    issued: frozenset[str] = frozenset()
    revoked: frozenset[str] = frozenset()


class AdminDecider(FoldByEvolving[AdminState]):
    def initial(self) -> AdminState:
        return AdminState()

    def evolve(self, state: AdminState, event: EventData) -> AdminState:
        match event:
            case TokenIssued(token_id=token_id):
                return AdminState(state.issued | {token_id}, state.revoked)
            case TokenRevoked(token_id=token_id):
                return AdminState(state.issued, state.revoked | {token_id})
        return state

    def check(self, state: AdminState, new: Sequence[EventData]) -> AdminState:
        for index, event in enumerate(new):
            match event:
                case TokenIssued(token_id=token_id) if token_id in state.issued:
                    raise RuleViolation("token_already_issued", f"token {token_id} exists", index)
                case TokenRevoked(token_id=token_id) if token_id not in state.issued:
                    raise RuleViolation("token_unknown", f"no token {token_id}", index)
                case TokenRevoked(token_id=token_id) if token_id in state.revoked:
                    raise RuleViolation("token_already_revoked", f"{token_id} is revoked", index)
                case TokenIssued() | TokenRevoked() | NoteAttached():
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
