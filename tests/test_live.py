"""Live updates over server-sent events, end to end: a real server process, httpx streams.

(The in-process ASGI transport buffers a streaming response until it ends, so only a real
server shows what a subscriber sees while the stream is open.)
"""

from __future__ import annotations

import asyncio
import contextlib
import signal
import time
import uuid
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests._databases import BACKENDS, database
from tests._owners import named as owner_called
from tests._server import (
    Server,
    append_load,
    check_log,
    note,
    signed,
    start_server,
    until_acknowledged,
)
from tests._sse import Message, collect, subscribe, wait_until
from tests.conftest import Api

pytestmark = [pytest.mark.slow, pytest.mark.serial]

FAST = {"AGREEMENTS_LIVE_HEARTBEAT_SECONDS": "0.3"}
OWNER = {"unit": "FIT Tokyo office", "person": {"name": "Els Verhulst"}}


@contextlib.asynccontextmanager
async def running(
    backend: str, tmp_path: Path, env: dict[str, str] | None = None
) -> AsyncIterator[tuple[Server, httpx.AsyncClient]]:
    async with database(backend, tmp_path) as url:
        server = await asyncio.to_thread(start_server, url, tmp_path, env={**FAST, **(env or {})})
        try:
            async with httpx.AsyncClient(
                base_url=server.base_url, headers=server.headers(), timeout=30
            ) as client:
                yield server, client
        finally:
            server.kill()


async def log_events(client: httpx.AsyncClient, after: int = 0, **filters: Any) -> list[Any]:
    """Every event after `after` as `GET /events` shows it."""
    found: list[Any] = []
    while True:
        page = (await client.get("/events", params={"after": after, **filters})).raise_for_status()
        body = page.json()
        found.extend(body["events"])
        if body["next_after"] is None:
            return found
        after = body["next_after"]


async def head(client: httpx.AsyncClient) -> int:
    return int((await client.get("/events", params={"limit": 1})).json()["head"])


async def append(client: httpx.AsyncClient, stream_id: str, events: list[Any]) -> Any:
    answer = await client.post(f"/streams/{stream_id}/events", json={"events": events})
    assert answer.status_code == 201, answer.text
    return answer.json()


def new_agreement() -> str:
    return f"agreement-{uuid.uuid4().hex[:12]}"


def ids() -> str:
    return str(uuid.uuid4())


async def token(client: httpx.AsyncClient, role: str) -> tuple[str, str]:
    answer = await client.post("/admin/tokens", json={"name": f"test {role}", "role": role})
    assert answer.status_code == 201, answer.text
    body = answer.json()
    return body["token_id"], body["token"]


def bearer(secret: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {secret}"}


async def metric(client: httpx.AsyncClient, name: str) -> float:
    text = (await client.get("/metrics")).text
    for line in text.splitlines():
        if line.startswith(name + " "):
            return float(line.split()[1])
    raise AssertionError(f"no metric {name}")


# -- the log, followed --------------------------------------------------------------------


@pytest.mark.parametrize("backend", BACKENDS)
async def test_catch_up_then_live_while_appends_race_the_switch_and_a_reconnect_resumes(
    backend: str, tmp_path: Path
) -> None:
    async with running(backend, tmp_path) as (server, client):
        start = await head(client)
        received: list[Message] = []
        async with append_load(server, clients=6) as batches:
            await until_acknowledged(batches, 20)  # a backlog to catch up on, still growing
            async with subscribe(client, "/events/live", params={"after": start}) as live:
                reader = asyncio.create_task(collect(live, received))
                await until_acknowledged(batches, 80)  # appends race the switch to live
                reader.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await reader
            # Closed while appends go on: the reconnect below resumes from its last id.
        final = await head(client)
        assert received, "nothing arrived"
        got = [m.position for m in received]
        assert got == list(range(start + 1, start + 1 + len(got))), "a gap or a repeat"
        # Reconnect: Last-Event-ID wins over `after`, and the stream goes on from there.
        last = got[-1]
        async with subscribe(
            client, "/events/live", params={"after": 0}, headers={"Last-Event-ID": str(last)}
        ) as again:
            rest = await again.until(final) if last < final else []
        together = got + [m.position for m in rest]
        assert together == list(range(start + 1, final + 1))
        assert {m.event for m in received + rest} == {"recorded"}
        logged = await log_events(client, after=start)
        assert [m.json() for m in received + rest] == logged
        await check_log(server.database_url, batches)
        assert await metric(client, "agreements_live_messages_total") >= len(together)


@pytest.mark.parametrize("backend", BACKENDS)
async def test_filters_send_only_matching_events_and_keep_positions_as_ids(
    backend: str, tmp_path: Path
) -> None:
    async with running(backend, tmp_path) as (_server, client):
        mine, other = new_agreement(), new_agreement()
        await append(client, mine, [signed(ids()), note(ids(), 1)])
        await append(client, other, [signed(ids())])
        start = 0
        async with (
            subscribe(client, "/events/live", params={"stream": mine}) as by_stream,
            subscribe(
                client, "/events/live", params={"type": "NoteAttached", "category": "agreement"}
            ) as by_type,
            subscribe(client, "/events/live", params={"category": "admin"}) as by_category,
        ):
            # Live part: more of both streams after the subscriptions opened.
            await append(client, other, [note(ids(), 2)])
            last = (await append(client, mine, [note(ids(), 3)]))["to_position"]
            expected_mine = [
                e["position"] for e in await log_events(client) if e["stream_id"] == mine
            ]
            assert [m.position for m in await by_stream.until(last)] == expected_mine
            notes = await log_events(client, after=start, type="NoteAttached", category="agreement")
            assert [m.json() for m in await by_type.until(last)] == notes
            admin = await log_events(client, category="admin")
            assert [m.json() for m in await by_category.until(admin[-1]["position"])] == admin
        bad = await client.get("/events/live", params={"stream": "not a stream"})
        assert bad.status_code == 422
        assert bad.json()["errors"][0]["path"] == "query.stream"
        bad = await client.get("/events/live", headers={"Last-Event-ID": "yesterday"})
        assert bad.status_code == 422
        assert bad.json()["errors"][0]["path"] == "header.Last-Event-ID"
        assert bad.headers["content-type"] == "application/problem+json"


@pytest.mark.parametrize("backend", BACKENDS)
async def test_a_client_that_does_not_read_is_told_overflow_and_others_are_not_held_up(
    backend: str, tmp_path: Path
) -> None:
    env = {"AGREEMENTS_LIVE_MAX_LAG": "50"}
    async with running(backend, tmp_path, env) as (_server, client):
        big = "x" * 3900
        stream = new_agreement()
        await append(client, stream, [signed(ids())])
        start = await head(client)
        async with (
            subscribe(client, "/events/live", params={"after": start}) as stuck,
            subscribe(client, "/events/live", params={"after": start}) as reading,
        ):
            kept_up: list[Message] = []
            reader = asyncio.create_task(collect(reading, kept_up))
            for _ in range(200):  # bounded: each batch is ~1 MB the stuck client never takes
                events = [note(ids()) | {"data": {"text": big}} for _ in range(250)]
                last = (await append(client, stream, events))["to_position"]
                await wait_until(lambda last=last: kept_up and kept_up[-1].position == last)
                if await metric(client, "agreements_live_overflows_total") >= 1:
                    break
            else:
                raise AssertionError("the client that does not read never overflowed")
            # The stuck client now reads: a gapless prefix, then `overflow`, then the end.
            seen = await stuck.rest()
            assert seen[-1].event == "overflow"
            delivered = [m.position for m in seen[:-1]]
            assert delivered == list(range(start + 1, start + 1 + len(delivered)))
            assert seen[-1].json()["position"] == (delivered[-1] if delivered else start)
            assert not reader.done(), "the client that kept reading was closed"
            assert [m.position for m in kept_up] == list(range(start + 1, last + 1))
            reader.cancel()
        # A reconnect from the last id catches up from the log.
        resume = delivered[-1] if delivered else start
        async with subscribe(
            client, "/events/live", headers={"Last-Event-ID": str(resume)}
        ) as again:
            assert [m.position for m in await again.until(last)] == list(
                range(resume + 1, last + 1)
            )


@pytest.mark.parametrize("backend", BACKENDS)
async def test_sigterm_ends_open_subscriptions_and_finishes_in_flight_appends(
    backend: str, tmp_path: Path
) -> None:
    async with running(backend, tmp_path) as (server, client):
        async with (
            subscribe(client, "/events/live") as first,
            subscribe(client, "/live") as second,
        ):
            async with append_load(server, clients=8) as batches:
                await until_acknowledged(batches, 20)
                signalled = time.monotonic()
                server.process.send_signal(signal.SIGTERM)
                # Bounded: uvicorn waits for open responses, so streams left open would hang it.
                await asyncio.to_thread(server.process.wait, 30)
            # Both streams were ended by the server (cleanly: the response was completed).
            await first.rest()
            await second.rest()
            assert first.ended and second.ended
        server.stop()  # already exited: checks the status and that nothing failed
        assert [b for b in batches if b.acknowledged and (b.answered_at or 0) > signalled]
        await check_log(server.database_url, batches)


@pytest.mark.parametrize("backend", BACKENDS)
async def test_auth_roles_revocation_and_the_subscriber_limit(backend: str, tmp_path: Path) -> None:
    env = {"AGREEMENTS_MAX_SUBSCRIBERS": "2"}
    async with running(backend, tmp_path, env) as (_server, client):
        _, recorder = await token(client, "recorder")
        _, viewer = await token(client, "viewer")
        auditor_id, auditor = await token(client, "auditor")
        anonymous = await client.get("/events/live", headers={"Authorization": ""})
        assert anonymous.status_code == 401
        assert (await client.get("/events/live", headers=bearer(recorder))).status_code == 403
        assert (await client.get("/events/live", headers=bearer(viewer))).status_code == 403
        assert (await client.get("/live", headers={"Authorization": ""})).status_code == 401

        async with (
            subscribe(client, "/events/live", headers=bearer(auditor)) as audited,
            subscribe(client, "/live", headers=bearer(viewer)) as viewed,
        ):
            # Idle streams get heartbeat comments (every 0.3 s here).
            assert (await viewed.comment()).startswith(": ping")
            full = await client.get("/events/live")
            assert full.status_code == 503
            assert full.headers["retry-after"].isdigit()
            assert full.headers["content-type"] == "application/problem+json"
            assert await metric(client, "agreements_live_subscribers") == 2

            revoked = await client.delete(f"/admin/tokens/{auditor_id}")
            assert revoked.status_code == 200, revoked.text
            await audited.rest()  # the auditor's stream ends
            assert audited.ended
            # The viewer's goes on: the revocation itself is a change it is told about.
            assert (await viewed.next()) is not None
        await wait_until(
            lambda: metric_is(client, "agreements_live_subscribers", 0), what="slots freed"
        )
        async with subscribe(client, "/events/live") as again:
            assert again.response.status_code == 200
        assert (await client.get("/events/live", headers=bearer(auditor))).status_code == 401


async def metric_is(client: httpx.AsyncClient, name: str, value: float) -> bool:
    return await metric(client, name) == value


# -- the projections, followed --------------------------------------------------------------


@pytest.mark.parametrize("backend", BACKENDS)
async def test_live_names_what_the_projections_changed_once_applied_and_resumes(
    backend: str, tmp_path: Path
) -> None:
    async with running(backend, tmp_path) as (_server, client):
        _, viewer = await token(client, "viewer")
        first = new_agreement()
        applied = (await append(client, first, [signed(ids())]))["to_position"]
        await client.get(f"/partnerships/{first}", params={"wait_for_position": applied})
        async with subscribe(client, "/live", headers=bearer(viewer)) as live:
            stream = new_agreement()
            events = [
                signed(ids()),
                {
                    "type": "ResponsibilityAssigned",
                    "occurred_at": "2023-01-10T09:00:00Z",
                    "data": {
                        "owner": OWNER,
                        "assigned_by": "Director",
                        "assigned_on": "2023-01-10",
                    },
                },
            ]
            position = (await append(client, stream, events))["to_position"]
            changes = []
            while not changes or changes[-1].position < position:
                message = await live.next()
                assert message is not None
                changes.append(message)
            assert {m.event for m in changes} == {"changed"}
            named = changes[-1].json()
            assert named["position"] == position == changes[-1].position
            assert stream in {p for m in changes for p in m.json()["partnerships"]}
            listed = await client.get("/owners", headers=bearer(viewer))
            els = owner_called(listed.json()["owners"], "Els Verhulst")
            assert els in {o for m in changes for o in m.json()["owners"]}
            assert first not in {p for m in changes for p in m.json()["partnerships"]}
            # Sent once applied: the partnership can be read at once, without waiting.
            read = await client.get(f"/partnerships/{stream}", headers=bearer(viewer))
            assert read.status_code == 200
            assert read.json()["position"] >= position
        # Resumed from an earlier position: everything changed since it is named.
        async with subscribe(
            client, "/live", params={"after": 0}, headers=bearer(viewer)
        ) as resumed:
            message = await resumed.next()
            assert message is not None and message.event == "changed"
            body = message.json()
            assert {first, stream} <= set(body["partnerships"])
            assert body["position"] >= position and not body["everything"]


async def test_openapi_documents_the_streams_as_event_streams(api: Api) -> None:
    document = (await api.client.get("/openapi.json", headers=api.auth("viewer"))).json()
    for path, event, role in (
        ("/events/live", "recorded", "auditor"),
        ("/live", "changed", "viewer"),
    ):
        operation = document["paths"][path]["get"]
        assert "text/event-stream" in operation["responses"]["200"]["content"]
        assert f"event: {event}" in operation["description"]
        assert role in operation["x-roles"]
        assert "503" in operation["responses"]
    parameters = {p["name"] for p in document["paths"]["/events/live"]["get"]["parameters"]}
    assert parameters == {"after", "type", "category", "stream"}
