"""Owner ids in tests: opaque (`events.catalogue.owner_id`: the unit's slug and the person's
id, keyed by the log's secret), so a test asks the database under test for the one it needs."""

from __future__ import annotations

import asyncio
from typing import Any

from sqlalchemy.ext.asyncio import AsyncEngine

from events.catalogue import Owner, Person, owner_id
from events.personal import log_secret

TOKYO = "FIT Tokyo office"
ELS_VERHULST = "Els Verhulst"


async def owner_of(engine: AsyncEngine, unit: str, name: str | None = None) -> str:
    """The id of the owner `name` of `unit` (the unit itself without a name) in `engine`'s
    log."""
    person = None if name is None else Person(name=name)
    return owner_id(Owner(unit=unit, person=person), await log_secret(engine))


async def els_of(engine: AsyncEngine) -> str:
    """Els Verhulst of the FIT Tokyo office, the demo's and many tests' owner."""
    return await owner_of(engine, TOKYO, ELS_VERHULST)


def owner_in(database_url: str, unit: str, name: str | None = None) -> str:
    """`owner_of` for a test without an event loop of its own (a command-line test)."""
    from events.database import create_engine

    async def look() -> str:
        engine = create_engine(database_url)
        try:
            return await owner_of(engine, unit, name)
        finally:
            await engine.dispose()

    return asyncio.run(look())


def named(owners: list[dict[str, Any]], name: str) -> str:
    """The id of the owner called `name` in an `/owners` answer's list (for tests that see
    the service only over HTTP)."""
    return next(o["owner_id"] for o in owners if (o.get("person") or {}).get("name") == name)


TEST_SECRET = b"the person-id secret of tests that fold without a log"
