"""The projections' own tables, apart from the log's: derived data, never migrated.

Each read model has a schema version; when the version stored with its checkpoint differs
from the code's (or a table is missing), the projections are rebuilt from the log instead of
migrated. The log's migrations never touch these tables. The tables are those of every read
model in the registry (`projections.registry`).
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any, cast

from sqlalchemy import BigInteger, Column, Integer, MetaData, String, Table

from projections import registry
from projections.partnership_search import SearchTables
from projections.partnerships import PartnershipTables
from projections.read_model import DerivedModel, ReadModel

SHADOW_SUFFIX = "__rebuild"

SCHEMA_VERSIONS: dict[str, int] = {model.name: model.version for model in registry.every()}
"""Every projection the runner feeds, by checkpoint name. All advance together, batch by batch."""

checkpoint_metadata = MetaData()

checkpoints = Table(
    "projection_checkpoints",
    checkpoint_metadata,
    Column("name", String(64), primary_key=True),
    Column("position", BigInteger, nullable=False),
    Column("schema_version", Integer, nullable=False),
)


@dataclass
class ProjectionTables:
    """One generation of the read-model tables: the live ones, or a rebuild's shadows."""

    metadata: MetaData
    suffix: str = ""
    tag: str = ""
    of: dict[str, Any] = field(default_factory=dict)
    """Each read model's tables (what its `define_tables` gave), by model name."""

    def define(self, model: ReadModel[Any] | DerivedModel[Any]) -> None:
        self.of[model.name] = model.define_tables(self.metadata, self.suffix, self.tag)

    @property
    def tables(self) -> tuple[Table, ...]:
        return tuple(self.metadata.tables.values())

    @property
    def partnerships(self) -> PartnershipTables:
        return cast(PartnershipTables, self.of["partnerships"])

    @property
    def delegations(self) -> Table:
        return cast(Table, self.of["delegations"])

    @property
    def owner_items(self) -> Table:
        return cast(Table, self.of["owners"])

    @property
    def follow_ups(self) -> Table:
        return cast(Table, self.of["follow_ups"])

    @property
    def search(self) -> SearchTables:
        return cast(SearchTables, self.of["partnership_search"])


def build_tables(suffix: str = "", tag: str = "") -> ProjectionTables:
    tables = ProjectionTables(MetaData(), suffix, tag)
    for model in registry.every():
        tables.define(model)
    return tables


LIVE = build_tables()
"""The tables readers and the runner use (names without suffix)."""


def live_name(shadow: Table) -> str:
    return shadow.name.removesuffix(SHADOW_SUFFIX)


@contextlib.contextmanager
def registered(model: ReadModel[Any] | DerivedModel[Any]) -> Iterator[None]:
    """Add `model` to the registry, with its live tables and checkpoint, while inside (a read
    model kept by a test or a plug-in rather than by a line in `projections.registry`)."""
    if isinstance(model, ReadModel):
        registry.READ_MODELS.append(model)
    else:
        registry.DERIVED_MODELS.append(model)
    SCHEMA_VERSIONS[model.name] = model.version
    before = set(LIVE.metadata.tables)
    LIVE.define(model)
    try:
        yield
    finally:
        if isinstance(model, ReadModel):
            registry.READ_MODELS.remove(model)
        else:
            registry.DERIVED_MODELS.remove(model)
        del SCHEMA_VERSIONS[model.name]
        del LIVE.of[model.name]
        for name in set(LIVE.metadata.tables) - before:
            LIVE.metadata.remove(LIVE.metadata.tables[name])
