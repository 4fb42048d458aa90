"""Finding partnerships by who and what they name: parties, countries, people, delegation,
kind, signing dates, and words in any script.

Each partnership contributes rows derived from its document (replaced wholesale whenever a
batch changes it, as the owners read model does): one `partnership_terms` row per facet value
(a party's organisation, a country, a person's name, the delegation, the kind), compared
whole, and one `partnership_text` row holding its title, parties and people's names. Values
are normalised (Unicode NFKC, then case-folded), so `rapidus` finds Rapidus and a
full-width form finds its ordinary letters. `q=` keeps the partnerships whose text contains every
word of the query as a substring, which needs no tokenizer and so works for scripts written
without spaces: 佐藤 finds 佐藤花子.
"""

from __future__ import annotations

import datetime as dt
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
    select,
    true,
)
from sqlalchemy.engine import Connection

from projections._sql import replace_agreement_rows
from projections.partnership_view import Partnership

NAME = "partnership_search"
SCHEMA_VERSION = 1

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


def normalised(text: str) -> str:
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
    )
    return SearchTables(terms, text)


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
    names = [p.signatory.name for p in view.parties if p.signatory is not None]
    names += [w.person.name for w in view.witnesses]
    names += [e.endorser.name for e in view.endorsements if e.endorser is not None]
    if view.owner is not None and view.owner.person is not None:
        names.append(view.owner.person.name)
    return names


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
    for table, rows in ((tables.terms, terms_), (tables.text, texts)):
        replace_agreement_rows(connection, table, stale, rows)


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
        contains = and_(true(), *(found.c.text.contains(w, autoescape=True) for w in words))
        parts.append(docs.c.agreement_id.in_(select(found.c.agreement_id).where(contains)))
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
