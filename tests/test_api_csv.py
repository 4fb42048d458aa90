"""Lists as CSV over HTTP, on both databases: parsed back with `csv`, kanji intact behind a
byte-order mark, commas, quotes and line breaks quoted, formulas neutralised, the JSON's
filters applied, and the whole list however many pages it spans."""

from __future__ import annotations

import csv
import datetime as dt
import io
from typing import Any

from tests.conftest import Api, signed

SATO = {"unit": "JETRO Brussels", "person": {"name": "佐藤花子"}}
FIT_TOKYO = {"unit": "FIT Tokyo office", "person": {"name": "Els Verhulst"}}
TRICKY = 'Rapidus, "2nm" workshop'
OUTCOME = 'Held, with "all"\nparties'


def event(kind: str, **data: Any) -> dict[str, Any]:
    return {"type": kind, "occurred_at": "2023-01-10T09:00:00Z", "data": data}


async def record(api: Api, name: str, *events: dict[str, Any]) -> int:
    response = await api.client.post(
        f"/streams/agreement-{name}/events",
        json={"events": list(events)},
        headers=api.auth("recorder"),
    )
    assert response.status_code == 201, response.text
    position: int = response.json()["to_position"]
    return position


async def register(api: Api) -> int:
    await record(
        api,
        "alpha",
        signed(title='=HYPERLINK("http://evil")'),
        event("FollowUpOpened", follow_up_id="a-1", title=TRICKY, owner=SATO, due_on="2023-02-01"),
        event("FollowUpOpened", follow_up_id="a-2", title="-1+1", owner=SATO, due_on="2023-05-01"),
    )
    head = await record(
        api,
        "beta",
        signed(title="佐藤 MoC"),
        event(
            "FollowUpOpened",
            follow_up_id="b-1",
            title="@SUM(A1)",
            owner=FIT_TOKYO,
            due_on="2023-04-01",
        ),
        event("FollowUpCompleted", follow_up_id="b-1", completed_on="2023-03-01", outcome=OUTCOME),
    )
    response = await api.client.get(
        "/follow-ups", params={"wait_for_position": head}, headers=api.auth("viewer")
    )
    assert response.json()["position"] == head
    return head


async def table(
    api: Api, url: str, headers: dict[str, str] | None = None, **params: Any
) -> list[dict[str, str]]:
    response = await api.client.get(
        url, params=params, headers={**api.auth("viewer"), **(headers or {})}
    )
    assert response.status_code == 200, response.text
    assert response.headers["content-type"] == "text/csv; charset=utf-8"
    assert response.content.startswith(b"\xef\xbb\xbf")
    assert b"\r\n" in response.content
    text = response.content.decode("utf-8-sig")
    return list(csv.DictReader(io.StringIO(text, newline="")))


async def test_follow_ups_as_csv_round_trip_kanji_and_quoting(api: Api) -> None:
    await register(api)
    rows = await table(api, "/follow-ups", format="csv")

    assert [row["follow_up_id"] for row in rows] == ["a-1", "b-1", "a-2"]
    first = rows[0]
    assert first["title"] == TRICKY
    assert first["owner_person"] == "佐藤花子"
    assert first["agreement_title"] == '\'=HYPERLINK("http://evil")'
    assert (first["due_on"], first["state"], first["overdue"]) == ("2023-02-01", "open", "true")
    assert rows[1]["title"] == "'@SUM(A1)"
    assert (rows[1]["closed_on"], rows[1]["outcome"]) == ("2023-03-01", OUTCOME)
    assert rows[2]["title"] == "'-1+1"


async def test_the_json_filters_apply_and_accept_asks_for_csv_too(api: Api) -> None:
    await register(api)
    rows = await table(api, "/follow-ups", headers={"Accept": "text/csv"}, state="open")
    assert [row["follow_up_id"] for row in rows] == ["a-1", "a-2"]
    overdue = await table(api, "/follow-ups", format="csv", overdue="true")
    assert [row["follow_up_id"] for row in overdue] == ["a-1"]

    response = await api.client.get(
        "/follow-ups",
        headers={**api.auth("viewer"), "Accept": "text/csv"},
        params={"format": "json"},
    )
    assert response.headers["content-type"] == "application/json"


async def test_partnerships_as_csv_with_filters(api: Api) -> None:
    await register(api)
    head = await record(
        api,
        "alpha",
        event("AgreementTerminated", terminated_on="2023-02-01", reason="ended"),
    )
    rows = await table(api, "/partnerships", format="csv", wait_for_position=head)
    by_id = {row["agreement_id"]: row for row in rows}
    assert set(by_id) == {"agreement-alpha", "agreement-beta"}
    assert by_id["agreement-beta"]["title"] == "佐藤 MoC"
    assert by_id["agreement-alpha"]["title"] == '\'=HYPERLINK("http://evil")'
    assert by_id["agreement-beta"]["parties"] == "imec; Rapidus"
    active = await table(api, "/partnerships", format="csv", status="active")
    assert [row["agreement_id"] for row in active] == ["agreement-beta"]


async def test_owners_as_csv(api: Api) -> None:
    await register(api)
    rows = await table(api, "/owners", format="csv")
    by_person = {row["person"]: row for row in rows}
    assert by_person["佐藤花子"]["open"] == "2"
    assert by_person["佐藤花子"]["overdue"] == "1"
    assert by_person["Els Verhulst"]["completed"] == "1"


async def test_a_csv_export_is_the_whole_list_beyond_one_page(api: Api) -> None:
    head = 0
    for n in range(12):
        head = await record(
            api,
            f"n{n:02d}",
            signed(title=f"N{n}"),
            *[
                event(
                    "FollowUpOpened",
                    follow_up_id=f"f{k}",
                    title="t",
                    owner=FIT_TOKYO,
                    due_on=(dt.date(2023, 4, 1) + dt.timedelta(days=k)).isoformat(),
                )
                for k in range(50)
            ],
        )
    await api.client.get(
        "/follow-ups", params={"wait_for_position": head}, headers=api.auth("viewer")
    )
    rows = await table(api, "/follow-ups", format="csv", limit=1)
    assert len(rows) == 600
    keys = [(row["due_on"], row["agreement_id"], row["follow_up_id"]) for row in rows]
    assert keys == sorted(keys)
    assert len(set(keys)) == 600


async def test_an_unknown_format_is_refused(api: Api) -> None:
    response = await api.client.get(
        "/follow-ups", params={"format": "xlsx"}, headers=api.auth("viewer")
    )
    assert response.status_code == 422
    assert "format" in response.text
