"""What a read model declares, so that the pipeline can fold, store and replay it unnamed.

Two kinds. A `ReadModel` folds the streams of some categories into one document per
stream (partnerships, delegations): the working set, the runner, rebuild and as-of replay
hold its documents, the one fold pipeline (`projections.fold`) feeds them. A `DerivedModel`
keeps rows that are a pure function of another model's documents (owners, follow-ups,
search): whenever a document is written, its derived rows are replaced in the same
transaction. Each declares its checkpoint name and schema version (a changed version
rebuilds every projection from the log) and its tables. The registry
(`projections.registry`) lists them.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Collection, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Generic, Protocol, TypeVar

from sqlalchemy import MetaData, Table
from sqlalchemy.engine import Connection
from sqlalchemy.ext.asyncio import AsyncConnection

from events.catalogue import EventData


class View(Protocol):
    """A document: the stream version of the last event folded in sizes it in memory."""

    version: int


V = TypeVar("V", bound=View)

Apply = Callable[[V | None, EventData | None, str, int, int, str], V | None]
"""`apply(view, data, stream_id, version, position, occurred_at)`: fold one event into
`view` in place and return it (or a new view; None while the stream has none). Never
refuses, never does I/O. `data` is the catalogue's class or its trusted copy
(`projections._trusted`), None for a type this code does not know."""

DefineTables = Callable[[MetaData, str, str], Any]
"""`define_tables(metadata, suffix, tag)`: the model's tables in `metadata`, named with
`suffix` (a rebuild's shadows), constraint and index names made unique with `tag`."""


@dataclass(frozen=True, eq=False)
class ReadModel(Generic[V]):
    """A read model folding streams into one document per stream id."""

    name: str
    """Its checkpoint's name."""
    version: int
    """Its tables' schema version."""
    categories: tuple[str, ...]
    """The stream categories it folds (`agreement` for `agreement-…` streams)."""
    apply: Apply[V]
    define_tables: DefineTables
    load: Callable[[AsyncConnection, Any, Collection[str]], Awaitable[dict[str, V]]]
    """`load(connection, tables, ids)`: the stored documents among `ids`."""
    encode: Callable[[V], bytes]
    """The stored bytes of a document (what readers return as is)."""
    decode: Callable[[bytes], V]
    rows: Callable[[Mapping[str, V], Mapping[str, bytes], Collection[str], Collection[str]], Any]
    """`rows(views, encoded, new, refolded)`: the table rows for these documents, in
    whatever shape `save` takes. `new`: the ids without a stored row yet; `refolded`: ids
    folded again from their stream (a correction), so rows that a fold otherwise never
    changes (the signing's) may have changed too."""
    save: Callable[[Connection, Any, Any], None]
    """`save(connection, tables, rows)`: store `rows`, synchronously."""
    documents: Callable[[Any], Table] = lambda tables: tables
    """`documents(tables)`: the table among its tables that holds one row per document: the
    stream id as its primary key, the stored bytes in `doc`. Readers look documents up
    there (`projections.reader`). By default its tables are that one table."""

    @property
    def category(self) -> str:
        """The category whose prefix an id given without one takes (the first folded)."""
        return self.categories[0]


@dataclass(frozen=True, eq=False)
class DerivedModel(Generic[V]):
    """A read model whose rows are a function of another read model's documents."""

    name: str
    version: int
    source: str
    """The name of the `ReadModel` whose documents it derives from."""
    define_tables: DefineTables
    rows: Callable[[Sequence[V]], Any]
    """The rows these documents contribute."""
    save: Callable[[Connection, Any, Sequence[tuple[str]], Any], None]
    """`save(connection, tables, stale, rows)`: delete the rows of the documents in
    `stale` (one-tuples of ids that may have rows), then insert `rows`."""
