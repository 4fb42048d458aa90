"""Finding partnerships by who and what they name: parties, countries, people, delegation,
kind, signing dates, and words in any script.

Each partnership contributes rows derived from its document (replaced wholesale whenever a
batch changes it, as the owners read model does): one `partnership_terms` row per facet value
(a party's organisation, a country, a person's name, the delegation, the kind), compared
whole, and one `partnership_text` row holding its title, parties and people's names. Values
are normalised (Unicode NFKC, then case-folded), so `rapidus` finds Rapidus and a
full-width form finds its ordinary letters. `q=` keeps the partnerships whose text contains every
word of the query as a substring, which needs no word tokenizer and so works for scripts
written without spaces: 佐藤 finds 佐藤花子.

Substrings are found through each database's own text index, so a search does not read every
partnership's text:

- SQLite: `partnership_text` is an FTS5 table with the `trigram` tokenizer. A word of three
  characters or more is a phrase query (`"rapidus"`), answered from the index. A trigram
  index has nothing to offer a word of one or two characters (佐藤 is two), so such a word is
  checked with `instr()` on the rows the longer words left, or on every row when the query has
  no longer word (a scan of the texts, still one short statement). The FTS5 row id is a
  64-bit hash of the agreement id, so a document's row is replaced by row id (FTS5 has no
  index on its other columns).
- PostgreSQL: a GIN trigram index (`pg_trgm`, created with `CREATE EXTENSION IF NOT EXISTS`
  when the server has it) answers `text LIKE '%word%'`; LIKE re-checks the index's
  candidates, so short words and any script stay correct. Without the extension the same
  LIKE runs as a scan. The pattern is written into the statement (escaped), not bound:
  a prepared statement's generic plan cannot tell that a pattern has trigrams.
"""

from __future__ import annotations

import datetime as dt
import functools
import hashlib
import logging
import unicodedata
from collections.abc import Iterable, Sequence
from typing import Any, Literal

import msgspec
from sqlalchemy import (
    Column,
    Index,
    MetaData,
    PrimaryKeyConstraint,
    String,
    Table,
    Text,
    and_,
    bindparam,
    event,
    func,
    literal_column,
    select,
    true,
)
from sqlalchemy.engine import Connection
from sqlalchemy.ext.compiler import compiles
from sqlalchemy.schema import CreateTable
from sqlalchemy.sql.compiler import DDLCompiler, SQLCompiler
from sqlalchemy.sql.elements import ColumnElement

from projections._sql import replace_agreement_rows
from projections.partnership_view import Partnership
from projections.read_model import DerivedModel

NAME = "partnership_search"
SCHEMA_VERSION = 2

TRIGRAM = 3
"""Characters in a trigram: the shortest word a trigram index can look up."""

log = logging.getLogger(__name__)

Facet = Literal["party", "country", "person", "delegation", "kind"]


class Search(msgspec.Struct, frozen=True, kw_only=True):
    """The search filters of a partnership list (all optional, combined)."""

    party: str | None = None
    country: str | None = None
    person: str | None = None
    delegation: str | None = None
    kind: str | None = None
    signed_from: dt.date | None = None
    signed_to: dt.date | None = None
    q: str | None = None

    def facets(self) -> list[tuple[Facet, str]]:
        given: list[tuple[Facet, str | None]] = [
            ("party", self.party),
            ("country", self.country),
            ("person", self.person),
            ("delegation", self.delegation),
            ("kind", self.kind),
        ]
        return [(facet, normalised(value)) for facet, value in given if value is not None]

    def words(self) -> list[str]:
        return [] if self.q is None else normalised(self.q).split()


class SearchTables(msgspec.Struct, frozen=True):
    terms: Table
    text: Table


@functools.lru_cache(maxsize=4096)
def normalised(text: str) -> str:
    """(Cached, a little: a rebuild writes the rows of every partnership, and the same
    organisations, countries and people recur across them, each in both `terms` and `text`.)"""
    return unicodedata.normalize("NFKC", text).casefold().strip()


def define_tables(metadata: MetaData, suffix: str = "", tag: str = "") -> SearchTables:
    terms = Table(
        f"partnership_terms{suffix}",
        metadata,
        Column("facet", String(16), nullable=False),
        Column("term", Text, nullable=False),
        Column("agreement_id", Text, nullable=False),
        PrimaryKeyConstraint("facet", "term", "agreement_id", name=f"pk_partnership_terms{tag}"),
    )
    Index(f"ix_partnership_terms_agreement{tag}", terms.c.agreement_id)
    text = Table(
        f"partnership_text{suffix}",
        metadata,
        Column("agreement_id", Text, nullable=False),
        Column("text", Text, nullable=False),
        PrimaryKeyConstraint("agreement_id", name=f"pk_partnership_text{tag}"),
        info={"fts5_trigram": True},
    )
    event.listen(text, "after_create", _trigram_index(f"ix_partnership_text_trigram{tag}"))
    return SearchTables(terms, text)


@compiles(CreateTable, "sqlite")
def _create_table_sqlite(element: CreateTable, compiler: DDLCompiler, **kw: Any) -> str:
    """The text table as an FTS5 virtual table on SQLite (its first column unindexed); every
    other table as usual. Dropping and renaming (a rebuild's swap) work on it unchanged."""
    table = element.element
    if not table.info.get("fts5_trigram"):
        plain: str = compiler.visit_create_table(element, **kw)  # type: ignore[no-untyped-call]
        return plain
    name = compiler.preparer.format_table(table)
    key, *indexed = (compiler.preparer.quote(column.name) for column in table.columns)
    columns = ", ".join([f"{key} UNINDEXED", *indexed])
    return f"CREATE VIRTUAL TABLE {name} USING fts5({columns}, tokenize='trigram')"


def _trigram_index(name: str) -> Any:
    def create(table: Table, connection: Connection, **_: Any) -> None:
        if connection.dialect.name != "postgresql":
            return
        available = connection.exec_driver_sql(
            "SELECT 1 FROM pg_available_extensions WHERE name = 'pg_trgm'"
        ).first()
        if available is None:
            log.warning("pg_trgm is not available: q= searches scan %s", table.name)
            return
        connection.exec_driver_sql("CREATE EXTENSION IF NOT EXISTS pg_trgm")
        quote = connection.dialect.identifier_preparer.quote
        connection.exec_driver_sql(
            f"CREATE INDEX {quote(name)} ON {quote(table.name)} USING gin (text gin_trgm_ops)"
        )

    return create


def terms(view: Partnership) -> set[tuple[Facet, str]]:
    found: set[tuple[Facet, str]] = {("kind", normalised(view.kind))}
    if view.delegation_id is not None:
        found.add(("delegation", normalised(view.delegation_id)))
    for party in view.parties:
        found.add(("party", normalised(party.organisation)))
        if party.country is not None:
            found.add(("country", normalised(party.country)))
    for name in _names(view):
        found.add(("person", normalised(name)))
    return found


def text(view: Partnership) -> str:
    parts = [view.title, *(p.organisation for p in view.parties), *_names(view)]
    return "\n".join(normalised(part) for part in parts)


def _names(view: Partnership) -> list[str]:
    """Every person's name as written and, where recorded, in Latin letters (`name_latin`),
    so that `sato` finds 佐藤花子 when her Latin spelling was recorded."""
    people = [p.signatory for p in view.parties if p.signatory is not None]
    people += [w.person for w in view.witnesses]
    people += [e.endorser for e in view.endorsements if e.endorser is not None]
    if view.owner is not None and view.owner.person is not None:
        people.append(view.owner.person)
    return [name for person in people for name in (person.name, person.name_latin) if name]


def term_rows(views: Iterable[Partnership]) -> list[tuple[Any, ...]]:
    return [
        (facet, term, view.agreement_id) for view in views for facet, term in sorted(terms(view))
    ]


def text_rows(views: Iterable[Partnership]) -> list[tuple[Any, ...]]:
    return [(view.agreement_id, text(view)) for view in views]


def replace_rows(
    connection: Connection,
    tables: SearchTables,
    stale: Sequence[tuple[Any, ...]],
    terms_: Sequence[tuple[Any, ...]],
    texts: Sequence[tuple[Any, ...]],
) -> None:
    """Delete the rows of the agreements in `stale` (one-tuples of ids), then insert."""
    replace_agreement_rows(connection, tables.terms, stale, terms_)
    if connection.dialect.name != "sqlite":
        replace_agreement_rows(connection, tables.text, stale, texts)
        return
    name = connection.dialect.identifier_preparer.format_table(tables.text)
    if stale:
        connection.exec_driver_sql(
            f"DELETE FROM {name} WHERE rowid = ?", [(row_id(key),) for (key,) in stale]
        )
    if texts:
        connection.exec_driver_sql(
            f"INSERT INTO {name} (rowid, agreement_id, text) VALUES (?, ?, ?)",
            [(row_id(key), key, found) for key, found in texts],
        )


def row_id(agreement_id: str) -> int:
    """The FTS5 row id of an agreement's text: a signed 64-bit hash of its id (a collision
    is as likely as two random 64-bit numbers meeting, negligible for any register's size)."""
    digest = hashlib.blake2b(agreement_id.encode(), digest_size=8).digest()
    return int.from_bytes(digest, "big", signed=True)


class _HasWords(ColumnElement[bool]):
    """True for the rows of the text table that contain every word (compiled per dialect)."""

    inherit_cache = False

    def __init__(self, table: Table, words: Sequence[str]) -> None:
        self.table = table
        self.words = tuple(words)


@compiles(_HasWords)
def _has_words_like(element: _HasWords, compiler: SQLCompiler, **kw: Any) -> str:
    column = element.table.c.text
    # Rendered inline (escaped), not as parameters: a prepared statement's generic plan
    # cannot know that a pattern has trigrams, and then scans.
    found = and_(
        true(),
        *(
            column.like(bindparam(None, _pattern(w), Text, literal_execute=True), "/")
            for w in element.words
        ),
    )
    return "(" + compiler.process(found, **kw) + ")"


def _pattern(word: str) -> str:
    escaped = word.replace("/", "//").replace("%", "/%").replace("_", "/_")
    return f"%{escaped}%"


@compiles(_HasWords, "sqlite")
def _has_words_fts5(element: _HasWords, compiler: SQLCompiler, **kw: Any) -> str:
    long = [w for w in element.words if len(w) >= TRIGRAM]
    short = [w for w in element.words if len(w) < TRIGRAM]
    parts: list[Any] = []
    if long:
        phrases = " AND ".join('"' + w.replace('"', '""') + '"' for w in long)
        table: ColumnElement[Any] = literal_column(compiler.preparer.format_table(element.table))
        parts.append(table.op("MATCH")(phrases))
    parts += [func.instr(element.table.c.text, w) > 0 for w in short]
    return "(" + compiler.process(and_(true(), *parts), **kw) + ")"


def condition(docs: Table, tables: SearchTables, search: Search | None) -> Any:
    """The SQL condition on the partnerships' documents table for `search`."""
    if search is None:
        return true()
    parts: list[Any] = []
    for facet, term in search.facets():
        chosen = tables.terms
        parts.append(
            docs.c.agreement_id.in_(
                select(chosen.c.agreement_id).where(
                    (chosen.c.facet == facet) & (chosen.c.term == term)
                )
            )
        )
    if search.signed_from is not None or search.signed_to is not None:
        # the column orders by the announcement until a signing: announced ones are unsigned
        parts.append(docs.c.status != "announced")
    if search.signed_from is not None:
        parts.append(docs.c.signed_on >= search.signed_from.isoformat())
    if search.signed_to is not None:
        parts.append(docs.c.signed_on <= search.signed_to.isoformat())
    words = search.words()
    if words:
        found = tables.text
        has_words = _HasWords(found, words)
        parts.append(docs.c.agreement_id.in_(select(found.c.agreement_id).where(has_words)))
    return and_(true(), *parts)


def matches(view: Partnership, search: Search | None) -> bool:
    """The same filters as `condition`, on a document in memory."""
    if search is None:
        return True
    known = terms(view)
    if any(facet not in known for facet in search.facets()):
        return False
    if search.signed_from is not None or search.signed_to is not None:
        signed_on = view.signed_on
        if signed_on is None:
            return False
        if search.signed_from is not None and signed_on < search.signed_from:
            return False
        if search.signed_to is not None and signed_on > search.signed_to:
            return False
    found = text(view)
    return all(word in found for word in search.words())


def _rows(views: Sequence[Partnership]) -> tuple[list[tuple[Any, ...]], list[tuple[Any, ...]]]:
    return term_rows(views), text_rows(views)


def _save(
    connection: Connection,
    tables: SearchTables,
    stale: Sequence[tuple[Any, ...]],
    rows: tuple[list[tuple[Any, ...]], list[tuple[Any, ...]]],
) -> None:
    replace_rows(connection, tables, stale, *rows)


MODEL: DerivedModel[Partnership] = DerivedModel(
    name=NAME,
    version=SCHEMA_VERSION,
    source="partnerships",
    define_tables=define_tables,
    rows=_rows,
    save=_save,
)
