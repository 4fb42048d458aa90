"""Shared fixtures: the real app, its lifespan, an HTTP client and a token per role.

`database_url` is the one place that picks the database: it is parametrized with
`tests._databases.BACKENDS`, so every API test runs unchanged on SQLite and PostgreSQL.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import datetime as dt
import shutil
import sqlite3
from collections.abc import AsyncIterator, Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import httpx
import hypothesis
import pytest
from sqlalchemy import make_url
from starlette.applications import Starlette
from starlette.types import Receive, Scope, Send

from events.personal import folding
from service import openapi
from service.app import create_app
from service.routes.base import Endpoint, Services
from service.settings import Settings
from tests._databases import BACKENDS, database, drop_reused
from tests._owners import TEST_SECRET

TODAY = dt.date(2023, 3, 1)
ROLES = ("recorder", "viewer", "auditor", "admin")

# No time limit per example: on a busy two-core machine a slow example is noise, not a bug
# (timing belongs in benchmarks/). Tests that want fewer examples still set their own.
hypothesis.settings.register_profile("agreements", deadline=None)
hypothesis.settings.load_profile("agreements")


QUICK_ON_POSTGRES = {"test_store_contract.py"}
"""With --quick, the only modules whose PostgreSQL variants still run."""


def pytest_addoption(parser: pytest.Parser) -> None:
    parser.addoption(
        "--quick",
        action="store_true",
        help="the development loop: no slow tests, and PostgreSQL only for the store contract",
    )


@pytest.hookimpl(tryfirst=True)  # before xdist reads the groups
def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """`@pytest.mark.serial` tests (bounds on time, killed processes, load) all go to one
    xdist group: one worker runs them one after another, while the others run the rest."""
    if config.getoption("quick"):
        kept, dropped = [], []
        for item in items:
            on_postgres = item.get_closest_marker("postgres") is not None
            slow = item.get_closest_marker("slow") is not None
            if slow or (on_postgres and item.path.name not in QUICK_ON_POSTGRES):
                dropped.append(item)
            else:
                kept.append(item)
        config.hook.pytest_deselected(items=dropped)
        items[:] = kept
    for item in items:
        if item.get_closest_marker("serial") is not None:
            item.add_marker(pytest.mark.xdist_group("serial"))


def pytest_sessionfinish() -> None:
    drop_reused()


@pytest.fixture(autouse=True)
def _signing_key_in_tmp(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Audit's signing key defaults to a file in the working directory on PostgreSQL: keep
    tests from leaving one in the checkout."""
    monkeypatch.setenv("AGREEMENTS_SIGNING_KEY", str(tmp_path / "signing-key.pem"))


@pytest.fixture(params=BACKENDS)
async def database_url(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[str]:
    """A fresh database per test, on every backend (PostgreSQL skips when absent, not in CI)."""
    async with database(request.param, tmp_path) as url:
        yield url


@pytest.fixture
def announced() -> list[str]:
    """Tokens the app announced on first start (the bootstrap admin token)."""
    return []


@pytest.fixture
def settings(database_url: str, announced: list[str]) -> Settings:
    return Settings(
        database_url=database_url,
        announce_token=announced.append,
        today=lambda: TODAY,
        token_refresh_seconds=0.05,
        max_wait_seconds=5.0,
    )


@dataclasses.dataclass
class Api:
    """The running app: a client, its services and a bearer token per role."""

    client: httpx.AsyncClient
    services: Services
    tokens: dict[str, str]
    app: Starlette

    def auth(self, role: str) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.tokens[role]}"}

    async def head(self) -> int:
        return await self.services.store.head()


@dataclasses.dataclass
class _WithState:
    """What a server does for each request: hand it a copy of the lifespan's state."""

    app: Starlette
    state: dict[str, Any]

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http":
            scope["state"] = dict(self.state)
        await self.app(scope, receive, send)


_rendered: dict[tuple[int | None, ...], tuple[Sequence[Endpoint], bytes]] = {}
_render = openapi.render


def _render_once(
    endpoints: Sequence[Endpoint], *, max_events_per_batch: int | None = None
) -> bytes:
    """The OpenAPI document, rendered once per set of endpoints and batch limit in a test
    process (a tenth of a second each time, on every one of several hundred app starts)."""
    key = (*map(id, endpoints), max_events_per_batch)
    if key not in _rendered:  # the entry keeps `endpoints` alive, so its ids stay theirs
        rendered = _render(endpoints, max_events_per_batch=max_events_per_batch)
        _rendered[key] = (endpoints, rendered)
    return _rendered[key][1]


openapi.render = _render_once


@pytest.fixture(scope="session")
def migrated_sqlite(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """An empty SQLite register with its schema and projection tables, made once per test
    process: each `api` test on SQLite starts from a copy of it, as a restarted service would,
    instead of running the migrations again. No events: the first start still issues and
    announces the admin token."""
    path = tmp_path_factory.mktemp("template") / "migrated.db"

    async def make() -> None:
        settings = Settings(database_url=f"sqlite+aiosqlite:///{path}", bootstrap_admin_token=False)
        app = create_app(settings)
        async with app.router.lifespan_context(app):
            pass

    with ThreadPoolExecutor(1) as thread:  # its own event loop, whatever the tests' loops do
        thread.submit(asyncio.run, make()).result()
    with contextlib.closing(sqlite3.connect(path)) as connection:
        connection.execute("PRAGMA wal_checkpoint(TRUNCATE)")
        assert connection.execute("SELECT count(*) FROM events").fetchone() == (0,)
    return path


def _copy_unless_there(template: Path, database: Path) -> None:
    if not database.exists():
        shutil.copyfile(template, database)


@pytest.fixture
async def api(
    settings: Settings, announced: list[str], migrated_sqlite: Path
) -> AsyncIterator[Api]:
    url = make_url(settings.database_url)
    if url.get_backend_name() == "sqlite" and url.database:
        await asyncio.to_thread(_copy_unless_there, migrated_sqlite, Path(url.database))
    app = create_app(settings)
    async with app.router.lifespan_context(app) as state:
        assert state is not None
        transport = httpx.ASGITransport(app=_WithState(app, dict(state)))
        async with httpx.AsyncClient(transport=transport, base_url="http://agreements") as client:
            tokens = {"admin": announced[0]}
            for role in ROLES[:-1]:
                made = await client.post(
                    "/admin/tokens",
                    json={"name": f"test {role}", "role": role},
                    headers={"Authorization": f"Bearer {tokens['admin']}"},
                )
                assert made.status_code == 201, made.text
                tokens[role] = made.json()["token"]
            yield Api(client=client, services=state["services"], tokens=tokens, app=app)


def signed(event_id: str | None = None, **changes: Any) -> dict[str, Any]:
    """An AgreementSigned event as a client sends it."""
    data: dict[str, Any] = {
        "kind": "MoC",
        "title": "imec-Rapidus MoC",
        "parties": [
            {"organisation": "imec", "signatory": {"name": "Luc Van den hove"}},
            {"organisation": "Rapidus", "signatory": {"name": "Atsuyoshi Koike"}},
        ],
        "signed_on": "2022-12-06",
        **changes,
    }
    event: dict[str, Any] = {
        "type": "AgreementSigned",
        "occurred_at": "2022-12-06T10:00:00Z",
        "data": data,
    }
    if event_id is not None:
        event["event_id"] = event_id
    return event


@pytest.fixture
def folding_secret() -> Iterator[bytes]:
    """Fold views outside a log (a test of the folds themselves): owner ids keyed by
    `tests._owners.TEST_SECRET`. Use with `pytest.mark.usefixtures`; sync tests only (an
    async test runs in a context of its own)."""
    with folding(TEST_SECRET):
        yield TEST_SECRET
