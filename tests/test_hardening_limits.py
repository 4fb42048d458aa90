"""Every documented limit, at the limit (accepted) and just past it (refused, log unmoved).

Body size and events per batch are tested the same way in tests/test_api_errors.py and
tests/test_api_streams.py; the rest are here.
"""

from __future__ import annotations

import dataclasses
import itertools
from typing import Any

import pytest

from service.routes.base import POSITION_MAX
from service.routes.streams import VERSION_MAX
from service.settings import Settings
from tests.conftest import Api, signed
from tests.test_api_streams import refused

LOG_CAP = 5
DOCUMENT_CAP = 3
_streams = itertools.count()


@pytest.fixture
def settings(settings: Settings) -> Settings:
    return dataclasses.replace(
        settings,
        max_log_limit=LOG_CAP,
        max_history_limit=LOG_CAP,
        max_witnesses=DOCUMENT_CAP,
        max_endorsements=DOCUMENT_CAP,
        max_follow_ups=DOCUMENT_CAP,
        max_amendments=DOCUMENT_CAP,
    )


def _follow_up(follow_up_id: str) -> dict[str, Any]:
    return {
        "type": "FollowUpOpened",
        "occurred_at": "2022-12-06T12:00:00Z",
        "data": {
            "follow_up_id": follow_up_id,
            "title": "Report back",
            "owner": {"unit": "FIT Tokyo office"},
            "due_on": "2023-01-31",
        },
    }


def _note(link: str) -> dict[str, Any]:
    return {
        "type": "NoteAttached",
        "occurred_at": "2022-12-06T12:00:00Z",
        "data": {"text": "press release", "link": link},
    }


def _delegation(**changes: Any) -> dict[str, Any]:
    data = {
        "name": "Flemish mission to Japan",
        "leader": {"name": "Jan Jambon"},
        "organiser": "FIT",
        "member_count": 40,
        "starts_on": "2022-12-03",
        "ends_on": "2022-12-09",
        "destinations": ["Tokyo"],
        "country": "Japan",
        **changes,
    }
    return {"type": "DelegationFormed", "occurred_at": "2022-12-03T00:00:00Z", "data": data}


def _parties(count: int) -> list[dict[str, Any]]:
    return [{"organisation": f"party {i}"} for i in range(count)]


# (id, category, body at the limit, body just past it, path of the refusal)
LIMITS: list[tuple[str, str, dict[str, Any], dict[str, Any], str]] = [
    (
        "text-200-characters",
        "agreement",
        {"events": [signed(title="t" * 200)]},
        {"events": [signed(title="t" * 201)]},
        "$.events[0].data.title",
    ),
    (
        "long-text-4000-characters",
        "agreement",
        {"events": [signed(summary="s\n" * 2000)]},
        {"events": [signed(summary="s\n" * 2000 + "s")]},
        "$.events[0].data.summary",
    ),
    (
        "slug-64-characters",
        "agreement",
        {"events": [signed(), _follow_up("f" * 64)]},
        {"events": [signed(), _follow_up("f" * 65)]},
        "$.events[1].data.follow_up_id",
    ),
    (
        "url-2000-characters-after-the-scheme",
        "agreement",
        {"events": [signed(), _note("https://" + "u" * 2000)]},
        {"events": [signed(), _note("https://" + "u" * 2001)]},
        "$.events[1].data.link",
    ),
    (
        "20-parties",
        "agreement",
        {"events": [signed(parties=_parties(20))]},
        {"events": [signed(parties=_parties(21))]},
        "$.events[0].data.parties",
    ),
    (
        "at-least-2-parties",
        "agreement",
        {"events": [signed(parties=_parties(2))]},
        {"events": [signed(parties=_parties(1))]},
        "$.events[0].data.parties",
    ),
    (
        "20-sectors",
        "agreement",
        {"events": [signed(sectors=[f"s{i}" for i in range(20)])]},
        {"events": [signed(sectors=[f"s{i}" for i in range(21)])]},
        "$.events[0].data.sectors",
    ),
    (
        "50-destinations",
        "delegation",
        {"events": [_delegation(destinations=[f"city {i}" for i in range(50)])]},
        {"events": [_delegation(destinations=[f"city {i}" for i in range(51)])]},
        "$.events[0].data.destinations",
    ),
    (
        "100000-members",
        "delegation",
        {"events": [_delegation(member_count=100_000)]},
        {"events": [_delegation(member_count=100_001)]},
        "$.events[0].data.member_count",
    ),
    (
        "first-business-date-1900-01-01",
        "agreement",
        {"events": [signed(signed_on="1900-01-01")]},
        {"events": [signed(signed_on="1899-12-31")]},
        "$.events[0].data.signed_on",
    ),
    (
        "last-business-date-2200-12-31",
        "agreement",
        {"events": [signed(signed_on="2200-12-31")]},
        {"events": [signed(signed_on="2201-01-01")]},
        "$.events[0].data.signed_on",
    ),
    (
        "last-occurred-at-2200",
        "agreement",
        {"events": [{**signed(), "occurred_at": "2200-12-31T23:59:59.999999Z"}]},
        {"events": [{**signed(), "occurred_at": "2201-01-01T00:00:00Z"}]},
        "$.events[0].occurred_at",
    ),
    (
        "first-occurred-at-1900",
        "agreement",
        {"events": [{**signed(), "occurred_at": "1900-01-01T00:00:00Z"}]},
        {"events": [{**signed(), "occurred_at": "1899-12-31T23:59:59Z"}]},
        "$.events[0].occurred_at",
    ),
    (
        "correlation-id-200-characters",
        "agreement",
        {"events": [signed()], "correlation_id": "c" * 200},
        {"events": [signed()], "correlation_id": "c" * 201},
        "$.correlation_id",
    ),
]


@pytest.mark.parametrize(
    ("category", "at_limit", "past_limit", "path"),
    [case[1:] for case in LIMITS],
    ids=[case[0] for case in LIMITS],
)
async def test_a_field_limit_is_accepted_at_and_refused_past_it(
    api: Api, category: str, at_limit: dict[str, Any], past_limit: dict[str, Any], path: str
) -> None:
    head = await api.head()
    past = await api.client.post(
        f"/streams/{category}-past-{next(_streams)}/events",
        json=past_limit,
        headers=api.auth("recorder"),
    )
    problem = await refused(api, past, 422, head)
    assert [e["path"] for e in problem["errors"]] == [path]

    at = await api.client.post(
        f"/streams/{category}-at-{next(_streams)}/events",
        json=at_limit,
        headers=api.auth("recorder"),
    )
    assert at.status_code == 201, at.text


async def test_expected_versions_past_a_streams_integer_size_are_refused(api: Api) -> None:
    head = await api.head()
    for version, status in ((VERSION_MAX, 409), (VERSION_MAX + 1, 422)):
        response = await api.client.post(
            "/streams/agreement-versions/events",
            json={"events": [signed()], "expected_version": version},
            headers=api.auth("recorder"),
        )
        await refused(api, response, status, head)


@pytest.mark.parametrize(
    ("at_limit", "past_limit"),
    [
        ("a" * 32 + "-x", "a" * 33 + "-x"),
        ("agreement-" + "i" * 127, "agreement-" + "i" * 128),
        ("agreement-" + "i", "agreement-"),
    ],
    ids=["category-32-letters", "id-127-characters", "id-at-least-1-character"],
)
async def test_stream_id_lengths_at_and_past_the_pattern(
    api: Api, at_limit: str, past_limit: str
) -> None:
    head = await api.head()
    past = await api.client.get(f"/streams/{past_limit}/events", headers=api.auth("auditor"))
    problem = await refused(api, past, 422, head)
    assert problem["errors"][0]["path"] == "path.stream_id"
    at = await api.client.get(f"/streams/{at_limit}/events", headers=api.auth("auditor"))
    assert at.status_code == 404  # well-formed, and empty


async def _fill(api: Api, events: int) -> None:
    notes = [{**signed()}] + [
        {"type": "NoteAttached", "occurred_at": "2022-12-06T12:00:00Z", "data": {"text": "n"}}
    ] * (events - 1)
    made = await api.client.post(
        "/streams/agreement-many/events", json={"events": notes}, headers=api.auth("recorder")
    )
    assert made.status_code == 201, made.text


@pytest.mark.parametrize("url", ["/events", "/streams/agreement-many/events"])
async def test_page_sizes_are_capped_by_the_server_not_refused(api: Api, url: str) -> None:
    await _fill(api, LOG_CAP * 3)
    for asked in (LOG_CAP, LOG_CAP + 1, POSITION_MAX):
        page = await api.client.get(url, params={"limit": asked}, headers=api.auth("auditor"))
        assert page.status_code == 200, page.text
        assert len(page.json()["events"]) == LOG_CAP
    past = await api.client.get(
        url, params={"limit": POSITION_MAX + 1}, headers=api.auth("auditor")
    )
    assert past.status_code == 422
    assert past.json()["errors"][0]["path"] == "query.limit"
    one = await api.client.get(url, params={"limit": 1}, headers=api.auth("auditor"))
    assert len(one.json()["events"]) == 1
    zero = await api.client.get(url, params={"limit": 0}, headers=api.auth("auditor"))
    assert zero.status_code == 422


@pytest.mark.parametrize(
    ("url", "name", "limit"),
    [
        ("/events", "after", POSITION_MAX),
        ("/streams/agreement-many/events", "after_version", VERSION_MAX),
        ("/partnerships", "as_of_position", POSITION_MAX),
        ("/partnerships", "wait_for_position", POSITION_MAX),
    ],
)
async def test_positions_and_versions_are_accepted_up_to_their_integer_size(
    api: Api, url: str, name: str, limit: int
) -> None:
    await _fill(api, 2)
    at = await api.client.get(url, params={name: limit}, headers=api.auth("admin"))
    assert at.status_code == 200, at.text
    past = await api.client.get(url, params={name: limit + 1}, headers=api.auth("admin"))
    assert past.status_code == 422
    assert past.json()["errors"][0]["path"] == f"query.{name}"


async def test_at_most_50_types_in_one_log_query(api: Api) -> None:
    at = await api.client.get(
        "/events", params=[("type", f"T{i}") for i in range(50)], headers=api.auth("auditor")
    )
    assert at.status_code == 200, at.text
    past = await api.client.get(
        "/events", params=[("type", f"T{i}") for i in range(51)], headers=api.auth("auditor")
    )
    assert past.status_code == 422
    assert past.json()["errors"][0]["path"] == "query.type"


async def test_history_pages_are_capped_by_the_server_not_refused(api: Api) -> None:
    await _fill(api, LOG_CAP * 3)
    for asked in (LOG_CAP, LOG_CAP + 1, POSITION_MAX):
        page = await api.client.get(
            "/partnerships/many/history", params={"limit": asked}, headers=api.auth("auditor")
        )
        assert page.status_code == 200, page.text
        assert len(page.json()["changes"]) == LOG_CAP
        assert page.json()["next"].endswith(f"limit={LOG_CAP}")


def _document_entry(kind: str, number: int) -> dict[str, Any]:
    day = "2022-12-07"
    data: dict[str, dict[str, Any]] = {
        "AgreementWitnessed": {"witness": {"name": f"Witness {number}"}, "witnessed_on": day},
        "AgreementEndorsed": {
            "endorser": {"name": f"Endorser {number}"},
            "on_behalf_of": "Government of Flanders",
            "endorsed_on": day,
        },
        "FollowUpOpened": {
            "follow_up_id": f"f{number}",
            "title": "Report back",
            "owner": {"unit": "FIT Tokyo office"},
            "due_on": "2023-01-31",
        },
        "AgreementAmended": {"amended_on": day, "summary": f"Amendment {number}"},
    }
    return {"type": kind, "occurred_at": f"{day}T12:00:00Z", "data": data[kind]}


@pytest.mark.parametrize(
    ("kind", "rule"),
    [
        ("AgreementWitnessed", "too_many_witnesses"),
        ("AgreementEndorsed", "too_many_endorsements"),
        ("FollowUpOpened", "too_many_follow_ups"),
        ("AgreementAmended", "too_many_amendments"),
    ],
)
async def test_an_agreements_lists_are_capped(api: Api, kind: str, rule: str) -> None:
    stream = f"/streams/agreement-capped-{next(_streams)}/events"
    entries = [_document_entry(kind, n) for n in range(DOCUMENT_CAP + 1)]
    at = await api.client.post(
        stream, json={"events": [signed(), *entries[:-1]]}, headers=api.auth("recorder")
    )
    assert at.status_code == 201, at.text
    head = await api.head()
    past = await api.client.post(
        stream, json={"events": entries[-1:]}, headers=api.auth("recorder")
    )
    problem = await refused(api, past, 422, head)
    assert problem["rule"] == rule
