"""The guard against attack: every route, every kind of bad credential, with bodies that a
broken guard would act on; revocation on the next request; nothing secret in the logs.

Extends tests/test_auth.py (same route enumeration, `_served`, from the app's router): there
the requests carry no body; here each refused request carries a valid one, so a guard that
ran the handler before checking the token would show up as a moved log head.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
from sqlalchemy import text

from service.auth import MATRIX
from tests.conftest import ROLES, Api, signed
from tests.test_auth import _served

MARKER = "Zanzibar-7431"
"""A word that appears in event bodies sent during the run and nowhere else."""

_VALID_BODIES: dict[str, Any] = {
    "append_events": {"events": [signed(title=f"{MARKER} guard")]},
    "create_token": {"name": f"{MARKER} token", "role": "admin"},
}


async def _request(
    api: Api, method: str, url: str, name: str, authorization: str | None
) -> httpx.Response:
    headers = {} if authorization is None else {"Authorization": authorization}
    body = _VALID_BODIES.get(name)
    return await api.client.request(method, url, headers=headers, json=body)


async def _revoked_tokens(api: Api) -> dict[str, str]:
    """A token of each role, used once successfully, then revoked."""
    revoked = {}
    for role in ROLES:
        made = await api.client.post(
            "/admin/tokens", json={"name": f"old {role}", "role": role}, headers=api.auth("admin")
        )
        token = made.json()["token"]
        works = await api.client.get("/openapi.json", headers={"Authorization": f"Bearer {token}"})
        assert works.status_code == 200
        gone = await api.client.delete(
            f"/admin/tokens/{made.json()['token_id']}", headers=api.auth("admin")
        )
        assert gone.status_code == 200
        revoked[role] = token
    return revoked


def _bad_credentials(api: Api, revoked: dict[str, str]) -> Iterator[tuple[str, str | None]]:
    yield "missing", None
    yield "empty", ""
    yield "scheme only", "Bearer"
    yield "wrong scheme", f"Basic {api.tokens['admin']}"
    yield "two secrets", f"Bearer {api.tokens['admin']} {api.tokens['admin']}"
    yield "truncated", f"Bearer {api.tokens['admin'][:-1]}"
    yield "a hash, not a secret", "Bearer " + "0" * 64
    yield "10 KB", "Bearer " + "A" * 10_000
    for role, token in revoked.items():
        yield f"revoked {role}", f"Bearer {token}"


async def test_no_bad_credential_opens_any_route_even_with_a_valid_body(api: Api) -> None:
    revoked = await _revoked_tokens(api)
    head = await api.head()
    for method, url, endpoint in _served(api):
        for kind, authorization in _bad_credentials(api, revoked):
            response = await _request(api, method, url, endpoint.name, authorization)
            if endpoint.permission is None:
                assert response.status_code == 200, (url, kind)
                continue
            assert response.status_code == 401, (method, url, kind, response.text)
            assert response.headers["www-authenticate"].startswith("Bearer")
            assert response.headers["content-type"] == "application/problem+json"
    assert await api.head() == head


async def test_wrong_roles_are_refused_before_the_body_is_acted_on(api: Api) -> None:
    head = await api.head()
    for method, url, endpoint in _served(api):
        if endpoint.permission is None:
            continue
        for role in sorted(set(ROLES) - MATRIX[endpoint.permission]):
            response = await _request(
                api, method, url, endpoint.name, api.auth(role)["Authorization"]
            )
            assert response.status_code == 403, (method, url, role, response.text)
    assert await api.head() == head


async def test_credentials_are_checked_before_the_body_is_read(api: Api) -> None:
    """An unauthenticated caller learns nothing about the schema, however bad its body."""
    head = await api.head()
    for authorization, status in ((None, 401), (api.auth("viewer")["Authorization"], 403)):
        headers = {"Content-Type": "text/plain"}
        if authorization is not None:
            headers["Authorization"] = authorization
        for body in (b"", b"{", b"x" * 2_000_000):
            response = await api.client.post(
                "/streams/agreement-x/events", content=body, headers=headers
            )
            assert response.status_code == status, response.text
    assert await api.head() == head


async def test_revocation_takes_effect_on_the_next_request_for_every_role(api: Api) -> None:
    allowed_route = {
        "recorder": "/streams/agreement-x/events",
        "viewer": "/partnerships",
        "auditor": "/events",
        "admin": "/admin/tokens",
    }
    for role, url in allowed_route.items():
        made = await api.client.post(
            "/admin/tokens", json={"name": f"{role} now", "role": role}, headers=api.auth("admin")
        )
        bearer = {"Authorization": f"Bearer {made.json()['token']}"}
        before = await api.client.get(url, headers=bearer)
        assert before.status_code in (200, 404), before.text  # 404: the stream is empty

        revoked = await api.client.delete(
            f"/admin/tokens/{made.json()['token_id']}", headers=api.auth("admin")
        )

        assert revoked.status_code == 200
        assert (await api.client.get(url, headers=bearer)).status_code == 401


@pytest.fixture
def debug_logs(caplog: pytest.LogCaptureFixture) -> pytest.LogCaptureFixture:
    """Every logger at DEBUG from before the app starts (request it before `api`)."""
    caplog.set_level(logging.DEBUG)
    return caplog


async def _refuse_marked_writes(api: Api) -> None:
    """Make the database itself fail a write whose data holds `MARKER` (a driver error, the
    kind of failure that gets logged with its SQL)."""
    if api.services.store.dialect == "sqlite":
        statements = [
            "CREATE TRIGGER refuse_marked BEFORE INSERT ON events"
            f" WHEN CAST(NEW.data AS TEXT) LIKE '%{MARKER} poison%'"
            " BEGIN SELECT RAISE(ABORT, 'refused by the test'); END"
        ]
    else:
        statements = [
            "CREATE FUNCTION refuse_marked() RETURNS trigger AS $$ BEGIN"
            f" IF convert_from(NEW.data, 'UTF8') LIKE '%{MARKER} poison%' THEN"
            " RAISE EXCEPTION 'refused by the test'; END IF; RETURN NEW; END $$"
            " LANGUAGE plpgsql",
            "CREATE TRIGGER refuse_marked BEFORE INSERT ON events FOR EACH ROW"
            " EXECUTE FUNCTION refuse_marked()",
        ]
    async with api.services.store.engine.begin() as connection:
        for statement in statements:
            await connection.execute(text(statement))


async def test_no_token_secret_or_event_body_reaches_the_logs(
    debug_logs: pytest.LogCaptureFixture, api: Api
) -> None:
    recorder = api.auth("recorder")
    accepted = await api.client.post(
        "/streams/agreement-logs/events",
        json={"events": [signed(title=f"{MARKER} accepted")]},
        headers=recorder,
    )
    assert accepted.status_code == 201
    for body in (
        {"events": [signed(title=f"{MARKER} signed twice")]},  # rule violation
        {"events": [signed(title=f"{MARKER}\x00")]},  # schema
        {"events": [signed(title=MARKER)], "actor": MARKER},  # unknown field
    ):
        refused = await api.client.post(
            "/streams/agreement-logs/events", json=body, headers=recorder
        )
        assert refused.status_code == 422
    malformed = await api.client.post(
        "/streams/agreement-logs/events",
        content=f'{{"correlation_id": "{MARKER}'.encode(),
        headers={**recorder, "Content-Type": "application/json"},
    )
    assert malformed.status_code == 400
    made = await api.client.post(
        "/admin/tokens", json={"name": "logged", "role": "auditor"}, headers=api.auth("admin")
    )
    secret = made.json()["token"]
    assert (
        await api.client.get("/events", headers={"Authorization": f"Bearer {secret}"})
    ).status_code == 200
    await api.client.delete(f"/admin/tokens/{made.json()['token_id']}", headers=api.auth("admin"))
    await api.client.get("/events", headers={"Authorization": f"Bearer {secret}"})
    await _refuse_marked_writes(api)
    failed = await api.client.post(
        "/streams/agreement-poisoned/events",
        json={"events": [signed(title=f"{MARKER} poison")]},
        headers=recorder,
    )
    assert failed.status_code == 503

    logged = "\n".join(
        record.getMessage()
        + (logging.Formatter().formatException(record.exc_info) if record.exc_info else "")
        for phase in ("setup", "call")
        for record in debug_logs.get_records(phase)
    )
    assert logged, "nothing was logged at all: the capture is not working"
    assert MARKER not in logged
    for token in [*api.tokens.values(), secret]:
        assert token not in logged
        # `agr_<16 hex id>_<secret>`: the secret itself may contain "_", so cut by length.
        assert token[len("agr_") + 16 + 1 :] not in logged
