"""A store opened for reading only (verify, backup, replay, export) starts no writer."""

from __future__ import annotations

import threading
from pathlib import Path

import pytest

from events.errors import StoreUnavailable
from events.store import open_store
from service.demo import SEED
from tests._event_strategies import ACTOR


def _writer_threads() -> list[str]:
    return [t.name for t in threading.enumerate() if t.name.startswith("event-writer")]


async def test_a_read_only_store_reads_without_a_writer_thread(tmp_path: Path) -> None:
    url = f"sqlite+aiosqlite:///{tmp_path / 'log.db'}"
    writer = await open_store(url)
    stream_id, history = SEED[0]
    await writer.append(stream_id, history, metadata=ACTOR)
    await writer.close()
    assert _writer_threads() == []

    reader = await open_store(url, read_only=True)
    try:
        assert [event.event_id for event in await reader.read_stream(stream_id)] == [
            event.event_id for event in history
        ]
        with pytest.raises(StoreUnavailable, match="read-only"):
            await reader.append(stream_id, history, metadata=ACTOR)
        assert _writer_threads() == []
    finally:
        await reader.close()
    assert _writer_threads() == []
