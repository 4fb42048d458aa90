"""A bounded soak of the real server under `wrk` (issue 5): mixed appends and reads on loopback.

For `AGREEMENTS_SOAK_SECONDS` (default 60), wrk (one thread, 16 connections) sends, in turn, a
single-event append to one of 100 agreements (each with a unique event id), a projection read
of one, a page of its stream and a health check. Passing means: no error response and no
socket error, the server's resident memory stays under 300 MB and grows by less than 20% over
the second half of the run (it should level off once its caches are warm), every append is in
the log once and the chain verifies, and the projections have caught up at the end.
"""

from __future__ import annotations

import asyncio
import os
import random
import shutil
import time
from pathlib import Path

import httpx
import pytest

from benchmarks import wrk
from tests._databases import IN_CI
from tests._server import Server, check_log, note, signed, start_server, wait_caught_up

pytestmark = [pytest.mark.slow, pytest.mark.serial]

SOAK_SECONDS = float(os.environ.get("AGREEMENTS_SOAK_SECONDS", "60"))
STREAMS = 100
CONNECTIONS = 16
RSS_LIMIT = 300 * 1024 * 1024
SECOND_HALF_GROWTH = 0.20


def _script(token: str, salt: int) -> str:
    """Lua for wrk: append, read the projection, read the stream, health; over and over."""
    body = note("EVENT_ID", 0)
    prefix, suffix = (
        '{"events":[{"event_id":"',
        '","type":"NoteAttached","occurred_at":"' + body["occurred_at"] + '",'
        '"data":{"text":"Minutes of the steering committee: milestones reviewed."}}]}',
    )
    return f"""
wrk.headers["Authorization"] = "Bearer {token}"
wrk.headers["Content-Type"] = "application/json"
local prefix = [==[{prefix}]==]
local suffix = [==[{suffix}]==]
local counter = 0
function request()
  counter = counter + 1
  local stream = "agreement-soak-" .. (math.floor(counter / 4) * 37 % {STREAMS})
  local kind = counter % 4
  if kind == 0 then
    local id = string.format("%08x-0000-4000-8000-%012x", {salt}, counter)
    return wrk.format("POST", "/streams/" .. stream .. "/events", nil, prefix .. id .. suffix)
  elseif kind == 1 then
    return wrk.format("GET", "/partnerships/" .. stream)
  elseif kind == 2 then
    return wrk.format("GET", "/streams/" .. stream .. "/events?limit=20")
  end
  return wrk.format("GET", "/health")
end
"""


async def _seed(server: Server) -> int:
    async with httpx.AsyncClient(base_url=server.base_url, headers=server.headers()) as client:
        for number in range(STREAMS):
            answer = await client.post(
                f"/streams/agreement-soak-{number}/events",
                json={"events": [signed(f"00000000-0000-4000-8000-{number:012x}")]},
            )
            assert answer.status_code == 201, answer.text
        return int(answer.json()["to_position"])


async def _sample_rss(
    server: Server, samples: list[tuple[float, int]], stop: asyncio.Event
) -> None:
    while not stop.is_set():
        samples.append((time.monotonic(), server.rss_bytes()))
        await asyncio.sleep(1.0)


async def test_a_soak_under_wrk_has_no_errors_bounded_memory_and_caught_up_projections(
    tmp_path: Path,
) -> None:
    if shutil.which("wrk") is None:
        if IN_CI:
            pytest.fail(wrk.INSTALL_HINT)
        pytest.skip(wrk.INSTALL_HINT)
    url = f"sqlite+aiosqlite:///{tmp_path / 'agreements.db'}"
    server = start_server(url, tmp_path)
    try:
        seeded = await _seed(server)
        # Reads of the seeded partnerships must find them: the load starts once the
        # projections have applied the seed (they apply in coalesced batches).
        await wait_caught_up(server)
        script = tmp_path / "soak.lua"
        script.write_text(_script(server.token, random.getrandbits(31)))
        samples: list[tuple[float, int]] = []
        stop = asyncio.Event()
        sampler = asyncio.create_task(_sample_rss(server, samples, stop))
        try:
            result = await wrk.run(
                server.base_url, script, connections=CONNECTIONS, seconds=SOAK_SECONDS, threads=1
            )
        finally:
            stop.set()
            await sampler
        assert result.non_2xx == 0, result.output
        assert result.socket_errors == 0, result.output
        assert result.requests > 100, result.output

        peak = max(rss for _, rss in samples)
        assert peak < RSS_LIMIT, f"resident memory reached {peak / 2**20:.0f} MB"
        half = len(samples) // 2
        middle, end = samples[half][1], max(rss for _, rss in samples[half:])
        assert end < middle * (1 + SECOND_HALF_GROWTH), (
            f"memory grew from {middle / 2**20:.0f} MB to {end / 2**20:.0f} MB in the second half"
        )

        head = await wait_caught_up(server)
        appended = head - seeded
        assert result.requests // 4 - 1 <= appended <= result.requests // 4 + CONNECTIONS
        server.stop()
    finally:
        server.kill()
    await check_log(url, [])
    print(
        f"soak: {result.requests} requests in {SOAK_SECONDS:.0f} s"
        f" ({result.requests_per_s:.0f}/s, p99 {result.p99_ms:.1f} ms), {appended} appends,"
        f" RSS {samples[0][1] / 2**20:.0f} -> {samples[-1][1] / 2**20:.0f} MB"
        f" (peak {peak / 2**20:.0f} MB)"
    )
