"""A database editor re-cuts a row between its data and its metadata. Hash version 2 frames
each field with its length, so the chain itself tells: the row no longer hashes to its stored
hash, whether or not it holds personal values. On both databases."""

from __future__ import annotations

from pathlib import Path

import pytest
from sqlalchemy import update

from events.schema import events as events_table
from events.store import open_store
from service.audit_commands import verify_async
from tests._databases import BACKENDS, database
from tests.test_audit_store import fill_store
from tests.test_audit_tamper import rehashed, row, unguard

Capture = pytest.CaptureFixture[str]


@pytest.mark.parametrize("backend", BACKENDS)
async def test_verify_refuses_a_row_whose_data_metadata_boundary_moved(
    backend: str, tmp_path: Path, capsys: Capture
) -> None:
    async with database(backend, tmp_path) as url:
        store = await open_store(url)
        try:
            position = await fill_store(store, notes=8) - 2  # a note: actor and correlation id
            await unguard(store)
            values = await row(store, position)
            data, metadata = bytes(values["data"]), bytes(values["metadata"])
            # {"actor":"...",<rest>} becomes data `<data>,{"actor":"..."` and metadata `<rest>}`
            comma = metadata.index(b",")
            moved = {
                "data": data + b"," + metadata[:comma],
                "metadata": metadata[comma + 1 :],
            }
            assert rehashed({**values, **moved, "personal": ()}) != values["hash"]
            async with store.engine.begin() as connection:
                await connection.execute(
                    update(events_table).where(events_table.c.position == position).values(moved)
                )
        finally:
            await store.close()

        assert await verify_async(url, None, None, None) == 1

    err = capsys.readouterr().err
    assert f"verification FAILED at position {position}" in err
    assert "hash does not match its content" in err or "personal values do not fit" in err
