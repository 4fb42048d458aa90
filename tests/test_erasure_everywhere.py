"""An erasure over HTTP leaves no trace of the person in any answer, in the files, or in the
caches of the read side, while every proof taken before it still holds. On SQLite and
PostgreSQL."""

from __future__ import annotations

import datetime as dt
import io
import re
from pathlib import Path
from typing import Any

import msgspec
from sqlalchemy import make_url

from events import merkle
from events.backup import backup
from events.catalogue import (
    AgreementSigned,
    AgreementWitnessed,
    EventCorrected,
    FollowUpOpened,
    NoteAttached,
    Owner,
    Party,
    Person,
)
from events.envelope import Metadata, Proposed
from events.export import read_jsonl
from events.signed_checkpoints import Checkpoint, load_public_key
from events.verification import verify_against_checkpoint, verify_chain
from tests._owners import owner_of
from tests.conftest import Api
from tests.test_erasure import id_of
from tests.test_web import sign_in

NAME = "Hélène Quatremer-Ødegård"
TRACES = ("quatremer", "ødegård", "counsellor for fisheries", "ministry of the sea")
"""Every part of the person's data an answer might show, in lower case (a plain ASCII part
too: JSON, HTML and CSV may escape the rest)."""
OTHER = "Bartholomew Second"
UNIT = "Fisheries desk"
CLERK = Metadata(actor="clerk")
DAY = dt.date(2023, 2, 1)
WITNESSED = "0b6f3c1e-2a4d-4e8f-9b1a-7c5d3e2f1a09"


def _signed(*signatories: Person) -> Proposed:
    parties = [Party(organisation=f"Org {i}", signatory=p) for i, p in enumerate(signatories)]
    parties += [Party(organisation="Port authority")] * (2 - len(parties))
    data = AgreementSigned(kind="MoU", title="Fisheries", parties=parties, signed_on=DAY)
    return Proposed(type="AgreementSigned", data=data)


def _follow_up(follow_up_id: str, person: str) -> Proposed:
    data = FollowUpOpened(
        follow_up_id=follow_up_id,
        title="Report on the quotas",
        owner=Owner(unit=UNIT, person=Person(name=person)),
        due_on=dt.date(2023, 6, 1),
    )
    return Proposed(type="FollowUpOpened", data=data)


async def _record(api: Api) -> None:
    store = api.services.store
    helene = Person(name=NAME, title="Counsellor for Fisheries", organisation="Ministry of the Sea")
    await store.append("agreement-a", [_signed(helene, Person(name=OTHER))], metadata=CLERK)
    # her name and title come in through corrections too: a witness recorded under another
    # name, then corrected to hers (the correction's changes hold her values, not the event's)
    witnessed = AgreementWitnessed(witness=Person(name="A. Witness"), witnessed_on=DAY)
    correction = EventCorrected(
        corrects=WITNESSED,
        changes={"witness": {"name": NAME, "title": "Counsellor for Fisheries"}},
        reason="the witness was recorded under the wrong name",
    )
    await store.append(
        "agreement-a",
        [
            Proposed(type="AgreementWitnessed", data=witnessed, event_id=WITNESSED),
            Proposed(type="EventCorrected", data=correction),
        ],
        metadata=CLERK,
    )
    await store.append("agreement-b", [_signed(helene)], metadata=CLERK)
    await store.append(
        "agreement-b",
        [
            _follow_up("quotas", NAME),
            _follow_up("harbour", OTHER),
            Proposed(
                type="NoteAttached",
                data=NoteAttached(text=f"Called {NAME.upper()} about the quotas."),
            ),
        ],
        metadata=CLERK,
    )
    assert api.services.projections is not None
    assert await api.services.projections.wait_for(await api.head(), 10)


def _urls(owner: str, cut: int) -> list[str]:
    return [
        "/partnerships",
        "/partnerships/agreement-a",
        "/partnerships/agreement-b",
        "/owners",
        f"/owners/{owner}",
        "/follow-ups",
        f"/owners/{owner}/calendar.ics",
        "/events",
        "/streams/agreement-a/events",
        "/streams/agreement-b/events",
        "/partnerships/agreement-a/history",
        "/partnerships/agreement-b/history",
        "/people",
        f"/partnerships?as_of_position={cut}",
        f"/partnerships/agreement-b?as_of_position={cut}",
        f"/owners?as_of_position={cut}",
        f"/follow-ups?as_of_position={cut}",
    ]


async def _answers(api: Api, urls: list[str]) -> dict[str, str]:
    """Each URL's answer, and the CSV of each list that has one."""
    found = {}
    for url in urls:
        response = await api.client.get(url, headers=api.auth("auditor"))
        assert response.status_code in (200, 404), (url, response.text)
        found[url] = response.text
        if url.split("?")[0] in ("/partnerships", "/follow-ups"):
            csv = await api.client.get(url, headers={**api.auth("auditor"), "Accept": "text/csv"})
            assert csv.status_code == 200, csv.text
            found[f"{url} (CSV)"] = csv.text
    return found


async def _web(api: Api, owner: str) -> dict[str, str]:
    found = {}
    for url in ("/", "/web/partnerships", "/web/partnerships/agreement-b", f"/web/owners/{owner}"):
        response = await api.client.get(url)
        assert response.status_code == 200, (url, response.text)
        found[url] = response.text
    return found


def _traces(answers: dict[str, str]) -> list[str]:
    return [
        f"{trace} in {where}"
        for where, text in answers.items()
        for trace in TRACES
        if trace in text.lower()
    ]


async def test_after_an_erasure_no_answer_file_or_cache_holds_the_person(
    api: Api, tmp_path: Path
) -> None:
    store = api.services.store
    assert api.services.projections is not None
    await _record(api)
    helene = await id_of(store, NAME)
    owner = await owner_of(store.engine, UNIT, NAME)
    assert owner == f"fisheries-desk--{helene}"  # opaque: no part of her name
    issued = await api.client.post(f"/owners/{owner}/calendar-keys", headers=api.auth("recorder"))
    assert issued.status_code == 201, issued.text
    feed = issued.json()["url"]
    cut = await api.head()
    await sign_in(api, "admin")
    checkpoint = await api.client.get("/audit/checkpoint", headers=api.auth("auditor"))
    kept = msgspec.json.decode(checkpoint.content, type=Checkpoint)
    old_export = (await api.client.get("/web/audit/export")).content
    # what the read side holds before: the caches are warm with the name
    before = {**await _answers(api, _urls(owner, cut)), **await _web(api, owner)}
    assert NAME in before[f"/owners/{owner}"] and NAME in before[f"/owners?as_of_position={cut}"]
    assert any(NAME.upper() in text for text in before.values())  # the note
    report = await api.client.get(f"/people/{helene}", headers=api.auth("auditor"))
    assert "EventCorrected" in report.text  # the subject-access report lists the correction

    erased = await api.client.post(
        f"/people/{helene}/erasure",
        json={"legal_basis": "GDPR Art. 17(1)(a)", "reason": "the person asked"},
        headers=api.auth("admin"),
    )
    assert erased.status_code == 201, erased.text
    assert sorted(erased.json()["streams_to_refold"]) == ["agreement-a", "agreement-b"]

    after = {
        **await _answers(api, _urls(owner, cut)),
        **await _web(api, owner),
        f"/people/{helene}": (
            await api.client.get(f"/people/{helene}", headers=api.auth("auditor"))
        ).text,
    }
    # her owner id is the one it was: links and the calendar subscription still work
    kept_owner = await api.client.get(f"/owners/{owner}", headers=api.auth("auditor"))
    assert kept_owner.json()["owner"]["person"]["name"] == f"[erased {helene}]"
    subscribed = await api.client.get(feed)
    assert subscribed.status_code == 200 and "Report on the quotas" in subscribed.text
    after["calendar key"] = subscribed.text
    new_export = (await api.client.get("/web/audit/export")).content
    after["export"] = new_export.decode()
    assert _traces(after) == []
    assert NAME.upper() not in str(after)
    # placeholders where the name was, the other person intact
    partnership = msgspec.json.decode(after["/partnerships/agreement-a"])["partnership"]
    signatories = [party.get("signatory") for party in partnership["parties"]]
    assert signatories[0]["name"] == f"[erased {helene}]"
    assert signatories[1]["name"] == OTHER
    assert OTHER in after["/follow-ups"] and f"[erased {helene}]" in after["/follow-ups"]
    assert "[erased]" in after["/streams/agreement-b/events"]  # the note naming her

    # the files: the SQLite database, its WAL and a backup made now hold no byte of her
    url = make_url(store.engine.url)
    if url.get_backend_name() == "sqlite" and url.database:
        copy = tmp_path / "after.db"
        await backup(str(url), copy)
        path = Path(url.database)
        assert _in_files(path, Path(f"{path}-wal"), copy) == []
        assert OTHER.encode() in _read(path) + _read(copy)

    # every proof still holds: verify, the old checkpoint's consistency, the old export
    verified = await api.client.get("/audit/verify", headers=api.auth("auditor"))
    assert verified.json()["report"]["ok"] is True
    new = msgspec.json.decode(
        (await api.client.get("/audit/checkpoint", headers=api.auth("auditor"))).content,
        type=Checkpoint,
    )
    proof = await api.client.get(
        "/audit/consistency",
        params={"from": kept.size, "to": new.size},
        headers=api.auth("auditor"),
    )
    assert proof.status_code == 200, proof.text
    hashes = [bytes.fromhex(h) for h in _proof_hashes(proof.json())]
    assert merkle.verify_consistency(
        kept.size,
        new.size,
        bytes.fromhex(kept.merkle_root),
        bytes.fromhex(new.merkle_root),
        hashes,
    )
    public_key = (await api.client.get("/audit/public-key", headers=api.auth("auditor"))).content
    old_report = verify_chain(read_jsonl(io.BytesIO(old_export)), checkpoint=kept)
    assert old_report.ok
    assert verify_against_checkpoint(old_report, kept, load_public_key(public_key)).ok

    # a rebuild folds the rewritten rows: placeholders, still no trace
    await api.services.projections.rebuild()
    rebuilt = await _answers(api, ["/partnerships/agreement-a", "/follow-ups"])
    assert _traces(rebuilt) == []
    assert f"[erased {helene}]" in rebuilt["/partnerships/agreement-a"]


def _read(file: Path) -> bytes:
    return file.read_bytes() if file.exists() else b""


def _in_files(*files: Path) -> list[str]:
    """Which of the person's values (and the note naming her) each file holds."""
    traces = (NAME, "Counsellor for Fisheries", NAME.upper(), "quatremer")  # an id's slug too
    return [f"{t} in {f.name}" for f in files for t in traces if t.encode() in _read(f)]


def _proof_hashes(body: dict[str, Any]) -> list[str]:
    for value in body.values():
        if isinstance(value, list) and all(
            isinstance(h, str) and re.fullmatch("[0-9a-f]{64}", h) for h in value
        ):
            return value
    raise AssertionError(body)
