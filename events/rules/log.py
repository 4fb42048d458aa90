"""The decider for `log-…` streams: the log's own identity, its id and the keys that sign it.

| rule | refused when |
| --- | --- |
| `event_type_not_allowed_in_category` | anything but the three types above, or NoteAttached |
| `log_already_named` | a second LogNamed |
| `log_not_named` | a signing key recorded before the log has its id |
| `signing_key_already_registered` | a second SigningKeyRegistered (a new key is a rotation) |
| `no_signing_key` | a rotation before any key was registered |
| `rotation_from_not_current_key` | `previous_key_id` is not the key that signs now |
| `signing_key_reused` | a key that already signed this log, registered again |
| `key_id_mismatch` | `key_id` is not the id of `public_key` |
"""

from __future__ import annotations

import base64
import hashlib
from collections.abc import Sequence
from dataclasses import dataclass

from events.catalogue import (
    EventData,
    LogNamed,
    NoteAttached,
    SigningKeyRegistered,
    SigningKeyRotated,
)
from events.errors import RuleViolation
from events.rules.base import FoldByEvolving


@dataclass(frozen=True, slots=True)
class LogState:
    log_id: str | None = None
    keys: tuple[str, ...] = ()
    """Every key id that signed the log, in order; the last one signs now."""


def public_key_id(public_key: str) -> str:
    """The key id of a base64 raw Ed25519 public key (as `events.signed_checkpoints.key_id`)."""
    return hashlib.sha256(base64.b64decode(public_key)).hexdigest()[:16]


class LogDecider(FoldByEvolving[LogState]):
    def initial(self) -> LogState:
        return LogState()

    def evolve(self, state: LogState, event: EventData) -> LogState:
        match event:
            case LogNamed(log_id=log_id):
                return LogState(log_id, state.keys)
            case SigningKeyRegistered(key_id=key) | SigningKeyRotated(key_id=key):
                return LogState(state.log_id, (*state.keys, key))
        return state

    def check(
        self, state: LogState, new: Sequence[EventData], ids: Sequence[str | None] | None = None
    ) -> LogState:
        for index, event in enumerate(new):
            _check_one(state, event, index)
            state = self.evolve(state, event)
        return state


def _check_one(state: LogState, event: EventData, index: int) -> None:
    match event:
        case LogNamed() if state.log_id is not None:
            raise RuleViolation("log_already_named", f"the log is {state.log_id}", index)
        case SigningKeyRegistered() | SigningKeyRotated() if state.log_id is None:
            raise RuleViolation("log_not_named", "record LogNamed first", index)
        case SigningKeyRegistered() if state.keys:
            raise RuleViolation(
                "signing_key_already_registered",
                f"key {state.keys[-1]} signs the log; a new key is a SigningKeyRotated",
                index,
            )
        case SigningKeyRotated() if not state.keys:
            raise RuleViolation("no_signing_key", "no key was registered to rotate from", index)
        case SigningKeyRotated(previous_key_id=previous) if previous != state.keys[-1]:
            raise RuleViolation(
                "rotation_from_not_current_key",
                f"previous_key_id {previous} is not the current key {state.keys[-1]}",
                index,
            )
        case LogNamed() | NoteAttached():
            return
        case SigningKeyRegistered() | SigningKeyRotated():
            pass
        case _:
            raise RuleViolation(
                "event_type_not_allowed_in_category",
                f"{event.type_name} has no place in a log stream",
                index,
            )
    assert isinstance(event, SigningKeyRegistered | SigningKeyRotated)
    if public_key_id(event.public_key) != event.key_id:
        raise RuleViolation(
            "key_id_mismatch", f"{event.key_id} is not the id of the given public key", index
        )
    if event.key_id in state.keys:
        raise RuleViolation(
            "signing_key_reused", f"key {event.key_id} already signed this log", index
        )


LOG = LogDecider()
