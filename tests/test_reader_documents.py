"""One reader path for a document of any read model (`ProjectionReader.document` and `view`):
a read model added by one module and one registry entry is read by id as stored, from the
cache, and as of a cut, with no reader code of its own (issue 11)."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest

from events.store import EventStore, open_store
from projections import Projections
from projections.as_of import Cut
from projections.schema import registered
from service.demo import SEED
from tests._event_strategies import ACTOR
from tests.test_read_model_registry import TALLIES, _stored


@pytest.fixture
async def store(database_url: str) -> AsyncIterator[EventStore]:
    with registered(TALLIES):
        store = await open_store(database_url)
        try:
            yield store
        finally:
            await store.close()


async def test_a_registered_read_model_is_read_by_id_now_and_as_of_a_cut(
    store: EventStore,
) -> None:
    projections = Projections(store)
    await projections.start()
    try:
        for stream_id, history in SEED:
            await store.append(stream_id, history, metadata=ACTOR)
        head = await projections.runner.catch_up()
        stored = await _stored(store)
        first = min(stored)
        types = [event.type for stream, history in SEED if stream == first for event in history]

        assert await projections.document(TALLIES, first) == (stored[first], head)
        # The id without its category prefix; a second read is the cache's.
        short = first.removeprefix(f"{TALLIES.category}-")
        assert await projections.document(TALLIES, short) == (stored[first], head)
        assert projections.cache.doc(first) == stored[first]
        view, position = await projections.view(TALLIES, first)
        assert view is not None and (view.types, position) == (types, head)
        assert await projections.document(TALLIES, "agreement-none") == (None, head)

        signed_at = (await store.read_stream(first))[0].position
        past, at = await projections.view(TALLIES, first, cut=Cut(position=signed_at))
        assert past is not None and (past.types, at) == (["AgreementSigned"], signed_at)
        before, at = await projections.document(TALLIES, first, cut=Cut(position=signed_at - 1))
        assert (before, at) == (None, signed_at - 1)
    finally:
        await projections.stop()
