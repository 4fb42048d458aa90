"""A small server-sent events client for the tests, over httpx streaming responses.

Parses the `text/event-stream` format (fields, comments, blank-line dispatch) line by line and
hands out messages as they arrive; `None` means the server ended the stream.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
from collections.abc import AsyncIterator, Mapping
from typing import Any

import httpx
import msgspec

WAIT_SECONDS = 30.0
"""Longest a test waits for a message it expects (a hung stream fails instead of hanging)."""


@dataclasses.dataclass(frozen=True)
class Message:
    event: str
    data: str
    id: str | None

    @property
    def position(self) -> int:
        assert self.id is not None, self
        return int(self.id)

    def json(self) -> Any:
        return msgspec.json.decode(self.data)


class Subscription:
    def __init__(self, response: httpx.Response) -> None:
        self.response = response
        self._lines = response.aiter_lines()
        self.comments = 0
        self.ended = False

    async def next(self, timeout: float = WAIT_SECONDS) -> Message | None:  # noqa: ASYNC109
        """The next message, or None once the server has ended the stream."""
        fields: dict[str, list[str]] = {}
        async with asyncio.timeout(timeout):
            while True:
                try:
                    line = await anext(self._lines)
                except (StopAsyncIteration, httpx.RemoteProtocolError):
                    self.ended = True
                    return None
                if line == "":
                    if "data" in fields or "event" in fields:
                        return Message(
                            event=(fields.get("event") or ["message"])[-1],
                            data="\n".join(fields.get("data", [])),
                            id=(fields.get("id") or [None])[-1],
                        )
                    fields.clear()
                    continue
                if line.startswith(":"):
                    self.comments += 1
                    continue
                name, _, value = line.partition(":")
                fields.setdefault(name, []).append(value.removeprefix(" "))

    async def comment(self, timeout: float = WAIT_SECONDS) -> str:  # noqa: ASYNC109
        """The next comment line (a heartbeat), skipping anything else."""
        async with asyncio.timeout(timeout):
            async for line in self._lines:
                if line.startswith(":"):
                    self.comments += 1
                    return line
        raise AssertionError("the stream ended without a comment line")

    async def until(self, position: int, timeout: float = WAIT_SECONDS) -> list[Message]:  # noqa: ASYNC109
        """Messages up to the one at `position` (inclusive); fails if the stream ends first."""
        found: list[Message] = []
        async with asyncio.timeout(timeout):
            while not found or found[-1].position < position:
                message = await self.next(timeout)
                assert message is not None, f"the stream ended at {found[-1:]}"
                found.append(message)
        return found

    async def rest(self, timeout: float = WAIT_SECONDS) -> list[Message]:  # noqa: ASYNC109
        """Every message until the server ends the stream."""
        found: list[Message] = []
        async with asyncio.timeout(timeout):
            while (message := await self.next(timeout)) is not None:
                found.append(message)
        return found


@contextlib.asynccontextmanager
async def subscribe(
    client: httpx.AsyncClient,
    path: str,
    *,
    params: Mapping[str, Any] | None = None,
    headers: Mapping[str, str] | None = None,
) -> AsyncIterator[Subscription]:
    """An open stream (asserting 200 and `text/event-stream`), closed at the end."""
    timeout = httpx.Timeout(WAIT_SECONDS)
    async with client.stream(
        "GET", path, params=params, headers=headers, timeout=timeout
    ) as response:
        if response.status_code != 200:
            body = await response.aread()
            raise AssertionError(f"{response.status_code}: {body!r}")
        assert response.headers["content-type"].startswith("text/event-stream")
        yield Subscription(response)


async def collect(subscription: Subscription, into: list[Message]) -> None:
    """Read messages into `into` until the stream ends (run it as a task)."""
    while (message := await subscription.next(timeout=3600)) is not None:
        into.append(message)


async def wait_until(condition: Any, timeout: float = WAIT_SECONDS, what: str = "") -> None:  # noqa: ASYNC109
    """Poll `condition()` (sync or async) until true, failing after `timeout` seconds."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while True:
        result = condition()
        if asyncio.iscoroutine(result):
            result = await result
        if result:
            return
        assert loop.time() < deadline, f"timed out waiting for {what or condition}"
        await asyncio.sleep(0.02)
