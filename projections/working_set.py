"""Folding batches of events into the read models with few statements.

A working set keeps the documents a batch touches in memory: it loads the ones it lacks in
one query per read model, folds the events with the pure `evolve` functions, and on `flush`
writes back only what changed, with bulk upserts. The runner flushes once per batch, in the
transaction that also claims the checkpoint; a rebuild flushes when the set grows large.

The set's memory of what is stored is only true once the flush has committed: call
`committed()` after the commit, `discard()` if the transaction failed.
"""

from __future__ import annotations

from collections.abc import Callable, Collection, Sequence
from typing import Generic, TypeVar

from sqlalchemy.ext.asyncio import AsyncConnection

from events.envelope import RecordedEvent
from projections import delegation_view, delegations, owners, partnership_view, partnerships
from projections.delegation_view import Delegation
from projections.partnership_view import Partnership
from projections.schema import ProjectionTables

V = TypeVar("V")

_AGREEMENT = partnership_view.CATEGORY + "-"
_DELEGATION = delegation_view.CATEGORY + "-"


class _Docs(Generic[V]):
    """Documents of one read model by id: committed versions and the batch's changes."""

    def __init__(self, evolve: Callable[[V | None, RecordedEvent], V | None], *, complete: bool):
        self._evolve = evolve
        self.stored: dict[str, V] = {}
        """What the tables hold for the ids seen (absent id: not stored, or not loaded)."""
        self.known: set[str] = set()
        """Ids whose stored state (present or absent) is known."""
        self.changed: dict[str, V] = {}
        self.complete = complete
        """True when the tables hold nothing but what `stored` holds (a fresh rebuild)."""

    def unknown(self, ids: Collection[str]) -> list[str]:
        if self.complete:
            return []
        return [i for i in ids if i not in self.known]

    def loaded(self, ids: Collection[str], found: dict[str, V]) -> None:
        self.stored.update(found)
        self.known.update(ids)

    def fold(self, key: str, event: RecordedEvent) -> None:
        view = self.changed.get(key)
        if view is None:
            view = self.stored.get(key)
        new = self._evolve(view, event)
        if new is not None:
            self.changed[key] = new

    def committed(self) -> None:
        self.stored.update(self.changed)
        self.known.update(self.changed)
        self.changed = {}

    def forget(self) -> None:
        self.stored.clear()
        self.known.clear()
        self.changed = {}
        self.complete = False


class WorkingSet:
    def __init__(self, tables: ProjectionTables, *, fresh: bool = False) -> None:
        """`fresh`: the tables are known to be empty (a rebuild's new shadow tables)."""
        self.tables = tables
        self._partnerships: _Docs[Partnership] = _Docs(partnership_view.evolve, complete=fresh)
        self._delegations: _Docs[Delegation] = _Docs(delegation_view.evolve, complete=fresh)

    @property
    def size(self) -> int:
        """Documents held in memory."""
        p, d = self._partnerships, self._delegations
        return len(p.stored) + len(p.changed) + len(d.stored) + len(d.changed)

    @property
    def complete(self) -> bool:
        """True while every stored document is in memory (no load query is ever needed)."""
        return self._partnerships.complete and self._delegations.complete

    @property
    def dirty(self) -> bool:
        return bool(self._partnerships.changed or self._delegations.changed)

    async def apply(
        self, connection: AsyncConnection | None, events: Sequence[RecordedEvent]
    ) -> None:
        """Fold `events` (in position order) into memory, loading the documents they touch
        through `connection` (which may be None while the set is `complete`)."""
        agreements = [e for e in events if e.stream_id.startswith(_AGREEMENT)]
        delegations_ = [e for e in events if e.stream_id.startswith(_DELEGATION)]
        agreement_ids = {e.stream_id for e in agreements}
        delegation_ids = {e.stream_id for e in delegations_}
        missing = self._partnerships.unknown(agreement_ids)
        if (missing or self._delegations.unknown(delegation_ids)) and connection is None:
            raise ValueError("a connection is needed to load documents")
        if missing and connection is not None:
            found = await partnerships.load(connection, self.tables.partnerships, missing)
            self._partnerships.loaded(missing, found)
        missing = self._delegations.unknown(delegation_ids)
        if missing and connection is not None:
            found_d = await delegations.load(connection, self.tables.delegations, missing)
            self._delegations.loaded(missing, found_d)
        # Streams are independent: folding each category's events in position order is
        # the same as folding the whole batch in position order.
        for event in agreements:
            self._partnerships.fold(event.stream_id, event)
        for event in delegations_:
            self._delegations.fold(event.stream_id, event)

    async def flush(self, connection: AsyncConnection) -> None:
        """Write every changed document (and the rows derived from it) in `connection`'s
        transaction."""
        changed = self._partnerships.changed
        if changed:
            stored = self._partnerships.stored
            await partnerships.save(connection, self.tables.partnerships, changed, stored)
            await owners.replace_rows(
                connection, self.tables.owner_items, changed.values(), stored.keys()
            )
        if self._delegations.changed:
            await delegations.save(
                connection, self.tables.delegations, self._delegations.changed.values()
            )

    def committed(self) -> None:
        """The flush committed: what was written is now what is stored."""
        self._partnerships.committed()
        self._delegations.committed()

    def discard(self) -> None:
        """The transaction failed or someone else wrote: forget everything held."""
        self._partnerships.forget()
        self._delegations.forget()

    def evict(self) -> None:
        """Drop clean documents to bound memory (they will be loaded again when needed)."""
        if self.dirty:
            raise RuntimeError("flush and commit before evicting")
        self._partnerships.forget()
        self._delegations.forget()
