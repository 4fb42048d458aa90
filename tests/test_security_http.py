"""Headers on every answer of every route (enumerated from the app's own endpoint table), and
the security log: refusals and, when asked for, every token's reads and writes."""

from __future__ import annotations

import dataclasses
import logging
import re

import httpx
import pytest
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import HTMLResponse, Response
from starlette.routing import Route

from service.routes import ENDPOINTS
from service.routes.base import Endpoint
from service.security import API_POLICY, SecurityMiddleware
from service.settings import Settings
from tests.conftest import Api, signed

SAMPLE_PATH_VALUE = "agreement-imec-rapidus-2022"


def _url(endpoint: Endpoint) -> str:
    return re.sub(r"{\w+(?::\w+)?}", SAMPLE_PATH_VALUE, endpoint.path)


def _assert_guarded(answer_headers: dict[str, str], where: str) -> None:
    assert answer_headers.get("x-content-type-options") == "nosniff", where
    assert answer_headers.get("content-security-policy") == API_POLICY.decode(), where
    assert answer_headers.get("cache-control") == "no-store", where
    assert "server" not in answer_headers, where


async def test_every_route_answers_with_the_security_headers(api: Api) -> None:
    assert len(ENDPOINTS) > 15
    for endpoint in ENDPOINTS:
        url = _url(endpoint)
        for headers in ({}, api.auth("admin"), api.auth("viewer")):
            if headers and endpoint.media_type == "text/event-stream":
                continue  # an admitted live stream never ends in-process (test_live reads them)
            answer = await api.client.request(
                endpoint.method,
                url,
                headers=headers,
                json={} if endpoint.body is not None else None,
            )
            where = f"{endpoint.method} {url} as {headers or 'nobody'}: {answer.status_code}"
            _assert_guarded(dict(answer.headers), where)


async def test_unrouted_and_refused_answers_carry_them_too(api: Api) -> None:
    for method, url in (("GET", "/nowhere"), ("PUT", "/events"), ("GET", "/events?limit=0")):
        answer = await api.client.request(method, url, headers=api.auth("admin"))
        assert answer.status_code in (404, 405, 422)
        _assert_guarded(dict(answer.headers), f"{method} {url}")


async def test_a_poll_still_gets_its_304_without_anything_stored(api: Api) -> None:
    first = await api.client.get("/partnerships", headers=api.auth("viewer"))
    assert first.headers["cache-control"] == "no-store"
    again = await api.client.get(
        "/partnerships", headers={**api.auth("viewer"), "If-None-Match": first.headers["etag"]}
    )
    assert again.status_code == 304
    _assert_guarded(dict(again.headers), "304")


def _security_records(caplog: pytest.LogCaptureFixture) -> list[logging.LogRecord]:
    return [r for r in caplog.records if r.name == "agreements.security"]


async def test_refusals_are_in_the_security_log_without_secrets(
    api: Api, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.WARNING, logger="agreements.security")
    wrong = "agr_0123456789abcdef_" + "x" * 43
    assert (await api.client.get("/events")).status_code == 401
    assert (
        await api.client.get("/events", headers={"Authorization": f"Bearer {wrong}"})
    ).status_code == 401
    assert (await api.client.get("/events", headers=api.auth("viewer"))).status_code == 403
    assert (await api.client.get("/partnerships", headers=api.auth("viewer"))).status_code == 200

    records = _security_records(caplog)
    assert [(r.levelname, r.status, r.path) for r in records] == [  # type: ignore[attr-defined]
        ("WARNING", 401, "/events"),
        ("WARNING", 401, "/events"),
        ("WARNING", 403, "/events"),
    ]
    viewer = api.services.tokens.authenticate(api.tokens["viewer"])
    assert viewer is not None
    assert records[0].claimed_token_id is None  # type: ignore[attr-defined]
    assert records[1].claimed_token_id == "0123456789abcdef"  # type: ignore[attr-defined]
    assert "0123456789abcdef" in records[1].getMessage()
    forbidden = records[2]
    assert forbidden.token_id == viewer.token_id  # type: ignore[attr-defined]
    assert viewer.token_id in forbidden.getMessage()
    assert "test viewer" in forbidden.getMessage()
    texts = "\n".join(r.getMessage() + repr(r.__dict__) for r in records)
    for secret in (wrong, *api.tokens.values()):
        assert secret not in texts
        # The part after the id (`agr_<id>_<secret>`); the secret itself may hold `_`.
        assert secret.split("_", 2)[2] not in texts


async def test_without_the_access_log_allowed_requests_are_not_recorded(
    api: Api, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="agreements.security")
    assert (await api.client.get("/partnerships", headers=api.auth("viewer"))).status_code == 200
    assert _security_records(caplog) == []


class TestWithTheAccessLog:
    @pytest.fixture
    def settings(self, settings: Settings) -> Settings:
        return dataclasses.replace(settings, access_log=True)

    async def test_every_token_read_and_write_is_recorded(
        self, api: Api, caplog: pytest.LogCaptureFixture
    ) -> None:
        caplog.set_level(logging.INFO, logger="agreements.security")
        recorder = api.services.tokens.authenticate(api.tokens["recorder"])
        assert recorder is not None
        read = await api.client.get("/partnerships/nothing-here", headers=api.auth("recorder"))
        assert read.status_code == 404
        wrote = await api.client.post(
            "/streams/agreement-x/events", json={"events": [signed()]}, headers=api.auth("recorder")
        )
        assert wrote.status_code == 201
        assert (await api.client.get("/health")).status_code == 200  # no token, no record

        records = [r for r in _security_records(caplog) if r.levelno == logging.INFO]
        assert [(r.token_id, r.method, r.path, r.status) for r in records] == [  # type: ignore[attr-defined]
            (recorder.token_id, "GET", "/partnerships/nothing-here", 404),
            (recorder.token_id, "POST", "/streams/agreement-x/events", 201),
        ]
        assert all(api.tokens["recorder"] not in r.getMessage() for r in records)


async def test_a_route_that_sets_its_own_policy_and_caching_keeps_them() -> None:
    page_policy = "default-src 'self'; frame-ancestors 'none'"

    async def page(request: Request) -> Response:
        return HTMLResponse(
            "<p>dashboard</p>",
            headers={"Content-Security-Policy": page_policy, "Cache-Control": "max-age=60"},
        )

    app = SecurityMiddleware(Starlette(routes=[Route("/page", page)]))
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://agreements") as client:
        answer = await client.get("/page")
    assert answer.headers.get_list("content-security-policy") == [page_policy]
    assert answer.headers.get_list("cache-control") == ["max-age=60"]
    assert answer.headers["x-content-type-options"] == "nosniff"
