"""The projections' own tables, apart from the log's: derived data, never migrated.

Each read model has a `SCHEMA_VERSION`; when the version stored with its checkpoint differs
from the code's (or a table is missing), the projections are rebuilt from the log instead of
migrated. The log's migrations never touch these tables.
"""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import BigInteger, Column, Integer, MetaData, String, Table

from projections import delegations, follow_ups, owners, partnership_search, partnerships
from projections.partnerships import PartnershipTables

SHADOW_SUFFIX = "__rebuild"

SCHEMA_VERSIONS: dict[str, int] = {
    partnerships.NAME: partnerships.SCHEMA_VERSION,
    owners.NAME: owners.SCHEMA_VERSION,
    delegations.NAME: delegations.SCHEMA_VERSION,
    follow_ups.NAME: follow_ups.SCHEMA_VERSION,
    partnership_search.NAME: partnership_search.SCHEMA_VERSION,
}
"""Every projection the runner feeds, by checkpoint name. All advance together, batch by batch."""

checkpoint_metadata = MetaData()

checkpoints = Table(
    "projection_checkpoints",
    checkpoint_metadata,
    Column("name", String(64), primary_key=True),
    Column("position", BigInteger, nullable=False),
    Column("schema_version", Integer, nullable=False),
)


@dataclass(frozen=True)
class ProjectionTables:
    """One generation of the read-model tables: the live ones, or a rebuild's shadows."""

    metadata: MetaData
    partnerships: PartnershipTables
    owner_items: Table
    delegations: Table
    follow_ups: Table
    search: partnership_search.SearchTables

    @property
    def tables(self) -> tuple[Table, ...]:
        return (
            self.partnerships.docs,
            self.partnerships.sectors,
            self.owner_items,
            self.delegations,
            self.follow_ups,
            self.search.terms,
            self.search.text,
        )


def build_tables(suffix: str = "", tag: str = "") -> ProjectionTables:
    metadata = MetaData()
    return ProjectionTables(
        metadata=metadata,
        partnerships=partnerships.define_tables(metadata, suffix, tag),
        owner_items=owners.define_tables(metadata, suffix, tag),
        delegations=delegations.define_tables(metadata, suffix, tag),
        follow_ups=follow_ups.define_tables(metadata, suffix, tag),
        search=partnership_search.define_tables(metadata, suffix, tag),
    )


LIVE = build_tables()
"""The tables readers and the runner use (names without suffix)."""


def live_name(shadow: Table) -> str:
    return shadow.name.removesuffix(SHADOW_SUFFIX)
