"""The connection guard on its own, fed bytes directly: one huge header is refused while it
is still arriving, not read whole first (httptools reports a header only at its end)."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest
from starlette.types import Receive, Scope, Send
from uvicorn.config import Config
from uvicorn.server import ServerState

from service import connections
from service.connections import ConnectionLimits, GuardedHttpToolsProtocol

LIMIT = 8192


class _Transport(asyncio.Transport):
    """Records what the server writes and whether it closed; reads are not paused here."""

    def __init__(self) -> None:
        super().__init__()
        self.written = b""
        self.closed = False

    def get_extra_info(self, name: str, default: Any = None) -> Any:
        return {"peername": ("127.0.0.1", 5000), "sockname": ("127.0.0.1", 8000)}.get(name, default)

    def write(self, data: bytes | bytearray | memoryview) -> None:
        self.written += bytes(data)

    def close(self) -> None:
        self.closed = True

    def is_closing(self) -> bool:
        return self.closed

    def pause_reading(self) -> None:
        pass

    def resume_reading(self) -> None:
        pass


async def _app(scope: Scope, receive: Receive, send: Send) -> None:
    raise AssertionError("a refused head must not reach the application")


@pytest.fixture
async def protocol(monkeypatch: pytest.MonkeyPatch) -> GuardedHttpToolsProtocol:
    monkeypatch.setattr(connections, "_configured", ConnectionLimits(LIMIT, 60.0))
    config = Config(app=_app, http=GuardedHttpToolsProtocol, lifespan="off")
    config.load()
    return GuardedHttpToolsProtocol(
        config=config, server_state=ServerState(), app_state={}, _loop=asyncio.get_running_loop()
    )


async def test_one_huge_header_is_refused_while_it_arrives(
    protocol: GuardedHttpToolsProtocol,
) -> None:
    transport = _Transport()
    protocol.connection_made(transport)
    protocol.data_received(b"GET /health HTTP/1.1\r\nHost: agreements\r\nX-Huge: ")
    fed = 0
    while not transport.closed and fed < 1000:  # up to a megabyte, a kilobyte at a time
        protocol.data_received(b"x" * 1024)
        fed += 1
    assert transport.closed
    assert fed <= LIMIT // 1024 + 1  # refused as soon as the head passed the limit
    assert transport.written.startswith(b"HTTP/1.1 431 ")
    protocol.connection_lost(None)


async def test_a_head_within_the_limit_is_read_on(protocol: GuardedHttpToolsProtocol) -> None:
    transport = _Transport()
    protocol.connection_made(transport)
    protocol.data_received(b"GET /health HTTP/1.1\r\nHost: agreements\r\nX-Pad: ")
    for _ in range(LIMIT // 1024 - 1):
        protocol.data_received(b"x" * 1024)
    assert not transport.closed and transport.written == b""
    protocol.connection_lost(None)
