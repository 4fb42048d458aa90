"""The signed instrument: documents recorded by fingerprint, shown in the partnership document,
and `agreements verify-document` telling an auditor whether a file is one of them."""

from __future__ import annotations

import asyncio
import hashlib
from pathlib import Path
from typing import Any

import msgspec
import pytest

from events.envelope import Metadata, Proposed
from events.store import open_store
from service.cli import main
from service.document_commands import verify_document
from tests.conftest import Api, signed

STREAM = "agreement-imec-rapidus-2022"
SIGNED_PDF = b"%PDF-1.7\n... the MoC as signed in Tokyo on 6 December 2022 ...\n%%EOF\n"
RECORDING = "3c7f0a52-8d1e-4b6a-9f2c-7e5d4a3b2c10"


def recorded(content: bytes = SIGNED_PDF, **changes: Any) -> dict[str, Any]:
    return {
        "type": "DocumentRecorded",
        "event_id": RECORDING,
        "data": {
            "document_id": "signed-moc",
            "name": "MoC imec-Rapidus (signed).pdf",
            "media_type": "application/pdf",
            "sha256": hashlib.sha256(content).hexdigest(),
            "size": len(content),
            "location": "https://dms.example.org/agreements/imec-rapidus/signed-moc.pdf",
            **changes,
        },
    }


async def _post(api: Api, *events: dict[str, Any]) -> Any:
    return await api.client.post(
        f"/streams/{STREAM}/events", json={"events": list(events)}, headers=api.auth("recorder")
    )


async def test_a_recorded_document_is_shown_and_a_file_verified(
    api: Api, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    answer = await _post(api, signed(), recorded())
    assert answer.status_code == 201, answer.text
    document = await api.client.get(
        f"/partnerships/{STREAM}",
        params={"wait_for_position": answer.json()["to_position"]},
        headers=api.auth("viewer"),
    )
    (shown,) = document.json()["partnership"]["documents"]
    assert shown["document_id"] == "signed-moc"
    assert shown["sha256"] == hashlib.sha256(SIGNED_PDF).hexdigest()

    original = tmp_path / "signed-moc.pdf"
    original.write_bytes(SIGNED_PDF)
    assert await verify_document(api.services.store, original, "imec-rapidus-2022") == 0
    out = capsys.readouterr().out
    assert "RECORDED" in out and "'signed-moc'" in out and "by test recorder" in out

    tampered = tmp_path / "tampered.pdf"
    tampered.write_bytes(SIGNED_PDF.replace(b"6 December", b"7 December"))
    assert await verify_document(api.services.store, tampered, STREAM) == 1
    assert "NOT RECORDED" in capsys.readouterr().out

    assert await verify_document(api.services.store, original, "agreement-nothing") == 2


async def test_bad_document_records_are_refused_and_change_nothing(api: Api) -> None:
    assert (await _post(api, signed(), recorded())).status_code == 201
    head = await api.head()
    again = await _post(api, {**recorded(b"another file"), "event_id": None})
    assert again.status_code == 422, again.text
    assert again.json()["rule"] == "document_already_recorded"
    for field, value in [("sha256", "ABC"), ("size", 0), ("media_type", "pdf")]:
        bad = recorded(**{field: value, "document_id": "annex"})
        bad.pop("event_id")
        refused = await _post(api, bad)
        assert refused.status_code == 422, refused.text
        assert any(field in e["path"] for e in refused.json()["errors"]), refused.text
    assert await api.head() == head


async def test_a_corrected_fingerprint_is_the_one_verified(
    api: Api, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    wrong = recorded(b"the scan of the wrong file")
    assert (await _post(api, signed(), wrong)).status_code == 201
    fix = {
        "type": "EventCorrected",
        "data": {
            "corrects": RECORDING,
            "changes": {"sha256": hashlib.sha256(SIGNED_PDF).hexdigest(), "size": len(SIGNED_PDF)},
            "reason": "the fingerprint of the wrong scan was recorded",
        },
    }
    assert (await _post(api, fix)).status_code == 201
    original = tmp_path / "signed-moc.pdf"
    original.write_bytes(SIGNED_PDF)
    assert await verify_document(api.services.store, original, STREAM) == 0
    assert "corrected at" in capsys.readouterr().out
    # The wrong scan was recorded once: the auditor is told which correction replaced it.
    scan = tmp_path / "wrong-scan.pdf"
    scan.write_bytes(b"the scan of the wrong file")
    assert await verify_document(api.services.store, scan, STREAM) == 1
    out = capsys.readouterr().out
    assert out.startswith(f"CORRECTED AWAY: {scan}")
    assert "'signed-moc'" in out and "by test recorder" in out
    assert "the fingerprint of the wrong scan was recorded" in out
    assert hashlib.sha256(SIGNED_PDF).hexdigest() in out


def test_the_command_line_answers_with_its_exit_status(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    url = f"sqlite+aiosqlite:///{tmp_path / 'cli.db'}"

    async def record() -> None:
        store = await open_store(url)
        try:
            events = [
                Proposed(
                    type=e["type"],
                    data=msgspec.json.encode(e["data"]),
                    event_id=e.get("event_id"),
                )
                for e in (signed(), recorded())
            ]
            await store.append(STREAM, events, metadata=Metadata(actor="registrar"))
        finally:
            await store.close()

    asyncio.run(record())
    original = tmp_path / "moc.pdf"
    original.write_bytes(SIGNED_PDF)
    other = tmp_path / "other.pdf"
    other.write_bytes(b"%PDF-1.7 something else")
    argv = ["verify-document", "--database-url", url, "--agreement", "imec-rapidus-2022"]
    assert main([*argv, str(original)]) == 0
    assert "by registrar" in capsys.readouterr().out
    assert main([*argv, str(other)]) == 1
    assert main([*argv, str(tmp_path / "missing.pdf")]) == 2
