"""`agreements calendar-key`: a feed key issued from the command line opens its one owner's
feed, is listed without its secret, and stops opening it once revoked."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from events.store import open_store
from service import calendar_keys
from tests._owners import owner_in
from tests.test_cli_import import GOOD, run, url, write_csv

__all__ = ["url"]  # the fixture, used by name


def opens(database_url: str, owner: str, key: str) -> bool:
    async def check() -> bool:
        store = await open_store(database_url)
        try:
            return await calendar_keys.opens(store, owner, key)
        finally:
            await store.close()

    return asyncio.run(check())


def test_a_key_from_the_command_line_opens_one_feed_until_revoked(
    url: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    run(capsys, "import", str(write_csv(tmp_path / "register.csv", GOOD)))
    takahashi, desk = owner_in(url, "Asia desk", "高橋健一"), owner_in(url, "Asia desk")
    code, _, err = run(capsys, "calendar-key", "issue", takahashi)
    assert code == 1 and "no follow-up owner" in err  # the read models do not know it yet
    run(capsys, "rebuild")

    code, out, _ = run(capsys, "calendar-key", "issue", takahashi)
    assert code == 0, out
    lines = out.splitlines()
    key = lines[1]
    assert key.startswith("cal_")
    assert lines[2].endswith(f"/calendar.ics?key={key}")
    assert opens(url, takahashi, key)
    assert not opens(url, desk, key)  # another owner's feed, even of the same unit

    key_id = key.split("_")[1]
    code, out, _ = run(capsys, "calendar-key", "list")
    assert code == 0
    assert f"{key_id}  {takahashi}  active" in out
    assert key not in out and key.split("_")[2] not in out

    assert run(capsys, "calendar-key", "revoke", desk, key_id)[0] == 1
    assert opens(url, takahashi, key)
    code, out, _ = run(capsys, "calendar-key", "revoke", takahashi, key_id)
    assert code == 0 and "revoked" in out
    assert not opens(url, takahashi, key)
    assert f"{key_id}  {takahashi}  revoked" in run(capsys, "calendar-key", "list")[1]
    assert run(capsys, "calendar-key", "revoke", takahashi, key_id)[0] == 1
