"""Folding batches of events into the read models with few statements.

A working set keeps the documents of every read model in the registry
(`projections.registry`) in memory, least recently touched first. `apply` folds log rows
into them in place through the one fold pipeline (`projections.fold`), after `load` has
fetched the stored ones it lacks (one query per read model) and the streams a correction
folds again. `take` encodes the changed documents into the rows of every table, as plain
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
from collections.abc import Collection, Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any, Generic

from sqlalchemy.engine import Connection
from sqlalchemy.ext.asyncio import AsyncConnection

from events.log_reads import Row
from projections import registry
from projections.fold import Fold, History, read_histories
from projections.read_model import Apply, DerivedModel, ReadModel, V
from projections.schema import ProjectionTables


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
        self.refolded: set[str] = set()
        """Dirty documents folded again from their stream (see `projections.fold`)."""

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

    def fold(self, key: str, data: Any, version: int, position: int, occurred_at: str) -> None:
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

    def replace(self, key: str, view: V) -> None:
        before = self.held.pop(key, None)
        self.held[key] = view
        self.weight += view.version - (0 if before is None else before.version)
        self.dirty.add(key)
        self.refolded.add(key)

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

    def take(self, keys: Iterable[str] | None) -> tuple[dict[str, V], list[str], set[str]]:
        """The dirty documents among `keys` (all if None), now counted as written, which
        of them were in the table before, and which were folded again."""
        chosen = list(self.dirty) if keys is None else [k for k in keys if k in self.dirty]
        views = {key: self.held[key] for key in chosen}
        stored = [key for key in chosen if key in self.in_table]
        refolded = self.refolded.intersection(chosen)
        self.dirty.difference_update(chosen)
        self.refolded.difference_update(chosen)
        self.in_table.update(chosen)
        return views, stored, refolded

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
        self.refolded.clear()
        self.in_table.clear()
        self.weight = 0
        self.complete = False


@dataclass
class Writes:
    """Taken documents, encoded into the rows of every table (see `WorkingSet.write`)."""

    docs: dict[str, bytes] = field(default_factory=dict)
    """Encoded documents by id, of every read model (what caches of stored bytes want)."""
    rows: list[tuple[ReadModel[Any], Any]] = field(default_factory=list)
    """Each read model with the rows of its documents."""
    derived: list[tuple[DerivedModel[Any], list[tuple[str]], Any]] = field(default_factory=list)
    """Each derived model with the ids whose old rows go, and its new rows."""


class WorkingSet:
    def __init__(self, tables: ProjectionTables, *, fresh: bool = False) -> None:
        """`fresh`: the tables are known to be empty (a rebuild's new shadow tables)."""
        self.tables = tables
        self._docs: dict[str, _Docs[Any]] = {
            model.name: _Docs(model.apply, complete=fresh) for model in registry.READ_MODELS
        }
        self._fold = Fold(self._docs)
        self._histories: dict[str, History] = {}
        """The streams the next `apply` folds again, read by `load`."""

    @property
    def size(self) -> int:
        """Documents held in memory."""
        return sum(len(docs.held) for docs in self._docs.values())

    @property
    def weight(self) -> int:
        """Events folded into the documents held (a proxy for their memory)."""
        return sum(docs.weight for docs in self._docs.values())

    def needs_load(self, rows: Sequence[Row]) -> bool:
        """True if folding `rows` needs documents from the tables, or streams from the log
        to fold again (see `load`)."""
        wanted = self._fold.wanted(rows)
        ids = self._ids(rows, wanted)
        return bool(wanted) or any(self._docs[name].missing(keys) for name, keys in ids.items())

    async def load(self, connection: AsyncConnection, rows: Sequence[Row]) -> None:
        """Load the stored documents that folding `rows` needs and the set lacks, and the
        streams it folds again."""
        wanted = self._fold.wanted(rows)
        ids = self._ids(rows, wanted)
        for model in registry.READ_MODELS:
            docs = self._docs[model.name]
            missing = docs.missing(ids.get(model.name, ()))
            if missing:
                docs.loaded(await model.load(connection, self.tables.of[model.name], missing))
        self._histories = await read_histories(connection.engine, wanted) if wanted else {}

    def apply(self, rows: Sequence[Row]) -> None:
        """Fold log rows (in position order) into the documents, in place. Load first what
        `needs_load` says is missing, or the folds start from nothing."""
        histories, self._histories = self._histories, {}
        self._fold.apply(rows, histories)

    def oldest(self, keep_docs: int, keep_weight: int) -> list[str]:
        """The least recently touched ids to evict so that each read model keeps at most
        `keep_docs` documents weighing at most `keep_weight` events."""
        return [key for docs in self._docs.values() for key in docs.oldest(keep_docs, keep_weight)]

    def take(self, keys: Collection[str] | None = None, *, evict: bool = False) -> Writes:
        """Encode the changed documents (all, or those among `keys`) into table rows and
        count them as written. `evict`: also drop `keys` from memory."""
        writes = Writes()
        for model in registry.READ_MODELS:
            views, stored, refolded = self._docs[model.name].take(keys)
            if not views:
                continue
            encode = model.encode
            encoded = {key: encode(view) for key, view in views.items()}
            writes.docs.update(encoded)
            new = views.keys() - set(stored)
            writes.rows.append((model, model.rows(views, encoded, new, refolded)))
            derived = registry.derived_from(model.name)
            if derived:
                stale = [(key,) for key in stored]
                documents = list(views.values())
                writes.derived += [(d, stale, d.rows(documents)) for d in derived]
        if evict and keys is not None:
            self.evict(keys)
        return writes

    def write(self, connection: Connection, writes: Writes) -> None:
        """Store what `take` gave, in `connection`'s transaction (synchronous: from async
        code, `await connection.run_sync(working.write, writes)`)."""
        tables = self.tables.of
        for model, rows in writes.rows:
            model.save(connection, tables[model.name], rows)
        for derived, stale, rows in writes.derived:
            derived.save(connection, tables[derived.name], stale, rows)

    async def flush(self, connection: AsyncConnection) -> Writes:
        """Take every changed document and write it in `connection`'s transaction."""
        writes = self.take()
        await connection.run_sync(self.write, writes)
        return writes

    def discard(self) -> None:
        """A write failed or someone else wrote: forget everything held."""
        for docs in self._docs.values():
            docs.forget()
        self._histories = {}

    def evict(self, keys: Iterable[str] | None = None) -> None:
        """Drop clean documents (all, or those of `keys`) to bound memory; they are loaded
        again when needed."""
        for docs in self._docs.values():
            docs.drop(list(docs.held) if keys is None else [k for k in keys if k in docs.held])

    @staticmethod
    def _ids(rows: Sequence[Row], wanted: Iterable[str]) -> dict[str, list[str]]:
        """The stream ids that folding `rows` touches, by the read model that folds them."""
        streams = {row[1] for row in rows}
        streams.update(wanted)
        found: dict[str, list[str]] = {}
        for stream in streams:
            for model in registry.folding(registry.category(stream)):
                found.setdefault(model.name, []).append(stream)
        return found
