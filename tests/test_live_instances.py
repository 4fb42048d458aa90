"""Live updates across instances: two `agreements serve` processes on one PostgreSQL database.

An event appended through one instance reaches a subscriber of the other (woken by NOTIFY,
then reading the log), in order, with nothing missing or repeated; and a dashboard following
`/live` on the other instance is told what changed once the projections (applied by whichever
instance holds the lease) have applied it.
"""

from __future__ import annotations

import asyncio
import contextlib
from pathlib import Path

import pytest

from tests._databases import fresh_postgres
from tests._instances import issue_token, serving
from tests._server import append_load, until_acknowledged
from tests._sse import Message, collect, subscribe

pytestmark = [pytest.mark.slow, pytest.mark.serial, pytest.mark.postgres, pytest.mark.timeout(180)]

ENV = {"AGREEMENTS_LIVE_HEARTBEAT_SECONDS": "0.5"}


async def test_events_appended_through_one_instance_reach_a_subscriber_of_the_other(
    tmp_path: Path,
) -> None:
    async with fresh_postgres() as url:
        token = await issue_token(url)
        async with serving(url, tmp_path, ["a", "b"], token=token, env=ENV) as (a, b):
            received: list[Message] = []
            async with (
                subscribe(b.client, "/events/live") as follower,
                subscribe(b.client, "/live") as dashboard,
            ):
                reader = asyncio.create_task(collect(follower, received))
                async with append_load(a.server, clients=6) as batches:
                    await until_acknowledged(batches, 60)
                head = (await a.client.get("/events", params={"limit": 1})).json()["head"]
                await _wait_for(received, head)
                reader.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await reader
                assert [m.position for m in received] == list(range(1, head + 1))
                logged = (await a.client.get("/events", params={"limit": 1000})).json()["events"]
                assert [m.json() for m in received[: len(logged)]] == logged

                appended = {b_.stream_id for b_ in batches if b_.acknowledged}
                named: set[str] = set()
                position = 0
                while position < head:
                    change = await dashboard.next()
                    assert change is not None and change.event == "changed"
                    named |= set(change.json()["partnerships"])
                    position = change.position
                assert appended <= named


async def _wait_for(received: list[Message], position: int, timeout: float = 30.0) -> None:  # noqa: ASYNC109
    async with asyncio.timeout(timeout):
        while not received or received[-1].position < position:  # noqa: ASYNC110 (a poll)
            await asyncio.sleep(0.02)
