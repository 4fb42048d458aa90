"""How uvicorn is run: connection limits a slow or hostile client cannot sit out.

uvicorn alone closes an idle keep-alive connection (`timeout_keep_alive`) and refuses work
past `limit_concurrency`, but with httptools it bounds neither the size of a request head nor
the time a client takes to send one: a socket that sends nothing, or half a header, stays
open, and 30 MB of headers are read and handed on. `GuardedHttpToolsProtocol` adds both:
- a request head (request line and headers) must arrive whole within `header_timeout_seconds`
  of the connection opening or of the request's first byte, else the connection is closed;
- a head larger than `max_header_bytes` is answered 431 and the connection closed, counted
  as headers are parsed and, while a head is incomplete, as bytes arrive (httptools buffers
  a header until its end: one huge header would otherwise be read whole first);
- once a request is answered, a body still arriving is read and dropped for at most as long
  (uvicorn would read it, and stay open, for as long as the client trickles it).
The body's own deadline (408) is the application's (`service.routes.base.read_body`).

Worker processes (`--workers`) build their limits from the environment, as their app does.
"""

from __future__ import annotations

import asyncio
import copy
import dataclasses
import functools
import json
from typing import Any

import httptools
from uvicorn.config import LOGGING_CONFIG
from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol

from service.responses import PROBLEM_BASE
from service.settings import Settings


@dataclasses.dataclass(frozen=True)
class ConnectionLimits:
    max_header_bytes: int
    header_timeout_seconds: float

    @classmethod
    def of(cls, settings: Settings) -> ConnectionLimits:
        return cls(settings.max_header_bytes, settings.header_timeout_seconds)


_configured: ConnectionLimits | None = None


def configure(settings: Settings) -> None:
    """Limits for connections accepted in this process from now on."""
    global _configured
    _configured = ConnectionLimits.of(settings)


@functools.cache
def _from_environment() -> ConnectionLimits:
    return ConnectionLimits.of(Settings.from_env())


def _limits() -> ConnectionLimits:
    return _configured if _configured is not None else _from_environment()


class HeadTooLarge(httptools.HttpParserError):
    """Raised from a parser callback: uvicorn then answers (see `send_400_response`) and
    closes the connection."""


class GuardedHttpToolsProtocol(HttpToolsProtocol):
    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        limits = _limits()
        self._max_head = limits.max_header_bytes
        self._head_timeout = limits.header_timeout_seconds
        self._in_head = True
        self._head_bytes = 0
        """Bytes received while a head is incomplete: catches one huge header early."""
        self._head_fields = 0
        """The parsed head's size: exact when the whole head came in one read."""
        self._head_too_large = False
        self._head_timer: asyncio.TimerHandle | None = None

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        super().connection_made(transport)
        self._await_head()

    def connection_lost(self, exc: Exception | None) -> None:
        self._stop_head_timer()
        super().connection_lost(exc)

    def data_received(self, data: bytes) -> None:
        if self._in_head:
            self._head_bytes += len(data)
        super().data_received(data)
        if self._in_head and self._head_bytes > self._max_head:
            self._refuse_head()

    def on_message_begin(self) -> None:
        super().on_message_begin()
        self._in_head = True
        self._head_fields = 0
        self._await_head()

    def on_url(self, url: bytes) -> None:
        self._count(len(url))
        super().on_url(url)

    def on_header(self, name: bytes, value: bytes) -> None:
        self._count(len(name) + len(value) + 4)
        super().on_header(name, value)

    def on_headers_complete(self) -> None:
        self._in_head = False
        self._head_bytes = 0
        self._stop_head_timer()
        super().on_headers_complete()

    def on_response_complete(self) -> None:
        super().on_response_complete()
        cycle = self.cycle
        if cycle is not None and cycle.more_body:
            # Answered before its body arrived (a refusal, or a body nobody reads): the rest
            # is read and dropped, but it and the next request's head must arrive within the
            # head timeout. Closing at once could reset the connection before the client
            # read the answer; reading on without a limit lets a client trickle forever.
            self._await_head()

    def send_400_response(self, msg: str) -> None:
        if self._head_too_large:
            self._refuse_head()
        else:
            super().send_400_response(msg)

    def _count(self, size: int) -> None:
        self._head_fields += size
        if self._head_fields > self._max_head:
            self._head_too_large = True
            raise HeadTooLarge("request head too large")

    def _await_head(self) -> None:
        if self._head_timer is None:
            self._head_timer = self.loop.call_later(self._head_timeout, self._head_too_slow)

    def _stop_head_timer(self) -> None:
        if self._head_timer is not None:
            self._head_timer.cancel()
            self._head_timer = None

    def _head_too_slow(self) -> None:
        self._head_timer = None
        if not self.transport.is_closing():
            self.transport.close()

    def _refuse_head(self) -> None:
        self._head_too_large = True
        self._stop_head_timer()
        if self.transport.is_closing():
            return
        if self.cycle is None or self.cycle.response_complete:
            self.transport.write(_head_too_large_answer(self._max_head))
        self.transport.close()


def _head_too_large_answer(limit: int) -> bytes:
    body = json.dumps(
        {
            "type": PROBLEM_BASE + "header-fields-too-large",
            "title": "Request header fields too large",
            "status": 431,
            "detail": f"the request line and headers are limited to {limit} bytes",
        }
    ).encode()
    return b"".join(
        [
            b"HTTP/1.1 431 Request Header Fields Too Large\r\n",
            b"content-type: application/problem+json\r\n",
            b"x-content-type-options: nosniff\r\n",
            b"content-length: %d\r\n" % len(body),
            b"connection: close\r\n\r\n",
            body,
        ]
    )


SECURITY_LOG_FORMAT = "%(asctime)s %(levelname)s %(name)s: %(message)s"


def log_config() -> dict[str, Any]:
    """uvicorn's logging, plus the security log on standard error (every process)."""
    config = copy.deepcopy(LOGGING_CONFIG)
    config["formatters"]["security"] = {"format": SECURITY_LOG_FORMAT}
    config["handlers"]["security"] = {
        "formatter": "security",
        "class": "logging.StreamHandler",
        "stream": "ext://sys.stderr",
    }
    config["loggers"]["agreements.security"] = {
        "handlers": ["security"],
        "level": "INFO",
        "propagate": False,
    }
    return config


def uvicorn_options(settings: Settings) -> dict[str, Any]:
    """What `uvicorn.run` is given besides the app, host, port and workers."""
    trusted = settings.trusted_proxies.strip()
    return {
        "http": GuardedHttpToolsProtocol,
        "timeout_keep_alive": settings.keep_alive_timeout_seconds,
        "limit_concurrency": settings.max_connections,
        "h11_max_incomplete_event_size": settings.max_header_bytes,
        "server_header": False,
        "proxy_headers": bool(trusted),
        "forwarded_allow_ips": trusted or None,
        "access_log": False,
        "log_config": log_config(),
    }
