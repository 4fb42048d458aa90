"""The audit routes over HTTP: bounded verification with resume, signed checkpoints, proofs an
auditor checks against the signed roots, and the role that may ask."""

from __future__ import annotations

import dataclasses
import sqlite3
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx
import msgspec
import pytest
from starlette.applications import Starlette
from starlette.types import Receive, Scope, Send

from events import merkle
from events.signed_checkpoints import Checkpoint, load_public_key, verify_checkpoint
from events.store import open_store
from service.app import create_app
from service.routes import ENDPOINTS
from service.routes import audit as audit_routes
from service.routes.audit import AUDIT_ROUTES
from service.settings import Settings
from tests.test_audit_store import fill_store

NOTE_STREAM = "agreement-imec-rapidus-2022"


class Auditor:
    """A client of the running app, with a token for each role it needs."""

    def __init__(self, client: httpx.AsyncClient, admin: str) -> None:
        self.client = client
        self.admin = admin
        self.auditor = ""
        self.viewer = ""

    async def start(self) -> Auditor:
        self.auditor = await self._token("auditor")
        self.viewer = await self._token("viewer")
        return self

    async def _token(self, role: str) -> str:
        created = await self.client.post(
            "/admin/tokens",
            json={"name": f"test {role}", "role": role},
            headers=_bearer(self.admin),
        )
        assert created.status_code == 201, created.text
        token: str = created.json()["token"]
        return token

    async def get(
        self, path: str, query: dict[str, Any] | None = None, *, token: str | None = None
    ) -> httpx.Response:
        return await self.client.get(path, params=query, headers=_bearer(token or self.auditor))

    async def ok(self, path: str, **query: Any) -> Any:
        response = await self.get(path, query)
        assert response.status_code == 200, response.text
        return response.json()

    async def note(self, count: int) -> None:
        for number in range(count):
            body = {
                "events": [
                    {
                        "type": "NoteAttached",
                        "occurred_at": "2023-02-01T09:00:00Z",
                        "data": {"text": f"Quarterly review {number}"},
                    }
                ]
            }
            response = await self.client.post(
                f"/streams/{NOTE_STREAM}/events", json=body, headers=_bearer(self.admin)
            )
            assert response.status_code == 201, response.text

    async def hashes(self) -> list[str]:
        return [e["hash"] for e in (await self.ok("/events", limit=1000))["events"]]


@dataclasses.dataclass
class _WithState:
    """What a server does for each request: hand it a copy of the lifespan's state."""

    app: Starlette
    state: dict[str, Any]

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http":
            scope["state"] = dict(self.state)
        await self.app(scope, receive, send)


def _bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


@pytest.fixture
async def database(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.delenv("AGREEMENTS_SIGNING_KEY", raising=False)
    path = tmp_path / "agreements.db"
    store = await open_store(f"sqlite+aiosqlite:///{path}")
    try:
        await fill_store(store, notes=5)
    finally:
        await store.close()
    return path


@pytest.fixture
async def api(database: Path) -> AsyncIterator[Auditor]:
    """The real app with the audit routes added, as the lead will wire them."""
    announced: list[str] = []
    settings = Settings(
        database_url=f"sqlite+aiosqlite:///{database}",
        start_projections=False,
        announce_token=announced.append,
    )
    app = create_app(settings, endpoints=(*ENDPOINTS, *AUDIT_ROUTES))
    async with app.router.lifespan_context(app) as state:
        assert state is not None
        transport = httpx.ASGITransport(app=_WithState(app, dict(state)))
        async with httpx.AsyncClient(transport=transport, base_url="http://agreements") as client:
            yield await Auditor(client, announced[0]).start()


def _edit_row(database: Path, position: int) -> None:
    """Edit a row behind the service's back (the append-only trigger dropped first)."""
    with sqlite3.connect(database) as connection:
        connection.execute("DROP TRIGGER events_append_only_update")
        connection.execute(
            "UPDATE events SET data = ? WHERE position = ?", (b'{"text":"forged"}', position)
        )


# --- /audit/verify ---------------------------------------------------------------------------


async def test_verify_a_clean_log_in_one_call(api: Auditor) -> None:
    head = len(await api.hashes())
    body = await api.ok("/audit/verify")
    assert body["head"] == head
    assert body["next"] is None
    report = body["report"]
    assert report["ok"] is True
    assert (report["checked"], report["head_position"]) == (head, head)
    leaves = [bytes.fromhex(h) for h in await api.hashes()]
    assert report["merkle_root"] == merkle.root(leaves).hex()


async def test_verify_in_bounded_steps_following_next(api: Auditor) -> None:
    head = len(await api.hashes())
    body = await api.ok("/audit/verify", limit=4)
    checked, calls = body["report"]["checked"], 1
    while body["next"] is not None:
        assert body["report"]["checked"] == 4
        body = await api.ok("/audit/verify", limit=4, **body["next"])
        checked, calls = checked + body["report"]["checked"], calls + 1
        assert body["report"]["ok"] is True
    assert checked == head
    assert calls == -(-head // 4)


async def test_verify_checks_at_most_the_server_bound(
    api: Auditor, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(audit_routes, "MAX_VERIFY_EVENTS", 7)
    body = await api.ok("/audit/verify", limit=1000)
    assert body["report"]["checked"] == 7
    assert body["next"]["from"] == 8


async def test_verify_finds_an_edited_row(api: Auditor, database: Path) -> None:
    _edit_row(database, 6)
    body = await api.ok("/audit/verify")
    assert body["report"]["ok"] is False
    assert body["report"]["first_broken_position"] == 6
    assert body["next"] is None
    # Resuming past the break with the hash the auditor was given also finds it.
    resumed = await api.ok("/audit/verify", **{"from": 7, "prev_hash": "ab" * 32})
    assert resumed["report"]["first_broken_position"] == 7


async def test_verify_refuses_a_start_past_the_head(api: Auditor) -> None:
    head = len(await api.hashes())
    response = await api.get("/audit/verify", {"from": head + 2})
    assert response.status_code == 422
    assert response.json()["errors"][0]["path"] == "query.from"


# --- checkpoints and proofs ------------------------------------------------------------------


async def _checkpoint(api: Auditor) -> Checkpoint:
    return msgspec.convert(await api.ok("/audit/checkpoint"), Checkpoint)


async def test_checkpoint_is_signed_by_the_published_key(api: Auditor) -> None:
    response = await api.get("/audit/public-key")
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("application/x-pem-file")
    key = load_public_key(response.text)
    made = await _checkpoint(api)
    hashes = await api.hashes()
    assert verify_checkpoint(made, key)
    assert (made.size, made.head_hash) == (len(hashes), hashes[-1])
    assert made.merkle_root == merkle.root([bytes.fromhex(h) for h in hashes]).hex()


async def test_consistency_between_two_checkpoints_verifies_against_both_signed_roots(
    api: Auditor,
) -> None:
    key = load_public_key((await api.get("/audit/public-key")).text)
    old = await _checkpoint(api)
    await api.note(5)
    new = await _checkpoint(api)
    assert new.size == old.size + 5
    assert verify_checkpoint(old, key) and verify_checkpoint(new, key)

    body = await api.ok("/audit/consistency", **{"from": old.size, "to": new.size})
    proof = [bytes.fromhex(node) for node in body["proof"]]
    assert merkle.verify_consistency(
        old.size,
        new.size,
        bytes.fromhex(old.merkle_root),
        bytes.fromhex(new.merkle_root),
        proof,
    )
    assert (body["from_root"], body["to_root"]) == (old.merkle_root, new.merkle_root)


async def test_inclusion_proof_verifies_against_a_signed_root(api: Auditor) -> None:
    await api.note(2)
    made = await _checkpoint(api)
    hashes = await api.hashes()
    for position in (1, 4, made.size):
        body = await api.ok("/audit/inclusion", position=position, size=made.size)
        assert body["leaf"] == hashes[position - 1]
        assert merkle.verify_inclusion(
            bytes.fromhex(body["leaf"]),
            position - 1,
            made.size,
            [bytes.fromhex(node) for node in body["proof"]],
            bytes.fromhex(made.merkle_root),
        )
    latest = await api.ok("/audit/inclusion", position=2)  # size: the log as it is now
    assert latest["size"] == len(hashes)


async def test_proofs_past_the_log_or_backwards_are_refused(api: Auditor) -> None:
    head = len(await api.hashes())
    assert (await api.get("/audit/consistency", {"from": 5, "to": 3})).status_code == 422
    assert (await api.get("/audit/consistency", {"from": 1, "to": head + 1})).status_code == 422
    assert (await api.get("/audit/inclusion", {"position": head + 1})).status_code == 422
    assert (await api.get("/audit/inclusion", {"position": 5, "size": 4})).status_code == 422


async def test_nothing_is_signed_over_a_broken_log(api: Auditor, database: Path) -> None:
    _edit_row(database, 3)
    response = await api.get("/audit/checkpoint")
    assert response.status_code == 500
    problem = response.json()
    assert problem["type"].endswith("/log-broken")
    assert "position 3" in problem["detail"]


# --- who may ask -----------------------------------------------------------------------------


@pytest.mark.parametrize(
    "path", ["/audit/verify", "/audit/checkpoint", "/audit/public-key", "/audit/inclusion"]
)
async def test_audit_needs_an_auditor(api: Auditor, path: str) -> None:
    assert (await api.client.get(path)).status_code == 401
    assert (await api.get(path, token=api.viewer)).status_code == 403


async def test_the_routes_are_documented(api: Auditor) -> None:
    document = await api.ok("/openapi.json")
    verify = document["paths"]["/audit/verify"]["get"]
    assert {p["name"] for p in verify["parameters"]} >= {"from", "limit", "prev_hash"}
    assert "/audit/consistency" in document["paths"]
