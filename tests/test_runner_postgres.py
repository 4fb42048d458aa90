"""The runner shared by several instances on one PostgreSQL database (issue: PostgreSQL).

Two `Projections` on two engines stand for two service instances: exactly one applies, both
answer `wait_for`, and when the applier goes away the other takes over; nothing is applied
twice (the rows equal a rebuild's).
"""

from __future__ import annotations

import asyncio
import datetime as dt
from pathlib import Path

import pytest

from events.catalogue import FollowUpOpened, Owner
from events.envelope import Proposed
from events.store import open_store
from projections import Projections
from projections.rebuild import rebuild
from service.demo import SEED
from tests._databases import fresh_postgres
from tests._event_strategies import ACTOR, table_rows

pytestmark = [pytest.mark.postgres, pytest.mark.serial]


def follow_up(n: int) -> list[Proposed]:
    data = FollowUpOpened(
        follow_up_id=f"fu-{n}",
        title=f"follow-up {n}",
        owner=Owner(unit="FIT Tokyo office"),
        due_on=dt.date(2023, 1, n % 28 + 1),
    )
    return [
        Proposed(type=data.type_name, data=data, occurred_at=dt.datetime(2023, 1, 1, tzinfo=dt.UTC))
    ]


async def test_one_instance_applies_both_serve_and_the_other_takes_over(tmp_path: Path) -> None:
    async with fresh_postgres() as url:
        store_a, store_b = await open_store(url), await open_store(url)
        a = Projections(store_a, poll_interval=0.2)
        b = Projections(store_b, poll_interval=0.2)
        try:
            await a.start()
            await b.start()
            async with asyncio.timeout(30):  # until one of them holds the lock
                while not (a.runner.is_applier or b.runner.is_applier):  # noqa: ASYNC110
                    await asyncio.sleep(0.02)
            assert [a.runner.is_applier, b.runner.is_applier].count(True) == 1
            for stream_id, events in SEED:
                await store_a.append(stream_id, events, metadata=ACTOR)
            # Written through A, read-your-writes through B (and A).
            result = await store_a.append(
                "agreement-imec-rapidus-2022", follow_up(1), metadata=ACTOR
            )
            assert await b.wait_for(result.to_position, 30)
            assert await a.wait_for(result.to_position, 30)
            view, position = await b.get_partnership("imec-rapidus-2022")
            assert position >= result.to_position and view is not None and len(view.follow_ups) == 1

            applier, other, other_store = (
                (a, b, store_b) if a.runner.is_applier else (b, a, store_a)
            )
            await applier.stop()  # its lease connection closes, as when a process dies
            started = asyncio.get_running_loop().time()
            result = await other_store.append(
                "agreement-imec-rapidus-2022", follow_up(2), metadata=ACTOR
            )
            assert await other.wait_for(result.to_position, 10)
            assert other.runner.is_applier
            assert asyncio.get_running_loop().time() - started < 5

            for n in range(3, 30):
                result = await other_store.append(
                    "agreement-imec-rapidus-2022", follow_up(n), metadata=ACTOR
                )
            assert await other.wait_for(result.to_position, 10)
            live = await table_rows(other_store.engine)
            await rebuild(other_store)
            assert await table_rows(other_store.engine) == live
        finally:
            await a.stop()
            await b.stop()
            await store_a.close()
            await store_b.close()
