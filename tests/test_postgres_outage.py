"""A real server on PostgreSQL when the database goes away (issue: PostgreSQL).

Connections terminated by the server, the database unreachable, the network silently
dropping packets, a statement stuck behind a lock: every request answers promptly, either
with success (a transparent retry: pool_pre_ping) or with 503 problem+json and Retry-After;
never a 500, never a hung request. When the database is back, the service recovers on its own:
appends succeed and the projections catch up, without a restart.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path

import asyncpg
import httpx
import pytest

from events._writer import LOG_LOCK
from tests._databases import fresh_postgres
from tests._instances import (
    DatabaseProxy,
    Instance,
    admin_connection,
    append,
    applier_port,
    follow_up_ids,
    issue_token,
    opened,
    partnership,
    problem_or_success,
    serving,
    signed,
    terminate_backends,
)

pytestmark = [
    pytest.mark.slow,
    pytest.mark.postgres,
    pytest.mark.serial,
    pytest.mark.timeout(180),
]

STATEMENT_TIMEOUT_MS = 1000
ENV = {
    "AGREEMENTS_STATEMENT_TIMEOUT_MS": str(STATEMENT_TIMEOUT_MS),
    "AGREEMENTS_POOL_TIMEOUT": "2",
    "AGREEMENTS_MAX_WAIT_SECONDS": "5",
}
PROMPT = 10.0
"""No request may take longer than this while the database is in trouble (seconds)."""
RECOVERY = 20.0
STREAM = "agreement-outage"


@dataclass
class Running:
    service: Instance
    admin: asyncpg.Connection
    proxy: DatabaseProxy
    position: int
    """The log position of the events recorded before the trouble."""


@pytest.fixture
async def running(tmp_path: Path) -> AsyncIterator[Running]:
    """One service reaching a fresh database through a proxy the test can cut."""
    async with fresh_postgres() as url:
        token = await issue_token(url)
        proxy = DatabaseProxy(url)
        await proxy.start()
        try:
            async with (
                serving(proxy.url, tmp_path, ["service"], token=token, env=ENV) as (service,),
                admin_connection(url) as admin,
            ):
                await append(service, STREAM, signed(STREAM))
                position = await append(service, STREAM, opened(1))
                await partnership(service, STREAM, position)
                yield Running(service, admin, proxy, position)
        finally:
            await proxy.close()


async def answers_everything_promptly(service: Instance, n: int) -> list[int]:
    """One request of each kind; each is a success (reads may be answered from memory) or a
    503 problem, none slower than PROMPT. Returns the status codes, the append's first and
    /health's last."""
    statuses = []
    requests = [
        ("POST", f"/streams/{STREAM}/events", {"events": [opened(n)]}, (201,)),
        ("GET", f"/streams/{STREAM}/events", None, (200,)),
        ("GET", "/events", None, (200,)),
        ("GET", f"/partnerships/{STREAM}", None, (200,)),
        ("GET", "/owners", None, (200,)),
    ]
    for method, path, body, success in requests:
        started = time.monotonic()
        response = await service.client.request(method, path, json=body, timeout=PROMPT + 5)
        took = time.monotonic() - started
        assert took < PROMPT, f"{method} {path} took {took:.1f}s"
        problem_or_success(response, *success)
        statuses.append(response.status_code)
    health = await service.client.get("/health", timeout=PROMPT)
    assert health.status_code in (200, 503), health.text
    statuses.append(health.status_code)
    return statuses


async def recovers(service: Instance, n: int) -> None:
    """Within RECOVERY seconds appends succeed again and the projections follow them."""
    deadline = time.monotonic() + RECOVERY
    while True:
        try:
            response = await service.client.post(
                f"/streams/{STREAM}/events", json={"events": [opened(n)]}, timeout=PROMPT
            )
        except httpx.TimeoutException:
            response = None
        if response is not None and response.status_code == 201:
            break
        if response is not None:
            problem_or_success(response)
        assert time.monotonic() < deadline, f"no recovery:\n{service.log()}"
        await asyncio.sleep(0.5)
    body = await partnership(service, STREAM, response.json()["to_position"])
    assert f"fu-{n}" in follow_up_ids(body)
    health = await service.client.get("/health")
    assert health.status_code == 200, health.text


async def test_terminated_connections_fail_softly_and_recover(running: Running) -> None:
    ended = await terminate_backends(running.admin)
    assert ended >= 3  # at least the writer's, the LISTEN and the projection lock connections

    statuses = await answers_everything_promptly(running.service, 2)
    assert 500 not in statuses
    await recovers(running.service, 3)
    # The projection lock was taken again (the only instance applies; `recovers` saw it).
    assert await applier_port(running.admin) is not None


async def test_database_unreachable_gives_503_then_recovers(running: Running) -> None:
    await running.proxy.cut()

    statuses = await answers_everything_promptly(running.service, 2)
    assert statuses[0] == 503, statuses  # no append without the database
    assert statuses[-1] == 503, statuses  # and /health says so

    await running.proxy.restore()
    await recovers(running.service, 3)


async def test_silently_dropped_packets_do_not_hang_requests(running: Running) -> None:
    running.proxy.freeze()

    statuses = await answers_everything_promptly(running.service, 2)
    assert statuses[0] == 503, statuses  # no append without the database
    assert statuses[-1] == 503, statuses  # and /health says so

    await running.proxy.restore()
    await recovers(running.service, 3)


async def test_a_statement_past_the_timeout_is_503(running: Running) -> None:
    service, admin = running.service, running.admin
    async with admin.transaction():
        # Readers of the log wait behind this lock; appends behind the writers' lock.
        await admin.execute("LOCK TABLE events IN ACCESS EXCLUSIVE MODE")
        await admin.execute("SELECT pg_advisory_xact_lock($1)", LOG_LOCK)

        for method, path, body in [
            ("GET", f"/streams/{STREAM}/events", None),
            ("GET", "/events", None),
            ("POST", f"/streams/{STREAM}/events", {"events": [opened(2)]}),
        ]:
            started = time.monotonic()
            response = await service.client.request(method, path, json=body)
            took = time.monotonic() - started
            assert response.status_code == 503, (method, path, response.text)
            problem_or_success(response)
            # The statement timeout, not the client, ended it.
            assert STATEMENT_TIMEOUT_MS / 1000 <= took < STATEMENT_TIMEOUT_MS / 1000 + 3, took

    await recovers(service, 3)


async def test_requests_beyond_the_pool_wait_at_most_the_pool_timeout(tmp_path: Path) -> None:
    """Every connection busy (stuck behind a lock): the next requests wait `pool_timeout`
    for one, then answer 503, not 500 and not a hang."""
    # Three connections are held for good (writer, LISTEN, projection lock): one is left.
    env = {**ENV, "AGREEMENTS_POOL_SIZE": "3", "AGREEMENTS_POOL_MAX_OVERFLOW": "1"}
    async with fresh_postgres() as url:
        token = await issue_token(url)
        async with (
            serving(url, tmp_path, ["service"], token=token, env=env) as (service,),
            admin_connection(url) as admin,
        ):
            await append(service, STREAM, signed(STREAM))
            async with admin.transaction():
                await admin.execute("LOCK TABLE events IN ACCESS EXCLUSIVE MODE")
                started = time.monotonic()
                answers = await asyncio.gather(
                    *(service.client.get(f"/streams/{STREAM}/events") for _ in range(6))
                )
                took = time.monotonic() - started
            for answer in answers:
                assert answer.status_code == 503, answer.text
                problem_or_success(answer)
            assert took < PROMPT, took
            await recovers(service, 2)
