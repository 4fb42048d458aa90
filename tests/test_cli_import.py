"""`agreements import`: a spreadsheet's rows recorded as events through the store's rules,
checked without recording by `--dry-run`, refused rows named with their row number and
reason, and a second import recording nothing new."""

from __future__ import annotations

import asyncio
import csv
import datetime as dt
from pathlib import Path
from typing import Any

import msgspec
import openpyxl
import pytest

from events.envelope import RecordedEvent
from events.store import open_store
from service.cli import main

HEADER = [
    "agreement_id",
    "kind",
    "title",
    "party_1",
    "party_1_country",
    "party_1_signatory",
    "party_1_signatory_latin",
    "party_2",
    "party_2_country",
    "signed_on",
    "expires_on",
    "owner_unit",
    "owner_person",
    "follow_up",
    "follow_up_due",
    "remarks",
]
GOOD = [
    [
        "jetro-fit",
        "MoU",
        "JETRO-FIT 協力覚書",
        "日本貿易振興機構",
        "Japan",
        "佐藤花子",
        "Sato Hanako",
        "FIT",
        "Belgium",
        "2024-05-10",
        "2027-05-09",
        "Asia desk",
        "高橋健一",
        "Annual report",
        "2025-05-10",
        "",
    ],
    # The same agreement's second task: agreement columns blank.
    [
        "jetro-fit",
        "",
        "",
        "",
        "",
        "",
        "",
        "",
        "",
        "",
        "",
        "Asia desk",
        "",
        "Joint seminar",
        "2024-11-01",
        "ask Ken",
    ],
    [
        "vub-osaka",
        "MoC",
        "VUB-Osaka MoC",
        "VUB",
        "Belgium",
        "",
        "",
        "Osaka University",
        "Japan",
        "2023-01-15",
        "",
        "",
        "",
        "",
        "",
        "",
    ],
]
BAD = [
    [
        "bad-date",
        "MoU",
        "A bad date",
        "A",
        "",
        "",
        "",
        "B",
        "",
        "2024-02-30",
        "",
        "",
        "",
        "",
        "",
        "",
    ],
    # Rule: a follow-up due before the signing.
    [
        "early",
        "MoU",
        "Too early",
        "A",
        "",
        "",
        "",
        "B",
        "",
        "2024-03-01",
        "",
        "Unit",
        "",
        "Plan",
        "2024-01-01",
        "",
    ],
]


@pytest.fixture
def url(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> str:
    database_url = f"sqlite+aiosqlite:///{tmp_path / 'import.db'}"
    monkeypatch.setenv("AGREEMENTS_DATABASE_URL", database_url)
    return database_url


def write_csv(path: Path, rows: list[list[str]], header: list[str] = HEADER) -> Path:
    with path.open("w", newline="", encoding="utf-8-sig") as file:
        csv.writer(file).writerows([header, *rows])
    return path


def write_xlsx(path: Path, rows: list[list[Any]]) -> Path:
    book = openpyxl.Workbook()
    sheet = book.active
    assert sheet is not None
    sheet.append(HEADER)
    for row in rows:
        sheet.append(row)
    book.save(path)
    return path


def run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


def events(url: str) -> list[RecordedEvent]:
    async def read() -> list[RecordedEvent]:
        store = await open_store(url)
        try:
            return await store.read_all(limit=1000)
        finally:
            await store.close()

    return asyncio.run(read())


def test_import_records_agreements_owners_and_follow_ups_once(
    url: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    sheet = write_csv(tmp_path / "register.csv", GOOD)
    code, out, _ = run(capsys, "import", str(sheet))
    assert code == 0, out
    assert "ignored column(s): remarks" in out
    assert "row 2: recorded AgreementSigned, ResponsibilityAssigned, FollowUpOpened" in out
    assert "row 3: recorded FollowUpOpened in agreement-jetro-fit" in out
    recorded = events(url)
    assert [(e.stream_id, e.type) for e in recorded] == [
        ("agreement-jetro-fit", "AgreementSigned"),
        ("agreement-jetro-fit", "ResponsibilityAssigned"),
        ("agreement-jetro-fit", "FollowUpOpened"),
        ("agreement-jetro-fit", "FollowUpOpened"),
        ("agreement-vub-osaka", "AgreementSigned"),
    ]
    signed = msgspec.json.decode(recorded[0].data)
    assert signed["parties"][0]["signatory"] == {"name": "佐藤花子", "name_latin": "Sato Hanako"}
    assert signed["expires_on"] == "2027-05-09"
    assert recorded[0].occurred_at == "2024-05-10T00:00:00.000000Z"  # UTC by default
    assert recorded[0].recorded_at[:10] == dt.datetime.now(dt.UTC).date().isoformat()
    assert msgspec.json.decode(recorded[3].data)["due_on"] == "2024-11-01"

    code, out, _ = run(capsys, "import", str(sheet))
    assert code == 0
    assert "0 events recorded, 3 rows already recorded" in out
    assert len(events(url)) == 5


def test_dry_run_reports_each_refused_row_and_records_nothing(
    url: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    sheet = write_csv(tmp_path / "register.csv", [*GOOD, *BAD])
    code, out, _ = run(capsys, "import", "--dry-run", str(sheet))
    assert code == 1
    assert "row 2: would record AgreementSigned, ResponsibilityAssigned, FollowUpOpened" in out
    assert "row 5: refused: signed_on: '2024-02-30' is not a date (YYYY-MM-DD)" in out
    assert "row 6: refused: rule follow_up_due_before_signing" in out
    assert "2 rows refused" in out
    assert events(url) == []

    code, out, _ = run(capsys, "import", str(sheet))
    assert code == 1
    assert {e.stream_id for e in events(url)} == {"agreement-jetro-fit", "agreement-vub-osaka"}


def test_a_missing_column_refuses_the_file(
    url: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    header = [c for c in HEADER if c != "title"]
    rows = [[v for c, v in zip(HEADER, row, strict=True) if c != "title"] for row in GOOD]
    code, _, err = run(capsys, "import", str(write_csv(tmp_path / "r.csv", rows, header)))
    assert code == 2
    assert "missing column(s) title in row 1" in err
    assert events(url) == []


def test_xlsx_with_date_cells_imports_like_csv(
    url: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    rows: list[list[Any]] = [list(row) for row in GOOD]
    rows[0][9] = dt.datetime(2024, 5, 10)  # a date cell, as a spreadsheet program saves it
    rows[0][14] = dt.date(2025, 5, 10)
    code, out, _ = run(capsys, "import", str(write_xlsx(tmp_path / "register.xlsx", rows)))
    assert code == 0, out
    from_xlsx = [(e.event_id, bytes(e.data)) for e in events(url)]
    # The CSV of the same sheet is the same import: nothing new.
    code, out, _ = run(capsys, "import", str(write_csv(tmp_path / "register.csv", GOOD)))
    assert code == 0 and "0 events recorded" in out
    assert [(e.event_id, bytes(e.data)) for e in events(url)] == from_xlsx
    assert "佐藤花子" in from_xlsx[0][1].decode()


def test_the_readme_example_imports(url: str, capsys: pytest.CaptureFixture[str]) -> None:
    example = Path(__file__).resolve().parent.parent / "docs" / "import-example.csv"
    code, out, _ = run(capsys, "import", "--dry-run", str(example))
    assert code == 0, out
    code, out, _ = run(capsys, "import", str(example))
    assert code == 0, out
    assert "ignored column(s): remarks" in out
    assert "3 rows: 6 events recorded, 0 rows already recorded, 0 rows refused" in out
    titles = [msgspec.json.decode(e.data).get("title") for e in events(url)]
    assert "FIT\u2013JETRO 協力覚書" in titles and "Joint seminar, Osaka" in titles


def changed(rows: list[list[str]], row: int, column: str, value: str) -> list[list[str]]:
    """The sheet with one cell changed (`row` counts the data rows from 0)."""
    copy = [list(r) for r in rows]
    copy[row][HEADER.index(column)] = value
    return copy


def test_a_changed_due_date_is_recorded_as_a_reschedule_once(
    url: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    run(capsys, "import", str(write_csv(tmp_path / "register.csv", GOOD)))
    later = write_csv(tmp_path / "later.csv", changed(GOOD, 1, "follow_up_due", "2024-12-01"))
    code, out, _ = run(capsys, "import", str(later))
    assert code == 0, out
    assert "row 3: recorded FollowUpRescheduled in agreement-jetro-fit" in out
    moved = events(url)[-1]
    assert moved.type == "FollowUpRescheduled"
    data = msgspec.json.decode(moved.data)
    assert data["due_on"] == "2024-12-01"
    assert data["reason"] == "changed in the spreadsheet (import, row 3)"
    # The same sheet again: the follow-up is due when the sheet says; nothing new.
    code, out, _ = run(capsys, "import", str(later))
    assert code == 0 and "0 events recorded, 3 rows already recorded" in out
    # Back to the first date: a second reschedule, not "already recorded".
    code, out, _ = run(capsys, "import", str(tmp_path / "register.csv"))
    assert "row 3: recorded FollowUpRescheduled" in out
    assert msgspec.json.decode(events(url)[-1].data)["due_on"] == "2024-11-01"


def test_a_changed_follow_up_owner_is_a_reassignment(
    url: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    run(capsys, "import", str(write_csv(tmp_path / "register.csv", GOOD)))
    rows = changed(GOOD, 1, "owner_person", "鈴木一郎")
    code, out, _ = run(capsys, "import", str(write_csv(tmp_path / "later.csv", rows)))
    assert code == 0, out
    assert "row 3: recorded FollowUpReassigned in agreement-jetro-fit" in out
    owner = msgspec.json.decode(events(url)[-1].data)["owner"]
    assert owner == {"unit": "Asia desk", "person": {"name": "鈴木一郎"}}


def test_a_changed_agreement_column_is_a_correction_of_the_signing(
    url: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    run(capsys, "import", str(write_csv(tmp_path / "register.csv", GOOD)))
    rows = changed(changed(GOOD, 0, "title", "JETRO-FIT 協力覚書 (改訂)"), 0, "expires_on", "")
    code, out, _ = run(capsys, "import", str(write_csv(tmp_path / "later.csv", rows)))
    assert code == 0, out
    assert "row 2: recorded EventCorrected in agreement-jetro-fit" in out
    recorded = events(url)
    correction = msgspec.json.decode(recorded[-1].data)
    assert correction["corrects"] == recorded[0].event_id
    assert correction["changes"] == {"title": "JETRO-FIT 協力覚書 (改訂)", "expires_on": None}
    assert len(recorded) == 6  # the owner and the follow-ups are as they were
    code, out, _ = run(capsys, "import", str(tmp_path / "later.csv"))
    assert "0 events recorded, 3 rows already recorded" in out


def test_a_reschedule_the_rules_refuse_is_a_refused_row(
    url: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    run(capsys, "import", str(write_csv(tmp_path / "register.csv", GOOD)))
    rows = changed(GOOD, 1, "follow_up_due", "2020-01-01")
    code, out, _ = run(capsys, "import", "--dry-run", str(write_csv(tmp_path / "r.csv", rows)))
    assert code == 1
    assert "row 3: refused: rule follow_up_due_before_signing" in out
    assert len(events(url)) == 5


def test_business_days_start_at_midnight_in_the_agency_time_zone(
    url: str, tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("AGREEMENTS_TIME_ZONE", "Asia/Tokyo")
    code, out, _ = run(capsys, "import", str(write_csv(tmp_path / "register.csv", GOOD)))
    assert code == 0, out
    signed = events(url)[0]
    # 10 May 2024, 00:00 in Tokyo (UTC+9) is 9 May, 15:00 UTC.
    assert signed.occurred_at == "2024-05-09T15:00:00.000000Z"


def test_a_change_made_since_stands_until_the_sheet_changes(
    url: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """A reschedule over the API after an import is not undone by importing the same sheet
    again; a later edit of the sheet's date is recorded."""
    run(capsys, "import", str(write_csv(tmp_path / "register.csv", GOOD)))
    follow_up_id = msgspec.json.decode(events(url)[3].data)["follow_up_id"]

    async def reschedule() -> None:
        from events.envelope import Metadata, Proposed

        store = await open_store(url)
        try:
            moved = {"follow_up_id": follow_up_id, "due_on": "2025-01-15"}
            event = Proposed(type="FollowUpRescheduled", data=msgspec.json.encode(moved))
            await store.append("agreement-jetro-fit", [event], metadata=Metadata(actor="Ken"))
        finally:
            await store.close()

    asyncio.run(reschedule())
    code, out, _ = run(capsys, "import", str(tmp_path / "register.csv"))
    assert code == 0 and "0 events recorded, 3 rows already recorded" in out
    assert msgspec.json.decode(events(url)[-1].data)["due_on"] == "2025-01-15"

    later = write_csv(tmp_path / "later.csv", changed(GOOD, 1, "follow_up_due", "2025-02-01"))
    code, out, _ = run(capsys, "import", str(later))
    assert "row 3: recorded FollowUpRescheduled" in out
    assert msgspec.json.decode(events(url)[-1].data)["due_on"] == "2025-02-01"
