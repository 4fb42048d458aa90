"""Errors as problem+json: body limits, unknown routes, unexpected failures, no internals."""

from __future__ import annotations

import dataclasses
import logging
from collections.abc import AsyncIterator
from typing import Any

import httpx
import msgspec
import pytest
from starlette.responses import Response
from starlette.types import Message

from events.errors import StoreUnavailable
from service.app import create_app
from service.routes import ENDPOINTS
from service.routes.base import Call, Endpoint
from service.settings import Settings
from tests.conftest import Api, signed

URL = "/streams/agreement-limits/events"
LIMIT = 4096


@pytest.fixture
def settings(settings: Settings) -> Settings:
    return dataclasses.replace(settings, max_body_bytes=LIMIT)


def body_of_size(size: int) -> bytes:
    """A valid append body of exactly `size` bytes (padded inside the summary)."""
    base = msgspec.json.encode({"events": [signed(summary="")]})
    return base.replace(b'"summary":""', b'"summary":"' + b"x" * (size - len(base)) + b'"')


async def test_a_body_at_the_limit_is_accepted_and_past_it_is_413(api: Api) -> None:
    headers = {**api.auth("recorder"), "Content-Type": "application/json"}
    too_big = body_of_size(LIMIT + 1)
    head = await api.head()

    response = await api.client.post(URL, content=too_big, headers=headers)

    assert response.status_code == 413
    assert response.json()["type"].endswith("/body-too-large")
    assert await api.head() == head
    at_limit = await api.client.post(URL, content=body_of_size(LIMIT), headers=headers)
    assert at_limit.status_code == 201, at_limit.text


async def test_a_chunked_body_without_length_is_cut_off_at_the_limit(api: Api) -> None:
    async def chunks() -> AsyncIterator[bytes]:
        for _ in range(10):
            yield b" " * 1000

    head = await api.head()
    response = await api.client.post(
        URL, content=chunks(), headers={**api.auth("recorder"), "Content-Type": "application/json"}
    )
    assert response.status_code == 413
    assert await api.head() == head


async def test_a_content_length_that_lies_does_not_get_past_the_limit(api: Api) -> None:
    """The declared length says small; the body keeps coming. Count what arrives."""
    chunks = [body_of_size(LIMIT)[:-1], b" " * 100, b"}"]
    messages: list[Message] = [
        {"type": "http.request", "body": c, "more_body": i < len(chunks) - 1}
        for i, c in enumerate(chunks)
    ]
    head = await api.head()
    sent = await _raw_post(api, content_length=20, messages=messages)
    assert sent[0]["status"] == 413
    assert await api.head() == head


async def test_a_client_gone_mid_body_is_counted_as_such_and_logs_no_error(
    api: Api, caplog: pytest.LogCaptureFixture
) -> None:
    head = await api.head()
    part = {"type": "http.request", "body": b'{"events": [{"type": "Agr', "more_body": True}
    with caplog.at_level(logging.WARNING):
        sent = await _raw_post(api, content_length=4000, messages=[part])  # then: disconnect

    assert sent[0]["status"] == 499  # what the access log and the metrics record
    assert [r.getMessage() for r in caplog.records if r.levelno >= logging.ERROR] == []
    assert await api.head() == head
    metrics = (await api.client.get("/metrics", headers=api.auth("viewer"))).text
    assert 'route="/streams/{stream_id}/events",status="499"' in metrics


async def _raw_post(api: Api, *, content_length: int, messages: list[Message]) -> list[Message]:
    """POST to `URL` at the ASGI level, `messages` as the body, then a disconnect; what the
    app sent back. (An HTTP client cannot lie about a length or leave mid-body.)"""
    sent: list[Message] = []

    async def receive() -> Message:
        return messages.pop(0) if messages else {"type": "http.disconnect"}

    async def send(message: Message) -> None:
        sent.append(message)

    scope: dict[str, Any] = {
        "type": "http",
        "asgi": {"version": "3.0"},
        "http_version": "1.1",
        "method": "POST",
        "scheme": "http",
        "path": URL,
        "raw_path": URL.encode(),
        "query_string": b"",
        "root_path": "",
        "headers": [
            (b"host", b"agreements"),
            (b"content-type", b"application/json"),
            (b"content-length", str(content_length).encode()),
            (b"authorization", api.auth("recorder")["Authorization"].encode()),
        ],
        "client": ("127.0.0.1", 1),
        "server": ("agreements", 80),
        "state": {"services": api.services},
    }
    await api.app(scope, receive, send)  # what escapes here, the server would log as an error
    return sent


async def test_an_unavailable_store_is_503_with_retry_after(
    api: Api, monkeypatch: pytest.MonkeyPatch
) -> None:
    async def locked(*args: Any, **kwargs: Any) -> None:
        raise StoreUnavailable("database is locked", retry_after=3)

    monkeypatch.setattr(api.services.store, "append", locked)
    response = await api.client.post(URL, json={"events": [signed()]}, headers=api.auth("recorder"))
    assert response.status_code == 503
    assert response.headers["retry-after"] == "3"
    assert response.json()["type"].endswith("/store-unavailable")
    assert "locked" not in response.text


async def test_an_unknown_route_is_a_404_problem(api: Api) -> None:
    response = await api.client.get("/nowhere", headers=api.auth("admin"))
    assert response.status_code == 404
    assert response.headers["content-type"] == "application/problem+json"


async def test_a_wrong_method_is_a_405_problem(api: Api) -> None:
    response = await api.client.put(URL, headers=api.auth("admin"))
    assert response.status_code == 405
    assert response.headers["content-type"] == "application/problem+json"
    assert "POST" in response.headers["allow"]


@pytest.mark.parametrize(
    ("method", "url", "served"),
    [
        ("OPTIONS", "/streams/agreement-x/events", {"GET", "HEAD", "POST"}),
        ("PUT", "/streams/agreement-x/events", {"GET", "HEAD", "POST"}),
        ("OPTIONS", "/admin/tokens", {"GET", "HEAD", "POST"}),
        ("GET", "/admin/tokens/0123456789abcdef", {"DELETE"}),
    ],
)
async def test_a_405_allows_every_method_of_the_path(
    api: Api, method: str, url: str, served: set[str]
) -> None:
    """A path served by one route per method: `Allow` lists them all, not the first's."""
    response = await api.client.request(method, url, headers=api.auth("admin"))
    assert response.status_code == 405
    assert {m.strip() for m in response.headers["allow"].split(",")} == served


class _Boom(Exception):
    pass


async def _explode(call: Call[Any, None]) -> Response:
    raise _Boom("secret internals: /var/lib/agreements password=hunter2")


async def test_an_unexpected_error_is_a_500_problem_without_internals(
    settings: Settings, announced: list[str]
) -> None:
    broken = Endpoint(
        method="GET",
        path="/explode",
        name="explode",
        summary="",
        handler=_explode,
        permission="read_openapi",
    )
    app = create_app(settings, endpoints=(*ENDPOINTS, broken))
    async with app.router.lifespan_context(app) as state:
        assert state is not None

        async def with_state(scope: Any, receive: Any, send: Any) -> None:
            scope["state"] = dict(state)
            await app(scope, receive, send)

        transport = httpx.ASGITransport(app=with_state, raise_app_exceptions=False)
        async with httpx.AsyncClient(transport=transport, base_url="http://a") as client:
            response = await client.get(
                "/explode", headers={"Authorization": f"Bearer {announced[0]}"}
            )
    assert response.status_code == 500
    assert response.headers["content-type"] == "application/problem+json"
    assert response.json()["type"].endswith("/internal-error")
    assert "hunter2" not in response.text
    assert "_Boom" not in response.text
