"""Several `agreements serve` processes on one PostgreSQL database (issue: PostgreSQL).

Real processes, real HTTP: what is written through one instance is read through the other
(read-your-writes with `wait_for_position`); when the instance applying the projections is
killed (`kill -9`, no goodbye) the other takes over within seconds, and nothing was applied
twice or skipped: the projection tables equal a rebuild from the log.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import Callable
from pathlib import Path

import httpx
import pytest

from tests._databases import fresh_postgres
from tests._instances import (
    Instance,
    admin_connection,
    append,
    follow_up_ids,
    issue_token,
    opened,
    partnership,
    projection_applier,
    serve_workers,
    serving,
    signed,
)
from tests._server import projections_equal_rebuild

pytestmark = [
    pytest.mark.slow,
    pytest.mark.postgres,
    pytest.mark.serial,
    pytest.mark.timeout(300),
]

TAKEOVER_SECONDS = 5.0
ENV = {"AGREEMENTS_MAX_WAIT_SECONDS": "10"}


async def test_written_through_either_read_through_either_and_the_applier_can_die(
    tmp_path: Path,
) -> None:
    async with fresh_postgres() as url:
        token = await issue_token(url)
        async with (
            serving(url, tmp_path, ["a", "b"], token=token, env=ENV) as (a, b),
            admin_connection(url) as admin,
        ):
            for n, (writer, reader) in enumerate([(a, b), (b, a), (a, a), (b, b)]):
                stream = f"agreement-shared-{n}"
                await append(writer, stream, signed(stream))
                position = await append(writer, stream, opened(1), opened(2))
                body = await partnership(reader, stream, position)
                assert follow_up_ids(body) == ["fu-1", "fu-2"]

            applier = await projection_applier(admin, [a, b])
            survivor = b if applier is a else a

            # Both keep taking appends while the applier is killed mid-stream.
            acknowledged: list[int] = []
            stop = asyncio.Event()
            writers = [
                asyncio.create_task(_keep_appending(i, stream, acknowledged, stop))
                for i, stream in ((applier, "agreement-shared-0"), (survivor, "agreement-shared-1"))
            ]
            await _until(lambda: len(acknowledged) >= 4, "appends before the kill")
            applier.kill()
            killed = time.monotonic()

            position = await append(survivor, "agreement-shared-2", opened(3))
            body = await partnership(survivor, "agreement-shared-2", position)
            took = time.monotonic() - killed
            assert follow_up_ids(body) == ["fu-1", "fu-2", "fu-3"]
            assert took < TAKEOVER_SECONDS, f"takeover took {took:.1f}s"
            assert await projection_applier(admin, [survivor], within=1) is survivor

            after_kill = len(acknowledged)
            await _until(lambda: len(acknowledged) > after_kill, "an append after the kill")
            stop.set()
            await asyncio.gather(*writers)
            assert acknowledged, "no append was acknowledged while the applier died"
            last = max(acknowledged)
            head = (await survivor.client.get("/health")).json()["head"]
            for n in range(4):
                await partnership(survivor, f"agreement-shared-{n}", max(last, head))

        # Nothing applied twice, nothing skipped: the rows (and the checkpoint, at the head)
        # are what a rebuild from the log makes.
        await projections_equal_rebuild(url)


async def _until(condition: Callable[[], bool], what: str, within: float = 60.0) -> None:
    """Poll until `condition()` holds; fail after `within` seconds."""
    deadline = time.monotonic() + within
    while not condition():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        await asyncio.sleep(0.02)


async def _keep_appending(
    instance: Instance, stream: str, acknowledged: list[int], stop: asyncio.Event
) -> None:
    """Append one follow-up after another until told to stop or the instance dies."""
    n = 100
    while not stop.is_set():
        n += 1
        try:
            response = await instance.client.post(
                f"/streams/{stream}/events", json={"events": [opened(n)]}
            )
        except httpx.TransportError:  # the instance was killed: stop writing to it
            return
        assert response.status_code == 201, (instance.name, response.text)
        acknowledged.append(response.json()["to_position"])
        await asyncio.sleep(0.01)


async def test_serve_with_several_workers_on_postgresql(tmp_path: Path) -> None:
    """`agreements serve --workers 2`: requests land on either worker; read-your-writes holds."""
    async with fresh_postgres() as url:
        token = await issue_token(url)
        instance = await serve_workers(url, tmp_path, 2, token=token, env=ENV)
        try:
            stream = "agreement-workers"
            await append(instance, stream, signed(stream))
            for n in range(1, 21):
                position = await append(instance, stream, opened(n))
                body = await partnership(instance, stream, position)
                assert follow_up_ids(body)[-1] == f"fu-{n}"
        finally:
            with contextlib.suppress(Exception):
                await instance.stop()
