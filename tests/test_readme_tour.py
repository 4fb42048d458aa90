"""The README's tour, pasted as a whole into a shell, against a fresh `agreements serve --demo`.

The fenced block under "A short tour" is run by bash as it stands, with only the server's
address changed (a free port instead of 8000) and `curl` made to fail on an error status, so
that each answer is checked: the script must finish, and what it printed must say what the
README says it does."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

from tests._server import ROOT, start_server

pytestmark = [pytest.mark.slow, pytest.mark.timeout(180)]

_PRELUDE = """set -euo pipefail
curl() { command curl --fail-with-body --max-time 30 "$@"; echo; }
"""
"""Every curl answer on a line of its own; a 4xx or 5xx stops the script (its body printed)."""


def tour() -> str:
    readme = (ROOT / "README.md").read_text()
    section = readme.split("## A short tour", 1)[1]
    found = re.search(r"```sh\n(.*?)```", section, re.DOTALL)
    assert found is not None, "the tour has no ```sh block"
    return found[1]


def test_the_readme_tour_runs_top_to_bottom(tmp_path: Path) -> None:
    database_url = f"sqlite+aiosqlite:///{tmp_path / 'agreements.db'}"
    server = start_server(database_url, tmp_path, arguments=("--demo",))
    script = tour().replace("localhost:8000", server.base_url.removeprefix("http://"))
    environment = {
        **os.environ,
        "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}",
        "AGREEMENTS_DATABASE_URL": database_url,
        "ADMIN": server.token,
    }
    try:
        done = subprocess.run(
            ["bash", "-c", _PRELUDE + script],
            cwd=tmp_path,
            env=environment,
            capture_output=True,
            text=True,
            timeout=150,
            check=False,
        )
    finally:
        server.stop()
    assert done.returncode == 0, f"{done.stdout}\n{done.stderr}"
    answers = [json.loads(line) for line in done.stdout.splitlines() if line.strip()]
    listed, one, opened, completed, corrected, log, history, verified = answers

    assert len(listed["partnerships"]) == 3
    assert one["partnership"]["version"] == 4
    assert (opened["from_version"], opened["to_version"]) == (5, 5)
    follow_ups = completed["partnership"]["follow_ups"]
    (follow_up,) = [f for f in follow_ups if f["follow_up_id"] == "semicon-roundtable"]
    assert follow_up["state"] == "completed", completed
    assert len(log["events"]) == 5
    assert (corrected["from_version"], corrected["to_version"]) == (7, 7)
    correction = history["changes"][-1]
    assert correction["type"] == "EventCorrected", history
    assert correction["corrects"]["event_id"] == "3f2b8c1e-6a1d-4c55-9a0e-2d8f5c7b9e01"
    (opening,) = [c for c in history["changes"] if c["type"] == "FollowUpOpened"]
    assert opening["corrected_by"] == [corrected["from_position"]]
    assert verified["report"]["ok"] is True, verified
