"""API tokens as events, and the in-memory table the service authenticates against.

A token is `agr_<token_id>_<secret>`: `token_id` (16 hex digits) names it in the log and in
listings, the 43-character url-safe secret carries 256 bits of entropy. Only the sha256 of
the whole token is recorded (`TokenIssued` in stream `admin-tokens`); revocation is a
`TokenRevoked` event. Each process keeps a table folded from that stream:

- after this process issues or revokes a token, at once (before the response is sent);
- before the next request is checked, once another process may have changed the stream: on
  PostgreSQL any other instance's commit (heard through LISTEN/NOTIFY) marks the table stale;
  on SQLite `service.token_changes` notices another connection's commit without a query;
- when a well-formed token is unknown: it may have been issued a moment ago elsewhere, so
  the stream is read once more before refusing (only unknown tokens pay for this);
- and every `refresh_seconds` in the background, as a fallback.

A token issued or revoked by another process (the CLI, a second instance) thus takes effect
on the next request; a request with a known token costs no query while nothing changed.
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import hashlib
import hmac
import logging
import re
import secrets
from typing import TYPE_CHECKING

import msgspec

from events.catalogue import EventData, Role, TokenIssued, TokenRevoked, decoder_for
from events.envelope import ExpectedVersion, Metadata, Proposed, RecordedEvent
from events.errors import WrongExpectedVersion
from service.token_changes import SqliteStreamVersion

if TYPE_CHECKING:
    from events.store import EventStore

CATCH_UP_SECONDS = 1.0
"""Longest a request waits for the token table to catch up with another process's change."""
log = logging.getLogger(__name__)

TOKEN_STREAM = "admin-tokens"
ROLES: tuple[Role, ...] = ("recorder", "viewer", "auditor", "admin")

_TOKEN = re.compile(r"agr_(?P<token_id>[0-9a-f]{16})_[A-Za-z0-9_-]{43}")
_NO_SUCH_HASH = "0" * 64
_MIN_REFRESH_SPACING = 0.05
_STOP_GRACE = 2.0


class UnknownToken(Exception):
    def __init__(self, token_id: str) -> None:
        self.token_id = token_id
        super().__init__(f"no active token {token_id!r}")


class TokenRecord(msgspec.Struct, frozen=True, kw_only=True):
    """What the table knows of a token (never its secret)."""

    token_id: str
    name: str
    role: Role
    token_hash: str
    issued_at: str
    revoked_at: str | None = None

    @property
    def active(self) -> bool:
        return self.revoked_at is None


class IssuedToken(msgspec.Struct, frozen=True, kw_only=True):
    """A token just created: the only moment its secret exists outside the client."""

    token_id: str
    name: str
    role: Role
    secret: str


def hash_token(secret: str) -> str:
    return hashlib.sha256(secret.encode()).hexdigest()


def new_token() -> tuple[str, str]:
    """A fresh `(token_id, secret)`."""
    token_id = secrets.token_hex(8)
    return token_id, f"agr_{token_id}_{secrets.token_urlsafe(32)}"


class TokenTable:
    def __init__(self, store: EventStore, *, refresh_seconds: float = 1.0) -> None:
        self._store = store
        self._refresh_seconds = refresh_seconds
        self._tokens: dict[str, TokenRecord] = {}
        self._version = 0
        self._lock = asyncio.Lock()
        self._changed = asyncio.Event()
        self._task: asyncio.Task[None] | None = None
        self._stopping = False
        self._stale = False
        """Another process may have changed the stream since the last refresh."""
        self._file_version: SqliteStreamVersion | None = None

    @property
    def version(self) -> int:
        """The version of `admin-tokens` the table reflects."""
        return self._version

    def authenticate(self, secret: str) -> TokenRecord | None:
        """The active token matching `secret`, or None. The hash comparison is constant-time
        and done even for unknown ids, so timing does not tell a near miss from a far one."""
        found = _TOKEN.fullmatch(secret)
        record = self._tokens.get(found["token_id"]) if found else None
        expected = record.token_hash if record is not None else _NO_SUCH_HASH
        matches = hmac.compare_digest(hash_token(secret), expected)
        if record is None or not matches or not record.active:
            return None
        return record

    async def check(self, secret: str) -> TokenRecord | None:
        """`authenticate`, against the token stream as it is now in the database: catch up
        first if another process may have changed it, and read it again before refusing a
        well-formed token this table has never seen."""
        if self._file_version is not None and self._file_version.moved_from(self._version):
            self._stale = True
        if self._stale:
            await self._catch_up()
        record = self.authenticate(secret)
        if record is None and self._unseen(secret):
            self._stale = True
            await self._catch_up()
            record = self.authenticate(secret)
        return record

    def _unseen(self, secret: str) -> bool:
        found = _TOKEN.fullmatch(secret)
        return found is not None and found["token_id"] not in self._tokens

    async def _catch_up(self) -> None:
        """Refresh if still stale once the lock is ours (a refresh that ran while this one
        waited has done the work); on failure keep the table, and stay stale."""
        async with self._lock:
            if not self._stale:
                return
            self._stale = False
            try:
                # Bounded: a request must not wait on an unreachable database twice (here and
                # again for its own work); a failed catch-up leaves the table stale, tried again.
                async with asyncio.timeout(CATCH_UP_SECONDS):
                    await self._refresh_locked()
            except Exception as error:
                self._stale = True
                log.warning("could not refresh the token table: %s", type(error).__name__)

    def is_active(self, token_id: str) -> bool:
        """Whether the token is known and not revoked (for a subscription opened with it)."""
        record = self._tokens.get(token_id)
        return record is not None and record.active

    def tokens(self) -> list[TokenRecord]:
        return sorted(self._tokens.values(), key=lambda t: (t.issued_at, t.token_id))

    async def refresh(self) -> None:
        """Fold the events of `admin-tokens` this table has not seen yet."""
        async with self._lock:
            await self._refresh_locked()

    async def _refresh_locked(self) -> None:
        if await self._store.stream_version(TOKEN_STREAM) == self._version:
            return
        for event in await self._store.read_stream(TOKEN_STREAM, after_version=self._version):
            self._apply(event)
            self._version = event.version

    async def issue(self, *, name: str, role: Role, metadata: Metadata) -> IssuedToken:
        """Record a new token; returns it with its secret (shown once, never stored)."""
        token_id, secret = new_token()
        data = TokenIssued(token_id=token_id, name=name, role=role, token_hash=hash_token(secret))
        await self._append(data, metadata, expected_version="any")
        return IssuedToken(token_id=token_id, name=name, role=role, secret=secret)

    async def bootstrap(self, *, metadata: Metadata) -> IssuedToken | None:
        """Issue the first admin token if and only if no token was ever issued.

        Expecting `no_stream` makes this safe when several workers start at once: one wins,
        the others see the stream exists and do nothing."""
        await self.refresh()
        if self._version:
            return None
        token_id, secret = new_token()
        data = TokenIssued(
            token_id=token_id, name="bootstrap-admin", role="admin", token_hash=hash_token(secret)
        )
        try:
            await self._append(data, metadata, expected_version="no_stream")
        except WrongExpectedVersion:
            await self.refresh()
            return None
        return IssuedToken(token_id=token_id, name="bootstrap-admin", role="admin", secret=secret)

    async def revoke(self, token_id: str, *, metadata: Metadata, reason: str | None = None) -> None:
        """Record the revocation of an active token (UnknownToken otherwise)."""
        await self.refresh()
        record = self._tokens.get(token_id)
        if record is None or not record.active:
            raise UnknownToken(token_id)
        await self._append(TokenRevoked(token_id=token_id, reason=reason), metadata, "any")

    async def _append(
        self, data: EventData, metadata: Metadata, expected_version: ExpectedVersion
    ) -> None:
        event = Proposed(type=data.type_name, data=data, occurred_at=dt.datetime.now(dt.UTC))
        await self._store.append(
            TOKEN_STREAM, [event], expected_version=expected_version, metadata=metadata
        )
        await self.refresh()

    def _apply(self, event: RecordedEvent) -> None:
        decoder = decoder_for(event.type)
        if decoder is None:
            return
        match decoder.decode(event.data):
            case TokenIssued(token_id=token_id, name=name, role=role, token_hash=token_hash):
                self._tokens[token_id] = TokenRecord(
                    token_id=token_id,
                    name=name,
                    role=role,
                    token_hash=token_hash,
                    issued_at=event.recorded_at,
                )
            case TokenRevoked(token_id=token_id) if token_id in self._tokens:
                self._tokens[token_id] = msgspec.structs.replace(
                    self._tokens[token_id], revoked_at=event.recorded_at
                )
            case _:
                pass

    # -- keeping the table fresh while the service runs ------------------------------------

    def start(self) -> None:
        """Refresh in the background: woken by the store's listener, or every refresh period."""
        loop = asyncio.get_running_loop()

        def on_commit(_head: int) -> None:
            self._stale = True
            with contextlib.suppress(RuntimeError):  # the loop has closed: nothing to wake
                loop.call_soon_threadsafe(self._changed.set)

        self._store.add_listener(on_commit, streams=frozenset({TOKEN_STREAM}))
        database = self._store.engine.url.database
        if self._store.dialect == "sqlite" and database not in (None, "", ":memory:"):
            self._file_version = SqliteStreamVersion(database, TOKEN_STREAM)
        self._task = asyncio.create_task(self._watch(), name="token-table")

    async def stop(self) -> None:
        """Stop the background refresh (letting a refresh in progress finish, briefly)."""
        if self._file_version is not None:
            self._file_version.close()
            self._file_version = None
        if self._task is None:
            return
        self._stopping = True
        self._changed.set()
        done, _ = await asyncio.wait({self._task}, timeout=_STOP_GRACE)
        if not done:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
        self._task = None

    async def _watch(self) -> None:
        # A stop flag rather than cancellation alone: on Python 3.11 `asyncio.wait_for` can
        # swallow a cancel that arrives as its inner wait completes, and the loop runs on.
        while not self._stopping:
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(self._refresh_seconds):
                    await self._changed.wait()
            self._changed.clear()
            if self._stopping:
                return
            try:
                await self.refresh()
            except Exception as error:  # keep serving the last table
                log.warning("could not refresh the token table: %s", type(error).__name__)
            # Under a stream of appends, check at most this often.
            await asyncio.sleep(_MIN_REFRESH_SPACING)
