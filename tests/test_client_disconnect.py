"""A client that goes away before its request body has arrived: not a server error."""

from __future__ import annotations

import logging
from typing import Any

import pytest

from tests.conftest import Api


async def test_a_client_gone_mid_body_is_counted_as_such_and_logs_no_error(
    api: Api, caplog: pytest.LogCaptureFixture
) -> None:
    head = await api.head()
    path = "/streams/agreement-gone-2022/events"
    scope: dict[str, Any] = {
        "type": "http",
        "asgi": {"version": "3.0"},
        "http_version": "1.1",
        "method": "POST",
        "scheme": "http",
        "path": path,
        "raw_path": path.encode(),
        "query_string": b"",
        "root_path": "",
        "headers": [
            (b"host", b"agreements"),
            (b"authorization", f"Bearer {api.tokens['recorder']}".encode()),
            (b"content-type", b"application/json"),
            (b"content-length", b"4000"),
        ],
        "client": ("127.0.0.1", 50000),
        "server": ("127.0.0.1", 8000),
        "state": {"services": api.services},
    }
    arriving = [{"type": "http.request", "body": b'{"events": [{"type": "Agr', "more_body": True}]
    sent: list[dict[str, Any]] = []

    async def receive() -> dict[str, Any]:
        return arriving.pop(0) if arriving else {"type": "http.disconnect"}

    async def send(message: dict[str, Any]) -> None:
        sent.append(message)

    with caplog.at_level(logging.WARNING):
        await api.app(scope, receive, send)  # the server would log what escapes here

    assert sent[0]["status"] == 499  # what the request log and the metrics record
    assert [r.getMessage() for r in caplog.records if r.levelno >= logging.ERROR] == []
    assert await api.head() == head
    metrics = (await api.client.get("/metrics", headers=api.auth("viewer"))).text
    assert 'route="/streams/{stream_id}/events",status="499"' in metrics
