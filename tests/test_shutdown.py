"""Graceful shutdown of the real server under load (issue 5).

SIGTERM while 16 clients append: the appends already in flight are answered (and so stored),
new connections are refused, the projection runner and the token watcher stop, the lifespan's
shutdown completes and the process exits within a few seconds. Nothing acknowledged is lost,
no batch is half-stored, and after a restart the projections catch up to exactly a rebuild.
"""

from __future__ import annotations

import asyncio
import signal
import time
from pathlib import Path

import pytest

from tests._databases import BACKENDS, database
from tests._server import (
    append_load,
    check_log,
    projections_equal_rebuild,
    start_server,
    until_acknowledged,
    wait_caught_up,
)

pytestmark = [pytest.mark.slow, pytest.mark.serial]

_EXIT_WITHIN = 5.0


@pytest.mark.parametrize("backend", BACKENDS)
async def test_sigterm_under_load_finishes_in_flight_appends_and_stops_cleanly(
    backend: str, tmp_path: Path
) -> None:
    async with database(backend, tmp_path) as url:
        server = start_server(url, tmp_path)
        try:
            async with append_load(server, clients=16) as batches:
                await until_acknowledged(batches, 50)
                signalled = time.monotonic()
                server.process.send_signal(signal.SIGTERM)
                await asyncio.to_thread(server.process.wait, 30)
                took = time.monotonic() - signalled
            server.stop()  # already exited: checks the status and the log
            assert took < _EXIT_WITHIN, f"shutdown took {took:.1f} s"
            statuses = {b.status for b in batches}
            assert statuses <= {None, 200, 201}, statuses  # no 5xx while shutting down
            answered_after = [
                b for b in batches if b.acknowledged and (b.answered_at or 0) > signalled
            ]
            assert answered_after, "no append in flight at SIGTERM was answered"
            await check_log(url, batches)

            server = start_server(url, tmp_path, token=server.token)
            await wait_caught_up(server)
            server.stop()
        finally:
            server.kill()
        await projections_equal_rebuild(url)
