"""What the log records about itself: its id, and which keys sign its checkpoints.

Both live in the stream `log-identity`, inside the hash chain, so a backup or an export carries
them and nobody can change them without breaking the chain:

- `LogNamed {log_id}`: a random id, given once, the first time the log is signed. Checkpoints
  name it in their origin (`events.signed_checkpoints.origin_for`).
- `SigningKeyRegistered {key_id, public_key}`: the first signing key, recorded beside it.
- `SigningKeyRotated {key_id, public_key, previous_key_id, reason?}`: an operator's explicit
  change of key (`agreements rotate-key`). Checkpoints signed by an earlier key still verify
  with that key, which stays recorded.

`signing_key` is how the service and the command line get the key: a key file that does not
hold the key the log records is refused (`UnknownSigningKey`), and so is a missing file once a
key is recorded, instead of a new key being made that no auditor knows.
"""

from __future__ import annotations

import base64
import contextlib
import datetime as dt
import os
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey

from events.audit import load_signing_key
from events.catalogue import EventData, LogNamed, SigningKeyRegistered, SigningKeyRotated
from events.envelope import AppendResult, ExpectedVersion, Metadata, Proposed, RecordedEvent
from events.errors import WrongExpectedVersion
from events.signed_checkpoints import generate_key, key_id, load_private_key, save_private_key
from events.upcasting import decode_stored

IDENTITY_STREAM = "log-identity"


class IdentityStore(Protocol):
    """What this module needs of a store (`events.store.EventStore` is one)."""

    async def read_stream(
        self,
        stream_id: str,
        *,
        after_version: int = 0,
        limit: int | None = None,
        until_position: int | None = None,
    ) -> list[RecordedEvent]: ...

    async def append(
        self,
        stream_id: str,
        events: Sequence[Proposed],
        *,
        expected_version: ExpectedVersion = "any",
        metadata: Metadata,
    ) -> AppendResult: ...


class UnknownSigningKey(Exception):
    """The key file is missing, or holds a key the log does not record as its signing key."""


@dataclass(frozen=True, slots=True)
class RecordedKey:
    key_id: str
    public_key: Ed25519PublicKey
    position: int
    """Where the log recorded it: it cannot have signed a checkpoint of fewer events."""


@dataclass(frozen=True, slots=True)
class LogIdentity:
    log_id: str | None = None
    keys: tuple[RecordedKey, ...] = ()
    """Every key that signed the log, oldest first; the last one signs now."""
    version: int = 0
    """The identity stream's version, for an append that must not race another."""

    @property
    def current_key(self) -> RecordedKey | None:
        return self.keys[-1] if self.keys else None

    def key(self, key_id: str, *, covering: int | None = None) -> Ed25519PublicKey | None:
        """The recorded key with this id (recorded within the first `covering` events)."""
        for recorded in self.keys:
            if recorded.key_id == key_id and (covering is None or recorded.position <= covering):
                return recorded.public_key
        return None


def identity_from(events: Sequence[RecordedEvent]) -> LogIdentity:
    """Fold the identity stream's events (or any events: others are ignored)."""
    log_id: str | None = None
    keys: list[RecordedKey] = []
    version = 0
    for event in events:
        if event.stream_id != IDENTITY_STREAM:
            continue
        version = event.version
        data = decode_stored(event.type, event.schema_version, bytes(event.data))
        match data:
            case LogNamed(log_id=named):
                log_id = named
            case (
                SigningKeyRegistered(key_id=kid, public_key=raw)
                | SigningKeyRotated(key_id=kid, public_key=raw)
            ):
                public = Ed25519PublicKey.from_public_bytes(base64.b64decode(raw))
                keys.append(RecordedKey(kid, public, event.position))
            case _:
                pass
    return LogIdentity(log_id, tuple(keys), version)


async def read_identity(store: IdentityStore) -> LogIdentity:
    return identity_from(await store.read_stream(IDENTITY_STREAM))


async def signing_key(
    store: IdentityStore, path: str | os.PathLike[str], *, metadata: Metadata
) -> tuple[Ed25519PrivateKey, LogIdentity]:
    """The key at `path`, if it is the key the log records; with the log's identity.

    A log that records no key yet gets one: its id and the key at `path` (created if missing)
    are recorded. Raises UnknownSigningKey for a missing file or another key once one is
    recorded.
    """
    identity = await read_identity(store)
    if identity.current_key is None:
        key = load_signing_key(path)
        # Another process may record its key first: ours is then checked against it.
        with contextlib.suppress(WrongExpectedVersion):
            await _record(store, identity, _registered(key), metadata)
        identity = await read_identity(store)
        if identity.current_key is None:
            raise UnknownSigningKey("the log's signing key could not be recorded")
    return _recorded_key(Path(path), identity.current_key), identity


async def check_key_file(store: IdentityStore, path: str | os.PathLike[str]) -> None:
    """Raise UnknownSigningKey if the log records a signing key and `path` does not hold it:
    for a server's start, so that a lost or swapped key file stops it at once, not at the
    first checkpoint. A log that records no key yet passes (its first signing records one)."""
    current = (await read_identity(store)).current_key
    if current is not None:
        _recorded_key(Path(path), current)


async def rotate_signing_key(
    store: IdentityStore,
    path: str | os.PathLike[str],
    *,
    metadata: Metadata,
    reason: str | None = None,
) -> tuple[Ed25519PrivateKey, LogIdentity]:
    """Make a new key, record it as the log's signing key, and put it at `path`.

    The key file there before (if any) is kept beside it as `<name>.<key id>.retired`. The new
    key is recorded first: if that fails, nothing changed.
    """
    target = Path(path)
    identity = await read_identity(store)
    new = generate_key()
    current = identity.current_key
    event: EventData
    if current is None:
        event = _registered(new)
    else:
        event = SigningKeyRotated(
            key_id=key_id(new),
            public_key=_raw(new),
            previous_key_id=current.key_id,
            reason=reason,
        )
    temporary = _stage(new, target)
    try:
        await _record(store, identity, event, metadata)
        _install(temporary, target)
    finally:
        with contextlib.suppress(FileNotFoundError):
            temporary.unlink()
    return new, await read_identity(store)


def _stage(key: Ed25519PrivateKey, target: Path) -> Path:
    target.parent.mkdir(parents=True, exist_ok=True)
    temporary = target.with_name(f".{target.name}.{uuid.uuid4().hex}.tmp")
    save_private_key(key, temporary)
    return temporary


def _install(temporary: Path, target: Path) -> None:
    """Put the new key in place, keeping the one it replaces beside it."""
    if target.exists():
        old = load_private_key(target)
        target.replace(target.with_name(f"{target.name}.{key_id(old)}.retired"))
    temporary.replace(target)


def _recorded_key(path: Path, current: RecordedKey) -> Ed25519PrivateKey:
    if not path.exists():
        raise UnknownSigningKey(
            f"the signing key file {path} is missing; the log is signed with key "
            f"{current.key_id}: restore that file, or record a new key with "
            "`agreements rotate-key`"
        )
    key = load_private_key(path)
    if key_id(key) != current.key_id:
        raise UnknownSigningKey(
            f"{path} holds key {key_id(key)}, but the log is signed with key "
            f"{current.key_id}: use that key, or record a change of key with "
            "`agreements rotate-key`"
        )
    return key


async def _record(
    store: IdentityStore, identity: LogIdentity, event: EventData, metadata: Metadata
) -> None:
    now = dt.datetime.now(dt.UTC)
    events: list[EventData] = []
    if identity.log_id is None:
        events.append(LogNamed(log_id=uuid.uuid4().hex))
    events.append(event)
    await store.append(
        IDENTITY_STREAM,
        [Proposed(type=e.type_name, data=e, occurred_at=now) for e in events],
        expected_version=identity.version if identity.version else "no_stream",
        metadata=metadata,
    )


def _registered(key: Ed25519PrivateKey) -> SigningKeyRegistered:
    return SigningKeyRegistered(key_id=key_id(key), public_key=_raw(key))


def _raw(key: Ed25519PrivateKey) -> str:
    raw = key.public_key().public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
    return base64.b64encode(raw).decode("ascii")
