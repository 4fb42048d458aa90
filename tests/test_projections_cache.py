"""The readers' cache: answers without a query, never a state that was not true at the
position it is served with, even when another instance applies the log."""

from __future__ import annotations

import datetime as dt
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from events.catalogue import NoteAttached
from events.envelope import Proposed
from events.store import EventStore, open_store
from projections import Projections, partnerships
from projections.cache import ReadCache
from projections.runner import ProjectionRunner
from service.demo import SEED
from tests._event_strategies import ACTOR

IMEC = "agreement-imec-rapidus-2022"
FIT = "agreement-fit-jetro-2022"


def test_offers_are_kept_only_at_the_cache_position() -> None:
    cache = ReadCache()
    cache.offer_doc("a", b"{}", 5)
    assert cache.doc("a") is None  # no position yet: nothing can be vouched for
    cache.reset(5)
    cache.offer_doc("a", b'{"v":5}', 4)
    cache.offer_doc("b", b'{"v":5}', 6)
    assert cache.doc("a") is None and cache.doc("b") is None
    cache.offer_doc("a", b'{"v":5}', 5)
    assert cache.doc("a") == b'{"v":5}'


def test_advancing_keeps_what_the_range_did_not_touch_only_if_it_started_there() -> None:
    cache = ReadCache()
    cache.reset(5)
    cache.offer_doc("a", b"a5", 5)
    cache.offer_doc("b", b"b5", 5)
    cache.offer_answer("list", ["a5", "b5"], 5, 4)
    cache.advance(5, 7, {"b": b"b7"})
    assert (cache.position, cache.doc("a"), cache.doc("b")) == (7, b"a5", b"b7")
    assert cache.answer("list") is None  # a list may change with any document
    cache.advance(9, 10, {"c": b"c10"})  # (7, 9] was applied elsewhere: a5 may be stale
    assert (cache.position, cache.doc("a"), cache.doc("c")) == (10, None, b"c10")


def test_the_cache_stays_within_its_bytes() -> None:
    cache = ReadCache(max_bytes=1000)
    cache.reset(1)
    for n in range(100):
        cache.offer_doc(f"d{n}", b"x" * 50, 1)
    assert len(cache) == 20
    assert cache.doc("d99") is not None and cache.doc("d0") is None


@pytest.fixture
async def store(tmp_path: Path) -> AsyncIterator[EventStore]:
    store = await open_store(f"sqlite+aiosqlite:///{tmp_path / 't.db'}")
    for stream_id, events in SEED:
        await store.append(stream_id, events, metadata=ACTOR)
    yield store
    await store.close()


async def note(store: EventStore, stream_id: str, text: str) -> int:
    at = dt.datetime(2023, 1, 1, tzinfo=dt.UTC)
    data = NoteAttached(text=text)
    result = await store.append(
        stream_id, [Proposed(type=data.type_name, data=data, occurred_at=at)], metadata=ACTOR
    )
    return result.to_position


async def test_reads_are_served_from_the_cache_and_follow_this_runner(store: EventStore) -> None:
    projections = Projections(store, poll_interval=60)
    await projections.start()
    try:
        head = await store.head()
        assert await projections.wait_for(head, 5)
        doc, position = await projections.get_partnership_json(IMEC)
        assert position == head and doc is not None
        assert projections.cache.doc(IMEC) == doc  # the miss was offered and kept
        later = await note(store, FIT, "only FIT changes")
        assert await projections.wait_for(later, 5)
        # IMEC was untouched by the batch: still held, now vouched for at the new position.
        assert await projections.get_partnership_json(IMEC) == (doc, later)
        fit, position = await projections.get_partnership_json(FIT)
        assert position == later and fit is not None and b"only FIT changes" in fit
    finally:
        await projections.stop()


async def test_another_applier_never_makes_the_cache_serve_a_mix(store: EventStore) -> None:
    """Two instances on one database: this one's cache may trail, but each answer is the
    state at the position it names; once its runner looks again, it serves the new state."""
    here = Projections(store, poll_interval=60)
    await here.start()
    elsewhere = ProjectionRunner(store)  # another instance's runner (never started here)
    try:
        head = await store.head()
        assert await here.wait_for(head, 5)
        before, _ = await here.get_partnership_json(IMEC)
        await here.stop()  # this instance's runner pauses; its readers carry on
        here.cache.reset(head)  # ... as if still running at `head`
        here.cache.offer_doc(IMEC, before or b"", head)
        later = await note(store, IMEC, "applied by the other instance")
        assert await elsewhere.catch_up() == later
        doc, position = await here.get_partnership_json(IMEC)
        assert (doc, position) == (before, head)  # consistent, if behind
        # A document the cache does not hold is read from the tables, with their position.
        here.cache.reset(head)
        doc, position = await here.get_partnership_json(IMEC)
        assert position == later and doc is not None
        assert partnerships.decode(doc).note_count == 1
        assert here.cache.doc(IMEC) is None  # read at `later`, not at the cache's `head`
    finally:
        await here.stop()


async def test_a_runner_that_finds_the_checkpoint_moved_drops_the_cache(
    store: EventStore,
) -> None:
    here = ProjectionRunner(store, poll_interval=60)
    await here.start()
    try:
        head = await store.head()
        assert await here.wait_for(head, 5)
        await here.stop()
        here.cache.reset(head)
        here.cache.offer_doc(IMEC, b"stale", head)
        elsewhere = ProjectionRunner(store)
        later = await note(store, IMEC, "elsewhere")
        await elsewhere.catch_up()
        await note(store, IMEC, "here again")
        assert await here.apply_batch()  # finds the checkpoint moved: follows it
        assert here.cache.doc(IMEC) is None and here.cache.position == later
    finally:
        await here.stop()
