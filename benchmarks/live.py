"""The live-update figures: server-sent events from the service while appends run.

One service process (see `benchmarks.serve`) on a SQLite file; the appends and the
subscribers are httpx clients in this process. Each run measures, in the same run:

- delivery: the rate at which one `/events/live` subscriber receives events while 8 clients
  append 10-event batches, against the rate at which those appends are acknowledged (every
  event must arrive, in order: a gap or a repeat fails the figure);
- idle subscribers: append throughput with 200 subscribers open on `/events/live` that are
  filtered to a stream nobody writes (woken by every commit, sent nothing), against the same
  appends with none;
- latency: one append at a time, from the event's `recorded_at` (taken in the transaction,
  just before its commit) to its arrival at a subscriber, p50 and p99.
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import statistics
import time
import uuid
from collections.abc import AsyncIterator

import httpx
import msgspec

from benchmarks import baselines
from benchmarks.context import Context
from benchmarks.data import METADATA
from benchmarks.http_load import _server
from benchmarks.results import Check, Row
from events.store import open_store

APPENDERS, BATCH = 8, 10
IDLE = 200
LATENCY_APPENDS = 200
QUICK_LATENCY_APPENDS = 50
_NOTE = {
    "type": "NoteAttached",
    "occurred_at": "2023-01-05T09:00:00Z",
    "data": {"text": "Minutes of the steering committee: milestones reviewed."},
}


_SIGNED = {
    "type": "AgreementSigned",
    "occurred_at": "2022-12-06T10:00:00Z",
    "data": {
        "kind": "MoC",
        "title": "Cooperation on semiconductors",
        "parties": [
            {"organisation": "imec", "signatory": {"name": "Luc Van den hove"}},
            {"organisation": "Rapidus", "signatory": {"name": "Atsuyoshi Koike"}},
        ],
        "signed_on": "2022-12-06",
    },
}


def _batch(size: int, first: bool) -> list[dict[str, object]]:
    """`size` events for a stream; its first batch starts with the signing."""
    events = [_SIGNED] if first else []
    events += [_NOTE] * (size - len(events))
    return [{**e, "event_id": str(uuid.uuid4())} for e in events]


def _rows() -> tuple[Row, Row, Row]:
    delivery = Row(
        key="live_delivery",
        title=f"events/s delivered to one /events/live subscriber, {APPENDERS} clients appending",
        unit="ev/s",
        baseline=f"events/s appended ({APPENDERS} clients, {BATCH}-event batches)",
        checks=[Check("≥ 0.8x the append rate", "ratio", 0.8)],
        notes=["every event arrives, in order, once"],
    )
    idle = Row(
        key="live_idle_subscribers",
        title=f"appends/s with {IDLE} idle /events/live subscribers",
        unit="ev/s",
        baseline="the same appends with no subscriber",
        checks=[Check("≥ 0.9x (≤ 10% lower)", "ratio", 0.9)],
        notes=["idle: filtered to a stream nobody writes; woken by each commit, sent nothing"],
    )
    latency = Row(
        key="live_latency",
        title="recorded_at → arrival at a subscriber, one append at a time",
        unit="ms p50",
    )
    return delivery, idle, latency


async def figures(ctx: Context) -> list[Row]:
    delivery, idle, latency = _rows()
    url = baselines.sqlite_url(ctx.path("live.db"))
    token = await _admin_token(url)
    seconds = ctx.scale.http_seconds
    env = {"AGREEMENTS_MAX_SUBSCRIBERS": str(IDLE + 10)}
    async with (
        _server(ctx, "service", url, env) as base,
        httpx.AsyncClient(
            base_url=base,
            headers={"Authorization": f"Bearer {token}"},
            timeout=60,
            limits=httpx.Limits(max_connections=IDLE + APPENDERS + 10),
        ) as client,
    ):
        for run in range(ctx.runs):
            ctx.say(f"live run {run + 1}/{ctx.runs}: delivery, idle subscribers, latency")
            appended, delivered = await _delivery(client, seconds)
            delivery.baseline_samples.append(appended)
            delivery.samples.append(delivered)
            idle.baseline_samples.append(await _append_rate(client, seconds))
            async with _idle_subscribers(client):
                idle.samples.append(await _append_rate(client, seconds))
            waits = await _latencies(
                client, QUICK_LATENCY_APPENDS if ctx.quick else LATENCY_APPENDS
            )
            latency.samples.append(statistics.median(waits))
            latency.add_extra("p99_ms", _percentile(waits, 0.99))
    return [delivery, idle, latency]


async def _admin_token(url: str) -> str:
    """A fresh register with one admin token (appends and reads the log)."""
    from service.tokens import TokenTable

    store = await open_store(url)
    try:
        issued = await TokenTable(store).issue(name="bench", role="admin", metadata=METADATA)
        return issued.secret
    finally:
        await store.close()


async def _append_rate(
    client: httpx.AsyncClient, seconds: float, counted: list[int] | None = None
) -> float:
    """Events/s acknowledged by `APPENDERS` clients appending for `seconds`."""
    stop = time.perf_counter() + seconds
    done = [0]

    async def appender() -> None:
        stream = f"agreement-live-{uuid.uuid4().hex[:12]}"
        first = True
        while time.perf_counter() < stop:
            events, first = _batch(BATCH, first), False
            answer = await client.post(f"/streams/{stream}/events", json={"events": events})
            if answer.status_code != 201:
                raise RuntimeError(f"append failed: {answer.status_code} {answer.text[:300]}")
            done[0] += BATCH
            if counted is not None:
                counted.append(answer.json()["to_position"])

    started = time.perf_counter()
    await asyncio.gather(*(appender() for _ in range(APPENDERS)))
    return done[0] / (time.perf_counter() - started)


async def _delivery(client: httpx.AsyncClient, seconds: float) -> tuple[float, float]:
    """(appended ev/s, delivered ev/s) over the same appends."""
    head = int((await client.get("/events", params={"limit": 1})).json()["head"])
    positions: list[int] = []
    arrived: list[float] = []
    async with client.stream("GET", "/events/live", params={"after": head}) as stream:
        if stream.status_code != 200:
            raise RuntimeError(f"/events/live answered {stream.status_code}")
        ends: list[int] = []

        async def read() -> None:
            async for line in stream.aiter_lines():
                if line.startswith("id: "):
                    positions.append(int(line[4:]))
                    arrived.append(time.perf_counter())

        reader = asyncio.create_task(read())
        started = time.perf_counter()
        appended = await _append_rate(client, seconds, ends)
        last = max(ends)
        deadline = time.perf_counter() + 60
        while (not positions or positions[-1] < last) and time.perf_counter() < deadline:  # noqa: ASYNC110 (a poll)
            await asyncio.sleep(0.005)
        reader.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await reader
    if positions[: last - head] != list(range(head + 1, last + 1)):
        raise RuntimeError("the subscriber missed or repeated events")
    delivered = (last - head) / (arrived[last - head - 1] - started)
    return appended, delivered


@contextlib.asynccontextmanager
async def _idle_subscribers(client: httpx.AsyncClient) -> AsyncIterator[None]:
    async with contextlib.AsyncExitStack() as stack:
        head = (await client.get("/events", params={"limit": 1})).json()["head"]
        params = {"stream": "agreement-nobody", "after": head}
        for _ in range(IDLE):
            response = await stack.enter_async_context(
                client.stream("GET", "/events/live", params=params)
            )
            if response.status_code != 200:
                raise RuntimeError(f"idle subscriber refused: {response.status_code}")
        yield


async def _latencies(client: httpx.AsyncClient, appends: int) -> list[float]:
    """Milliseconds from each event's recorded_at to its arrival, one append at a time."""
    stream_id = f"agreement-latency-{uuid.uuid4().hex[:12]}"
    waits: list[float] = []
    async with client.stream("GET", "/events/live", params={"stream": stream_id}) as stream:
        lines = stream.aiter_lines()
        for number in range(appends):
            body = {"events": _batch(1, number == 0)}
            answer = await client.post(f"/streams/{stream_id}/events", json=body)
            if answer.status_code != 201:
                raise RuntimeError(f"append failed: {answer.status_code}")
            async for line in lines:
                if line.startswith("data: "):
                    arrived = dt.datetime.now(dt.UTC)
                    event = msgspec.json.decode(line[6:])
                    recorded = dt.datetime.fromisoformat(event["recorded_at"])
                    waits.append((arrived - recorded).total_seconds() * 1000)
                    break
    return waits


def _percentile(values: list[float], fraction: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(fraction * len(ordered)))]
