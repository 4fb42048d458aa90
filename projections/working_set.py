"""Folding batches of events into the read models with few statements.

A working set keeps documents in memory, least recently touched first. `apply` folds log
rows into them in place (after `load` has fetched the stored ones it lacks, one query per
read model). `take` encodes the changed documents into the rows of every table, as plain
tuples, and `write` stores those with one driver-level statement per table. The runner takes
and writes everything once per batch, in the transaction that claims the checkpoint; a
rebuild takes only the least recently touched documents when memory fills (and drops them),
so each document of a log whose streams are written in runs is written about once, and it
can write one set while it folds the next pages.

`take` counts what it took as stored: if writing it fails, `discard()` the set (documents
were changed in place, so everything held is forgotten and loaded again when needed).
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Callable, Collection, Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any, Generic, Protocol, TypeVar

from sqlalchemy.engine import Connection
from sqlalchemy.ext.asyncio import AsyncConnection

from events._fast_reads import Row
from events.catalogue import EventData
from projections import (
    delegation_view,
    delegations,
    follow_ups,
    owners,
    partnership_search,
    partnership_view,
    partnerships,
)
from projections._trusted import decode_trusted
from projections.delegation_view import Delegation
from projections.partnership_view import Partnership
from projections.schema import ProjectionTables

_AGREEMENT = partnership_view.CATEGORY + "-"
_DELEGATION = delegation_view.CATEGORY + "-"


class _View(Protocol):
    version: int


V = TypeVar("V", bound=_View)
Apply = Callable[[V | None, EventData | None, str, int, int, str], V | None]


class _Docs(Generic[V]):
    """The documents of one read model in memory, by id."""

    def __init__(self, apply: Apply[V], *, complete: bool) -> None:
        self.apply = apply
        self.held: OrderedDict[str, V] = OrderedDict()
        """Documents in memory, least recently touched first."""
        self.dirty: set[str] = set()
        """Held documents changed since they were last taken for writing."""
        self.in_table: set[str] = set()
        """Ids whose row exists in the table (among the held ids, or all when `complete`)."""
        self.complete = complete
        """True when `in_table` knows every row (a rebuild's fresh tables): ids neither held
        nor in it are new, so no load is ever needed for them."""
        self.weight = 0
        """Events folded into the held documents (their versions): a proxy for memory."""

    def missing(self, ids: Iterable[str]) -> list[str]:
        """Ids whose stored document must be loaded before folding into them."""
        if self.complete:
            return [i for i in ids if i not in self.held and i in self.in_table]
        return [i for i in ids if i not in self.held]

    def loaded(self, found: dict[str, V]) -> None:
        for key, view in found.items():
            self.held[key] = view
            self.in_table.add(key)
            self.weight += view.version

    def fold(
        self, key: str, data: EventData | None, version: int, position: int, occurred_at: str
    ) -> None:
        held = self.held
        view = held.get(key)
        if view is not None:
            held.move_to_end(key)
        new = self.apply(view, data, key, version, position, occurred_at)
        if new is None:
            return
        if new is not view:
            held[key] = new
            self.weight += new.version - (0 if view is None else view.version)
        else:
            self.weight += 1
        self.dirty.add(key)

    def oldest(self, keep_docs: int, keep_weight: int) -> list[str]:
        """The least recently touched ids to drop so that at most `keep_docs` documents
        weighing at most `keep_weight` stay."""
        count, weight = len(self.held), self.weight
        keys: list[str] = []
        for key, view in self.held.items():
            if count <= keep_docs and weight <= keep_weight:
                break
            keys.append(key)
            count -= 1
            weight -= view.version
        return keys

    def take(self, keys: Iterable[str] | None) -> tuple[dict[str, V], list[str]]:
        """The dirty documents among `keys` (all if None), now counted as written, and
        which of them were in the table before."""
        chosen = list(self.dirty) if keys is None else [k for k in keys if k in self.dirty]
        views = {key: self.held[key] for key in chosen}
        stored = [key for key in chosen if key in self.in_table]
        self.dirty.difference_update(chosen)
        self.in_table.update(chosen)
        return views, stored

    def drop(self, keys: Iterable[str]) -> None:
        """Forget clean documents (a complete set still knows they are in the table)."""
        for key in keys:
            if key in self.dirty:
                raise RuntimeError(f"{key} is not written yet: take it first")
            view = self.held.pop(key, None)
            if view is not None:
                self.weight -= view.version
            if not self.complete:
                self.in_table.discard(key)

    def forget(self) -> None:
        self.held.clear()
        self.dirty.clear()
        self.in_table.clear()
        self.weight = 0
        self.complete = False


@dataclass
class Writes:
    """Taken documents, encoded into the rows of every table (see `WorkingSet.write`)."""

    partnerships: dict[str, bytes] = field(default_factory=dict)
    """Encoded partnership documents by id (also what caches of stored bytes want)."""
    delegations: dict[str, bytes] = field(default_factory=dict)
    partnership_rows: list[tuple[Any, ...]] = field(default_factory=list)
    sector_rows: list[tuple[Any, ...]] = field(default_factory=list)
    owner_deletes: list[tuple[Any, ...]] = field(default_factory=list)
    owner_rows: list[tuple[Any, ...]] = field(default_factory=list)
    follow_up_rows: list[tuple[Any, ...]] = field(default_factory=list)
    term_rows: list[tuple[Any, ...]] = field(default_factory=list)
    text_rows: list[tuple[Any, ...]] = field(default_factory=list)
    delegation_rows: list[tuple[Any, ...]] = field(default_factory=list)

    def __bool__(self) -> bool:
        return bool(self.partnerships or self.delegations)


class WorkingSet:
    def __init__(self, tables: ProjectionTables, *, fresh: bool = False) -> None:
        """`fresh`: the tables are known to be empty (a rebuild's new shadow tables)."""
        self.tables = tables
        self._partnerships: _Docs[Partnership] = _Docs(partnership_view.apply, complete=fresh)
        self._delegations: _Docs[Delegation] = _Docs(delegation_view.apply, complete=fresh)

    @property
    def size(self) -> int:
        """Documents held in memory."""
        return len(self._partnerships.held) + len(self._delegations.held)

    @property
    def weight(self) -> int:
        """Events folded into the documents held (a proxy for their memory)."""
        return self._partnerships.weight + self._delegations.weight

    @property
    def complete(self) -> bool:
        """True while no stored document is unknown to the set (so `apply` needs no load)."""
        return self._partnerships.complete and self._delegations.complete

    @property
    def dirty(self) -> bool:
        return bool(self._partnerships.dirty or self._delegations.dirty)

    def needs_load(self, rows: Sequence[Row]) -> bool:
        """True if folding `rows` needs documents from the tables (see `load`)."""
        agreements, delegations_ = _ids(rows)
        return bool(
            self._partnerships.missing(agreements) or self._delegations.missing(delegations_)
        )

    async def load(self, connection: AsyncConnection, rows: Sequence[Row]) -> None:
        """Load the stored documents that folding `rows` needs and the set lacks."""
        agreements, delegations_ = _ids(rows)
        missing = self._partnerships.missing(agreements)
        if missing:
            found = await partnerships.load(connection, self.tables.partnerships, missing)
            self._partnerships.loaded(found)
        missing = self._delegations.missing(delegations_)
        if missing:
            found_d = await delegations.load(connection, self.tables.delegations, missing)
            self._delegations.loaded(found_d)

    def apply(self, rows: Sequence[Row]) -> None:
        """Fold log rows (in position order) into the documents, in place. Load first what
        `needs_load` says is missing, or the folds start from nothing."""
        agreements, delegations_ = self._partnerships, self._delegations
        for position, stream_id, version, type_, schema_version, occurred_at, _, data in rows:
            if stream_id.startswith(_AGREEMENT):
                event = decode_trusted(type_, schema_version, data)
                agreements.fold(stream_id, event, version, position, occurred_at)
            elif stream_id.startswith(_DELEGATION):
                event = decode_trusted(type_, schema_version, data)
                delegations_.fold(stream_id, event, version, position, occurred_at)

    def oldest(self, keep_docs: int, keep_weight: int) -> list[str]:
        """The least recently touched ids to evict so that each read model keeps at most
        `keep_docs` documents weighing at most `keep_weight` events."""
        return [
            *self._partnerships.oldest(keep_docs, keep_weight),
            *self._delegations.oldest(keep_docs, keep_weight),
        ]

    def take(self, keys: Collection[str] | None = None, *, evict: bool = False) -> Writes:
        """Encode the changed documents (all, or those among `keys`) into table rows and
        count them as written. `evict`: also drop `keys` from memory."""
        writes = Writes()
        views, stored = self._partnerships.take(keys)
        if views:
            writes.partnerships = {key: partnerships.encode(v) for key, v in views.items()}
            writes.partnership_rows = partnerships.doc_rows(views, writes.partnerships)
            writes.sector_rows = partnerships.sector_rows(
                views[key] for key in views.keys() - set(stored)
            )
            writes.owner_deletes = [(key,) for key in stored]
            writes.owner_rows = owners.item_rows(views.values())
            writes.follow_up_rows = follow_ups.item_rows(views.values())
            writes.term_rows = partnership_search.term_rows(views.values())
            writes.text_rows = partnership_search.text_rows(views.values())
        views_d, _ = self._delegations.take(keys)
        if views_d:
            writes.delegations = {key: delegations.encode(v) for key, v in views_d.items()}
            writes.delegation_rows = delegations.doc_rows(views_d, writes.delegations)
        if evict and keys is not None:
            self.evict(keys)
        return writes

    def write(self, connection: Connection, writes: Writes) -> None:
        """Store what `take` gave, in `connection`'s transaction (synchronous: from async
        code, `await connection.run_sync(working.write, writes)`)."""
        tables = self.tables
        if writes.partnerships:
            partnerships.save(
                connection, tables.partnerships, writes.partnership_rows, writes.sector_rows
            )
            owners.replace_rows(
                connection, tables.owner_items, writes.owner_deletes, writes.owner_rows
            )
            follow_ups.replace_rows(
                connection, tables.follow_ups, writes.owner_deletes, writes.follow_up_rows
            )
            partnership_search.replace_rows(
                connection, tables.search, writes.owner_deletes, writes.term_rows, writes.text_rows
            )
        if writes.delegations:
            delegations.save(connection, tables.delegations, writes.delegation_rows)

    async def flush(self, connection: AsyncConnection) -> Writes:
        """Take every changed document and write it in `connection`'s transaction."""
        writes = self.take()
        await connection.run_sync(self.write, writes)
        return writes

    def discard(self) -> None:
        """A write failed or someone else wrote: forget everything held."""
        self._partnerships.forget()
        self._delegations.forget()

    def evict(self, keys: Iterable[str] | None = None) -> None:
        """Drop clean documents (all, or those of `keys`) to bound memory; they are loaded
        again when needed."""
        for docs in (self._partnerships, self._delegations):
            docs.drop(list(docs.held) if keys is None else [k for k in keys if k in docs.held])


def _ids(rows: Sequence[Row]) -> tuple[list[str], list[str]]:
    streams = {row[1] for row in rows}
    return (
        [s for s in streams if s.startswith(_AGREEMENT)],
        [s for s in streams if s.startswith(_DELEGATION)],
    )
