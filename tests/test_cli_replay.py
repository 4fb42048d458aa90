"""`agreements replay`: as of a position, as known at a record time, as in force on a date."""

from __future__ import annotations

import asyncio
import datetime as dt
import json
from pathlib import Path
from typing import Any

import pytest

from events.catalogue import NoteAttached
from events.envelope import Metadata, Proposed
from events.store import open_store
from service.cli import main, record_demo
from tests._owners import named

IMEC = "agreement-imec-rapidus-2022"


async def _demo_then_late_fact(url: str) -> tuple[int, str]:
    """The demo, then a fact recorded now that happened in December 2022."""
    store = await open_store(url)
    try:
        await record_demo(store)
        head = await store.head()
        (before_late,) = await store.read_all(after=head - 1)
        await asyncio.sleep(0.01)
        late = Proposed(
            type="NoteAttached",
            data=NoteAttached(text="Kick-off call with Rapidus held in Tokyo"),
            occurred_at=dt.datetime(2022, 12, 20, 9, tzinfo=dt.UTC),
        )
        await store.append(IMEC, [late], metadata=Metadata(actor="late clerk"))
        return head, before_late.recorded_at
    finally:
        await store.close()


def _replay(url: str, capsys: pytest.CaptureFixture[str], *args: str) -> dict[str, Any]:
    assert main(["replay", "--database-url", url, *args]) == 0
    parsed: dict[str, Any] = json.loads(capsys.readouterr().out)
    return parsed


def test_late_recorded_fact_is_in_force_last_year_but_was_not_known_then(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    url = f"sqlite+aiosqlite:///{tmp_path / 'a.db'}"
    demo_head, known_before = asyncio.run(_demo_then_late_fact(url))

    def notes(document: dict[str, Any]) -> list[str]:
        return [n["text"] for n in document["partnership"].get("notes", [])]

    in_force = _replay(url, capsys, "--in-force-on", "2022-12-31", "--partnership", IMEC)
    assert "Kick-off call with Rapidus held in Tokyo" in notes(in_force)
    known = _replay(url, capsys, "--known-at", known_before, "--partnership", IMEC)
    assert notes(known) == []
    before_it_happened = _replay(url, capsys, "--in-force-on", "2022-12-19", "--partnership", IMEC)
    assert notes(before_it_happened) == []
    at_demo = _replay(url, capsys, "--position", str(demo_head))
    assert at_demo["position"] == demo_head
    assert {p["agreement_id"] for p in at_demo["partnerships"]} >= {IMEC}
    owners = {o["owner_id"]: o for o in at_demo["owners"]}
    els = owners[named(at_demo["owners"], "Els Verhulst")]
    assert IMEC in [a["agreement_id"] for a in els["agreements"]]
    assert at_demo["delegations"][0]["member_count"] == 258


def test_unknown_partnership_at_that_point_fails(tmp_path: Path) -> None:
    url = f"sqlite+aiosqlite:///{tmp_path / 'a.db'}"
    asyncio.run(_demo_then_late_fact(url))
    assert main(["replay", "--database-url", url, "--position", "1", "--partnership", IMEC]) == 1
