"""The subscriber hub against a real store, without HTTP: what a subscriber is handed."""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
from collections.abc import AsyncIterator
from pathlib import Path

import msgspec
import pytest

from events.envelope import Metadata, Proposed
from events.store import EventStore, open_store
from service import subscriptions
from service.metrics import Metrics
from service.subscriptions import Hub, LogFilter, Subscriber
from service.tokens import TokenTable
from tests._databases import BACKENDS, database
from tests._server import note, signed
from tests._sse import wait_until

ACTOR = Metadata(actor="tests")
WHEN = dt.datetime(2023, 1, 5, 9, tzinfo=dt.UTC)


@contextlib.asynccontextmanager
async def hub_on(backend: str, tmp_path: Path) -> AsyncIterator[tuple[EventStore, Hub]]:
    async with database(backend, tmp_path) as url:
        store = await open_store(url)
        tokens = TokenTable(store)
        hub = Hub(store, tokens, Metrics(), max_subscribers=10, max_lag=1000)
        await hub.start()
        try:
            yield store, hub
        finally:
            await hub.close()
            await store.close()


def proposed(event: dict[str, object]) -> Proposed:
    return Proposed(
        type=str(event["type"]), data=msgspec.json.encode(event["data"]), occurred_at=WHEN
    )


async def reading(hub: Hub, subscriber: Subscriber, into: list[int]) -> None:
    async for chunk in hub.follow(subscriber):
        into.extend(int(line[4:]) for line in chunk.decode().splitlines() if line[:4] == "id: ")


@pytest.mark.parametrize("backend", BACKENDS)
async def test_a_filtered_subscriber_gets_its_event_from_a_burst_longer_than_the_tail(
    backend: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(subscriptions, "TAIL_EVENTS", 5)
    async with hub_on(backend, tmp_path) as (store, hub):
        wanted = LogFilter(types=frozenset({"AgreementSigned"}))
        subscriber = hub.join(await store.head(), None, wants=wanted)
        received: list[int] = []
        task = asyncio.create_task(reading(hub, subscriber, received))
        try:
            await wait_until(lambda: subscriber.waiting, what="the subscriber to be idle")
            burst = [proposed(signed("x"))] + [proposed(note("x", n)) for n in range(9)]
            result = await store.append("agreement-burst", burst, metadata=ACTOR)
            await wait_until(lambda: received, what="the signing to arrive")
            # One more event, so that anything else the hub had for it would have come first.
            after = await store.append("agreement-other", [proposed(signed("y"))], metadata=ACTOR)
            await wait_until(lambda: received[-1] == after.to_position, what="the second one")
            assert received == [result.from_position, after.to_position]
        finally:
            subscriber.end("shutdown")
            await task
            hub.leave(subscriber)


@pytest.mark.parametrize("backend", BACKENDS)
async def test_only_an_erasing_correction_clears_the_tail(backend: str, tmp_path: Path) -> None:
    """The tail holds earlier rows encoded: an ordinary correction rewrites none (the tail
    stays), one with `erase_original` did (the tail is dropped, read again from the log)."""
    async with hub_on(backend, tmp_path) as (store, hub):
        subscriber = hub.join(await store.head(), None, wants=LogFilter())
        received: list[int] = []
        task = asyncio.create_task(reading(hub, subscriber, received))
        try:
            signing = signed("4d5e6f70-8192-4a3b-9c4d-5e6f708192a3")
            first = await store.append(
                "agreement-c",
                [
                    Proposed(
                        type="AgreementSigned",
                        data=msgspec.json.encode(signing["data"]),
                        event_id=signing["event_id"],
                    )
                ],
                metadata=ACTOR,
            )
            await wait_until(lambda: hub.tail_end == first.to_position, what="the signing")
            start = hub.tail_start

            def correction(title: str, erase: bool) -> Proposed:
                data = {
                    "corrects": signing["event_id"],
                    "changes": {"title": title},
                    "reason": "typo",
                }
                if erase:
                    data["erase_original"] = True
                return Proposed(type="EventCorrected", data=msgspec.json.encode(data))

            plain = await store.append("agreement-c", [correction("Fixed", False)], metadata=ACTOR)
            await wait_until(lambda: hub.tail_end == plain.to_position, what="the correction")
            assert hub.tail_start == start  # kept: nothing was rewritten
            erasing = await store.append(
                "agreement-c", [correction("Fixed again", True)], metadata=ACTOR
            )
            await wait_until(lambda: hub.tail_end == erasing.to_position, what="the rectification")
            assert hub.tail_start == hub.tail_end == erasing.to_position  # dropped
        finally:
            # Ended as a shutdown ends it, not cancelled: a cancellation that lands while the
            # hub reads the log again (after the rectification dropped its tail) surfaces
            # from asyncpg as an OperationalError, not as CancelledError.
            subscriber.end("shutdown")
            await task
            hub.leave(subscriber)
