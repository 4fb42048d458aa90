"""Audit over HTTP (auditors): verify the chain in bounded steps, signed checkpoints, and
Merkle proofs that an auditor checks against checkpoints they keep.

`/audit/verify` checks at most `MAX_VERIFY_EVENTS` events a call and says where to resume,
passing the hash it ended on so that the next call also proves the two scans join up; it also
recomputes the stored Merkle nodes those events complete, so a walk from position 1 checks the
whole stored tree that proofs are read from (a wrong node is named by level and index). A broken
log is a result (`ok: false`, 200), not an error. Checkpoints and proofs read the Merkle tree
stored in the database (`events.tree_audit.StoredLogTree`, one per app), which signs nothing
over events that fail verification (500 `log-broken`).

The per-app audit state (`AuditState`: the tree and the signing key) is taken from
`request.state.audit` when the lifespan provides it, and otherwise made on first use from the
settings and kept on the app.
"""

from __future__ import annotations

import asyncio
import dataclasses
from pathlib import Path
from typing import Annotated, Any

import msgspec
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from starlette.responses import Response

from events.audit import (
    LogBroken,
    resume_hash,
    signing_key_path,
    verify_store,
)
from events.envelope import Metadata
from events.log_identity import UnknownSigningKey, signing_key
from events.signed_checkpoints import Checkpoint, origin_for, public_key_pem
from events.store import EventStore
from events.tree_audit import StoredLogTree, verify_stored_tree
from events.verification import VerificationReport
from service.problems import InvalidInput
from service.responses import FieldProblem, JSONResponse, ProblemResponse, problem
from service.routes.base import POSITION_MAX, Call, Endpoint, NoParams
from service.settings import Settings

MAX_VERIFY_EVENTS = 100_000
"""Most events one `GET /audit/verify` checks (about a second of work)."""

PEM_MEDIA_TYPE = "application/x-pem-file"

SERVICE_ACTOR = "service:audit"
"""The actor of the log's id and first signing key when the service records them."""

Size = Annotated[int, msgspec.Meta(ge=0, le=POSITION_MAX)]
Position = Annotated[int, msgspec.Meta(ge=1, le=POSITION_MAX)]
Hash = Annotated[str, msgspec.Meta(pattern=r"^[0-9a-f]{64}$")]


# --- state -----------------------------------------------------------------------------------


@dataclasses.dataclass(eq=False)
class AuditState:
    """What audit keeps for the life of the app: the log's tree and the signing key."""

    key_path: Path
    _tree: StoredLogTree | None = None
    _key: tuple[Ed25519PrivateKey, str] | None = None
    _key_lock: asyncio.Lock = dataclasses.field(default_factory=asyncio.Lock)

    @classmethod
    def for_settings(cls, settings: Settings) -> AuditState:
        return cls(key_path=signing_key_path(settings.database_url))

    def tree(self, store: EventStore) -> StoredLogTree:
        if self._tree is None:
            self._tree = StoredLogTree(store)
        return self._tree

    async def signing_key(self, store: EventStore) -> tuple[Ed25519PrivateKey, str]:
        """The key the log records and the log's origin, on first use; a log that records no
        key yet gets this one (raises UnknownSigningKey for a missing or another key)."""
        async with self._key_lock:
            if self._key is None:
                key, identity = await signing_key(
                    store, self.key_path, metadata=Metadata(actor=SERVICE_ACTOR)
                )
                assert identity.log_id is not None  # recorded with the key
                self._key = key, origin_for(identity.log_id)
            return self._key


def audit_state(call: Call[Any, Any]) -> AuditState:
    """The lifespan's `audit` state if it set one, else one made once per app."""
    provided = getattr(call.request.state, "audit", None)
    if isinstance(provided, AuditState):
        return provided
    app_state = call.request.app.state
    state = getattr(app_state, "audit", None)
    if not isinstance(state, AuditState):
        state = AuditState.for_settings(call.services.settings)
        app_state.audit = state
    return state


# --- parameters and bodies -------------------------------------------------------------------


class VerifyParams(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    from_: Position = msgspec.field(default=1, name="from")
    """The first position to check."""
    limit: Annotated[int, msgspec.Meta(ge=1, le=POSITION_MAX)] = MAX_VERIFY_EVENTS
    """At most this many events (capped at 100,000)."""
    prev_hash: Hash | None = None
    """The hash the previous call ended on (`next.prev_hash`); without it, the stored hash of
    position `from - 1` is used."""


class Resume(msgspec.Struct, frozen=True, kw_only=True):
    """The query for the next call: `?from=<from>&prev_hash=<prev_hash>`."""

    from_: int = msgspec.field(name="from")
    prev_hash: str


class VerifyResult(msgspec.Struct, frozen=True, kw_only=True):
    report: VerificationReport
    head: int
    """The last position in the log when the call began; the scan went no further."""
    next: Resume | None
    """Where to go on, or null when the scan reached `head` or found a break."""


class ConsistencyParams(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    from_: Size = msgspec.field(name="from")
    """The size of the older log (an older checkpoint's `size`)."""
    to: Size
    """The size of the newer log."""


class ConsistencyProof(msgspec.Struct, frozen=True, kw_only=True):
    from_: int = msgspec.field(name="from")
    to: int
    from_root: str
    to_root: str
    proof: list[str]
    """RFC 9162 §2.1.4 consistency proof, each node as 64 hex digits."""


class InclusionParams(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    position: Position
    size: Position | None = None
    """The size of the log to prove inclusion in; the current size by default."""


class InclusionProof(msgspec.Struct, frozen=True, kw_only=True):
    position: int
    size: int
    leaf: str
    """The event's `hash`: the tree's leaf at index `position - 1`."""
    root: str
    proof: list[str]
    """RFC 9162 §2.1.3 inclusion proof, each node as 64 hex digits."""


# --- handlers --------------------------------------------------------------------------------


async def verify(call: Call[VerifyParams, None]) -> Response:
    params, store = call.params, call.services.store
    limit = min(params.limit, MAX_VERIFY_EVENTS)
    head = await store.head()
    start = params.from_
    if start > head + 1:
        raise _invalid("query.from", f"is past the end of the log (head {head})")
    prev_hash = params.prev_hash or await resume_hash(store, start - 1)
    if prev_hash is None:
        report = VerificationReport(
            ok=False,
            checked=0,
            head_position=start - 1,
            head_hash="",
            first_broken_position=start - 1,
            reason=f"position {start - 1} missing (deleted?): nothing to resume from",
        )
    else:
        report = await verify_store(
            store, start_position=start, start_prev_hash=prev_hash, limit=limit, until=head
        )
        if report.ok:
            tree = await verify_stored_tree(store, after=start - 1, until=report.head_position)
            if not tree.ok:
                report = tree
    more = report.ok and report.head_position < head
    resume = Resume(from_=report.head_position + 1, prev_hash=report.head_hash) if more else None
    return JSONResponse(VerifyResult(report=report, head=head, next=resume))


async def checkpoint(call: Call[NoParams, None]) -> Response:
    state = audit_state(call)
    tree = state.tree(call.services.store)
    try:
        # The key first: its registration must be inside the checkpoint it signs.
        key, origin = await state.signing_key(call.services.store)
        await tree.refresh()
    except LogBroken as broken:
        return _log_broken(broken)
    except UnknownSigningKey as unknown:
        return _unknown_key(unknown)
    signed: Checkpoint = await tree.checkpoint(key, origin=origin)
    return JSONResponse(signed)


async def consistency(call: Call[ConsistencyParams, None]) -> Response:
    m, n = call.params.from_, call.params.to
    if m > n:
        raise _invalid("query.from", f"must not exceed `to` ({n})")
    tree = audit_state(call).tree(call.services.store)
    broken = await _grow(tree, n, "query.to")
    if broken is not None:
        return broken
    proof = await tree.consistency(m, n)
    return JSONResponse(
        ConsistencyProof(
            from_=m,
            to=n,
            from_root=(await tree.root(m)).hex(),
            to_root=(await tree.root(n)).hex(),
            proof=[node.hex() for node in proof],
        )
    )


async def inclusion(call: Call[InclusionParams, None]) -> Response:
    position, size = call.params.position, call.params.size
    tree = audit_state(call).tree(call.services.store)
    broken = await _grow(tree, max(position, size or 0), "query.size")
    if broken is not None:
        return broken
    size = tree.size if size is None else size
    if position > size:
        raise _invalid("query.position", f"is outside a log of {size} events")
    return JSONResponse(
        InclusionProof(
            position=position,
            size=size,
            leaf=(await tree.leaf(position)).hex(),
            root=(await tree.root(size)).hex(),
            proof=[node.hex() for node in await tree.inclusion(position, size)],
        )
    )


async def public_key(call: Call[NoParams, None]) -> Response:
    try:
        key, _ = await audit_state(call).signing_key(call.services.store)
    except UnknownSigningKey as unknown:
        return _unknown_key(unknown)
    return Response(public_key_pem(key), media_type=PEM_MEDIA_TYPE)


async def _grow(tree: StoredLogTree, size: int, field: str) -> Response | None:
    """Refresh the tree if it is smaller than `size`; a problem response if that fails."""
    if size > tree.size:
        try:
            await tree.refresh()
        except LogBroken as broken:
            return _log_broken(broken)
        if size > tree.size:
            raise _invalid(field, f"is past the end of the log ({tree.size} events)")
    return None


def _invalid(path: str, message: str) -> InvalidInput:
    return InvalidInput([FieldProblem(path, message)])


def _log_broken(broken: LogBroken) -> Response:
    report = broken.report
    detail = (
        f"verification fails at position {report.first_broken_position}: {report.reason}; "
        "nothing is signed or proven over a broken log"
    )
    return ProblemResponse(problem("log-broken", "The log fails verification", 500, detail))


def _unknown_key(unknown: UnknownSigningKey) -> Response:
    return ProblemResponse(
        problem("signing-key-unknown", "The signing key is not the log's", 500, str(unknown))
    )


# --- declarations ----------------------------------------------------------------------------
# Checkpoint and proofs may also answer 500 `log-broken`: nothing is signed over a broken log.

AUDIT_ROUTES: tuple[Endpoint, ...] = (
    Endpoint(
        method="GET",
        path="/audit/verify",
        name="audit_verify",
        summary="Recompute the hash chain over a stretch of the log",
        description=(
            "Checks at most 100,000 events from `from`; `next` gives the query for the next"
            " call. A broken log answers 200 with `report.ok` false and"
            " `report.first_broken_position`. A `from` past the log's head plus one is 422"
            " (`query.from`): the log is not that long yet."
        ),
        handler=verify,
        permission="read_log",
        params=VerifyParams,
        responses={200: VerifyResult},
    ),
    Endpoint(
        method="GET",
        path="/audit/checkpoint",
        name="audit_checkpoint",
        summary="A signed checkpoint of the log as it is now (keep it outside the system)",
        description=(
            "The log's origin (naming its id), size, head hash and RFC 9162 Merkle root, signed"
            " with the Ed25519 key the log records (`/audit/public-key`). The body is the"
            " checkpoint file `agreements verify --checkpoint` reads."
        ),
        handler=checkpoint,
        errors=(500,),
        permission="read_log",
        responses={200: Checkpoint},
    ),
    Endpoint(
        method="GET",
        path="/audit/consistency",
        name="audit_consistency",
        summary="Proof that the log of size `to` extends the log of size `from`",
        description=(
            "422 when `from` exceeds `to` (`query.from`) or `to` exceeds the log's current"
            " size (`query.to`): no proof exists yet for a log that long."
        ),
        handler=consistency,
        errors=(500,),
        permission="read_log",
        params=ConsistencyParams,
        responses={200: ConsistencyProof},
    ),
    Endpoint(
        method="GET",
        path="/audit/inclusion",
        name="audit_inclusion",
        summary="Proof that the event at `position` is in the log of `size` events",
        description=(
            "422 when `size` (or, without it, `position`) exceeds the log's current size"
            " (`query.size`), or `position` exceeds `size` (`query.position`)."
        ),
        handler=inclusion,
        errors=(500,),
        permission="read_log",
        params=InclusionParams,
        responses={200: InclusionProof},
    ),
    Endpoint(
        method="GET",
        path="/audit/public-key",
        name="audit_public_key",
        summary="The public key that checkpoints are signed with (PEM)",
        handler=public_key,
        permission="read_log",
        responses={200: None},
        media_type=PEM_MEDIA_TYPE,
    ),
)
