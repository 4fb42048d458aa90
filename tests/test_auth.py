"""Every route is guarded: no, malformed, unknown, revoked or wrong-role tokens get nowhere."""

from __future__ import annotations

import asyncio
import hashlib
import re

import httpx
import pytest
from starlette.routing import Route

from events.envelope import Metadata
from events.store import open_store
from service.auth import MATRIX
from service.routes import ENDPOINTS
from service.routes.base import Endpoint
from service.tokens import TokenTable
from service.web import is_page
from tests.conftest import ROLES, Api

_SAMPLE_PATH_VALUES = {"stream_id": "agreement-x", "token_id": "0123456789abcdef"}


def _served(api: Api) -> list[tuple[str, str, Endpoint]]:
    """(method, concrete URL, endpoint) for every route the app serves."""
    by_name = {e.name: e for e in ENDPOINTS}
    found = []
    for route in api.app.routes:
        if is_page(route):
            continue  # the browser's pages: session cookies, not bearer tokens (test_web)
        assert isinstance(route, Route)
        endpoint = by_name[route.name]  # every served route is a declared endpoint
        url = re.sub(r"{(\w+)(?::\w+)?}", lambda m: _SAMPLE_PATH_VALUES.get(m[1], "x"), route.path)
        found.append((endpoint.method, url, endpoint))
    return found


async def _call(api: Api, method: str, url: str, authorization: str | None) -> httpx.Response:
    headers = {} if authorization is None else {"Authorization": authorization}
    return await api.client.request(method, url, headers=headers)


def _assert_unauthenticated(response: httpx.Response) -> None:
    assert response.status_code == 401, response.text
    assert response.headers["www-authenticate"].startswith("Bearer")
    assert response.headers["content-type"] == "application/problem+json"


@pytest.mark.parametrize(
    "authorization",
    [
        None,
        "",
        "Bearer",
        "Bearer ",
        "Basic dXNlcjpwYXNz",
        "Bearer not-a-token",
        "Bearer agr_0123456789abcdef_" + "A" * 43,
        "Token agr_0123456789abcdef_" + "A" * 43,
    ],
    ids=["none", "empty", "no-secret", "blank", "basic", "garbage", "unknown", "other-scheme"],
)
async def test_every_route_but_home_and_health_refuses_missing_and_bad_tokens(
    api: Api, authorization: str | None
) -> None:
    head = await api.head()
    for method, url, endpoint in _served(api):
        response = await _call(api, method, url, authorization)
        if endpoint.permission is None:
            assert endpoint.path in ("/", "/health")
            assert response.status_code == 200
        else:
            _assert_unauthenticated(response)
    assert await api.head() == head


async def test_every_route_refuses_roles_outside_its_permission(api: Api) -> None:
    for method, url, endpoint in _served(api):
        if endpoint.permission is None:
            continue
        allowed = MATRIX[endpoint.permission]
        for role in ROLES:
            if role in allowed and endpoint.media_type == "text/event-stream":
                continue  # endless in-process; `test_live` checks these roles on a real server
            # An allowed call may record (the first checkpoint names the log and its key); a
            # refused one changes nothing.
            head = await api.head()
            response = await _call(api, method, url, api.auth(role)["Authorization"])
            if role in allowed:
                assert response.status_code not in (401, 403), (method, url, role)
            else:
                assert response.status_code == 403, (method, url, role, response.text)
                assert await api.head() == head, (method, url, role)


async def test_the_role_matrix_of_the_design(api: Api) -> None:
    assert MATRIX["append"] == {"recorder", "admin"}
    assert MATRIX["read_log"] == {"auditor", "admin"}
    assert "viewer" in MATRIX["read_projections"]
    assert MATRIX["manage"] == {"admin"}
    assert all("admin" in roles for roles in MATRIX.values())


async def test_a_token_revoked_over_http_fails_on_the_next_request(api: Api) -> None:
    made = await api.client.post(
        "/admin/tokens", json={"name": "laptop", "role": "auditor"}, headers=api.auth("admin")
    )
    token, token_id = made.json()["token"], made.json()["token_id"]
    assert (await _call(api, "GET", "/events", f"Bearer {token}")).status_code == 200

    revoked = await api.client.delete(f"/admin/tokens/{token_id}", headers=api.auth("admin"))

    assert revoked.status_code == 200
    assert revoked.json()["revoked_at"] is not None
    _assert_unauthenticated(await _call(api, "GET", "/events", f"Bearer {token}"))
    again = await api.client.delete(f"/admin/tokens/{token_id}", headers=api.auth("admin"))
    assert again.status_code == 404


async def test_a_revoked_admin_token_opens_nothing(api: Api) -> None:
    made = await api.client.post(
        "/admin/tokens", json={"name": "old admin", "role": "admin"}, headers=api.auth("admin")
    )
    token = made.json()["token"]
    await api.client.delete(f"/admin/tokens/{made.json()['token_id']}", headers=api.auth("admin"))
    for method, url, endpoint in _served(api):
        if endpoint.permission is not None:
            _assert_unauthenticated(await _call(api, method, url, f"Bearer {token}"))


async def test_a_token_revoked_by_another_process_stops_working_soon(
    api: Api, database_url: str
) -> None:
    made = await api.client.post(
        "/admin/tokens", json={"name": "script", "role": "viewer"}, headers=api.auth("admin")
    )
    token = made.json()["token"]
    other = await open_store(database_url)  # as `agreements token revoke` would
    try:
        await TokenTable(other).revoke(made.json()["token_id"], metadata=Metadata(actor="cli"))
    finally:
        await other.close()

    deadline = asyncio.get_running_loop().time() + 30  # refreshed every 0.05 s: a bound, not a wait
    while True:
        response = await _call(api, "GET", "/partnerships", f"Bearer {token}")
        if response.status_code == 401 or asyncio.get_running_loop().time() > deadline:
            break
        await asyncio.sleep(0.02)
    _assert_unauthenticated(response)


async def test_tokens_are_stored_only_as_hashes(api: Api) -> None:
    log = await api.client.get("/events", params={"category": "admin"}, headers=api.auth("auditor"))
    issued = [e["data"] for e in log.json()["events"] if e["type"] == "TokenIssued"]
    assert len(issued) == len(ROLES)
    for role, secret in api.tokens.items():
        assert secret not in log.text
        entry = next(d for d in issued if d["role"] == role)
        assert entry["token_hash"] == hashlib.sha256(secret.encode()).hexdigest()
        assert secret.startswith(f"agr_{entry['token_id']}_")
    listing = await api.client.get("/admin/tokens", headers=api.auth("admin"))
    assert {t["role"] for t in listing.json()["tokens"]} == set(ROLES)
    assert "hash" not in listing.text


async def test_token_events_record_the_issuing_tokens_name(api: Api) -> None:
    log = await api.client.get("/events", params={"category": "admin"}, headers=api.auth("auditor"))
    actors = [e["metadata"]["actor"] for e in log.json()["events"]]
    assert actors == ["agreements (first start)"] + ["bootstrap-admin"] * (len(ROLES) - 1)
