"""Slow and oversized clients against the real server (`agreements serve`), on raw sockets.

The limits are set short (1 s) so that each case ends quickly; every wait for the server to
answer or close is bounded by a generous deadline (`DEADLINE`), far past the limit, so a slow
machine cannot make a case fail, and a server without the limit fails it instead of hanging.
"""

from __future__ import annotations

import dataclasses
import select
import socket
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from service.connections import uvicorn_options
from service.settings import Settings
from tests._server import Server, start_server

pytestmark = pytest.mark.serial  # its limits are one second: no neighbours loading the CPU

DEADLINE = 20.0
"""Seconds a case waits for the server to answer or close: twenty times its limit."""
MAX_HEADER_BYTES = 8192
LIMITS = {
    "AGREEMENTS_HEADER_TIMEOUT_SECONDS": "1",
    "AGREEMENTS_BODY_TIMEOUT_SECONDS": "1",
    "AGREEMENTS_KEEP_ALIVE_TIMEOUT_SECONDS": "1",
    "AGREEMENTS_MAX_HEADER_BYTES": str(MAX_HEADER_BYTES),
    "AGREEMENTS_TRUSTED_PROXIES": "127.0.0.1",
}


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    directory = tmp_path_factory.mktemp("connections")
    running = start_server(
        f"sqlite+aiosqlite:///{directory / 'agreements.db'}", directory, env=LIMITS
    )
    try:
        yield running
    finally:
        running.stop()


def _connect(server: Server) -> socket.socket:
    host, port = server.base_url.removeprefix("http://").split(":")
    connection = socket.create_connection((host, int(port)), timeout=DEADLINE)
    connection.settimeout(DEADLINE)
    return connection


def _read_until_closed(connection: socket.socket) -> bytes:
    """Everything the server sends until it closes the connection (a reset counts as closed);
    fails if it is still open after `DEADLINE`."""
    received = b""
    deadline = time.monotonic() + DEADLINE
    while True:
        assert time.monotonic() < deadline, f"still open after {DEADLINE} s: {received!r}"
        try:
            chunk = connection.recv(65536)
        except ConnectionResetError:
            return received
        except TimeoutError:
            pytest.fail(f"still open after {DEADLINE} s, having sent {received!r}")
        if not chunk:
            return received
        received += chunk


def test_a_socket_that_sends_nothing_is_closed(server: Server) -> None:
    with _connect(server) as connection:
        assert _read_until_closed(connection) == b""


def test_a_socket_that_sends_half_a_header_is_closed(server: Server) -> None:
    with _connect(server) as connection:
        connection.sendall(b"GET /health HTTP/1.1\r\nHost: agreements\r\nX-Half: ")
        assert _read_until_closed(connection) == b""


def test_an_idle_keep_alive_connection_is_closed(server: Server) -> None:
    with _connect(server) as connection:
        connection.sendall(b"GET /health HTTP/1.1\r\nHost: agreements\r\n\r\n")
        answer = _read_until_closed(connection)
    assert answer.startswith(b"HTTP/1.1 200 ")


def test_a_body_that_never_arrives_is_answered_408_and_closed(server: Server) -> None:
    with _connect(server) as connection:
        connection.sendall(
            b"POST /streams/agreement-slow/events HTTP/1.1\r\nHost: agreements\r\n"
            b"Authorization: Bearer " + server.token.encode() + b"\r\n"
            b"Content-Type: application/json\r\nContent-Length: 1000000\r\n\r\n{"
        )
        answer = _read_until_closed(connection)
    head, _, body = answer.partition(b"\r\n\r\n")
    assert head.startswith(b"HTTP/1.1 408 "), answer
    assert b"content-type: application/problem+json" in head.lower()
    assert b"request-timeout" in body


def test_an_unread_body_trickled_after_the_answer_does_not_keep_the_connection(
    server: Server,
) -> None:
    with _connect(server) as connection:
        connection.sendall(
            b"GET /health HTTP/1.1\r\nHost: agreements\r\nContent-Length: 1000000\r\n\r\n{"
        )
        received = b""
        deadline = time.monotonic() + DEADLINE
        while True:  # a byte of body every 0.1 s, until the server closes
            assert time.monotonic() < deadline, f"still open after {DEADLINE} s: {received!r}"
            readable, _, _ = select.select([connection], [], [], 0.1)
            try:
                if not readable:
                    connection.sendall(b" ")
                    continue
                chunk = connection.recv(65536)
            except (BrokenPipeError, ConnectionResetError):
                break
            if not chunk:
                break
            received += chunk
    assert received.startswith(b"HTTP/1.1 200 ")


def test_headers_past_the_limit_are_answered_431_and_closed(server: Server) -> None:
    padding = b"x" * (MAX_HEADER_BYTES + 4096)
    with _connect(server) as connection:
        connection.sendall(
            b"GET /health HTTP/1.1\r\nHost: agreements\r\nX-Padding: " + padding + b"\r\n\r\n"
        )
        answer = _read_until_closed(connection)
    head, _, body = answer.partition(b"\r\n\r\n")
    assert head.startswith(b"HTTP/1.1 431 "), answer
    assert b"header-fields-too-large" in body and str(MAX_HEADER_BYTES).encode() in body


def test_headers_within_the_limit_are_served(server: Server) -> None:
    padding = "x" * (MAX_HEADER_BYTES // 2)
    answer = httpx.get(
        f"{server.base_url}/health", headers={"X-Padding": padding}, timeout=DEADLINE
    )
    assert answer.status_code == 200


def test_no_server_banner_and_the_security_headers(server: Server) -> None:
    answer = httpx.get(f"{server.base_url}/health", timeout=DEADLINE)
    assert "server" not in answer.headers
    assert answer.headers["x-content-type-options"] == "nosniff"
    assert answer.headers["cache-control"] == "no-store"


def test_the_security_log_names_the_client_a_trusted_proxy_forwarded(server: Server) -> None:
    answer = httpx.get(
        f"{server.base_url}/events", headers={"X-Forwarded-For": "203.0.113.7"}, timeout=DEADLINE
    )
    assert answer.status_code == 401
    expected = "agreements.security: refused 401 GET /events from 203.0.113.7"
    deadline = time.monotonic() + DEADLINE
    while expected not in server.output():
        assert time.monotonic() < deadline, server.output()
        time.sleep(0.05)


def test_uvicorn_runs_with_the_limits_and_trusts_no_proxy_by_default(tmp_path: Path) -> None:
    settings = Settings(
        database_url=f"sqlite+aiosqlite:///{tmp_path / 'a.db'}",
        max_connections=7,
        keep_alive_timeout_seconds=3.0,
    )
    options = uvicorn_options(settings)
    assert options["limit_concurrency"] == 7
    assert options["timeout_keep_alive"] == 3.0
    assert options["proxy_headers"] is False
    assert options["server_header"] is False
    trusting = uvicorn_options(dataclasses.replace(settings, trusted_proxies="10.0.0.5, 10.0.0.6"))
    assert trusting["proxy_headers"] is True
    assert trusting["forwarded_allow_ips"] == "10.0.0.5, 10.0.0.6"
