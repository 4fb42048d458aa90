"""Recording over HTTP: POST and GET /streams/{stream_id}/events through the real app."""

from __future__ import annotations

import uuid
from typing import Any

import httpx
import msgspec
import pytest

from tests.conftest import Api, signed

STREAM = "agreement-imec-rapidus-2022"
URL = f"/streams/{STREAM}/events"


def endorsed(event_id: str | None = None) -> dict[str, Any]:
    event: dict[str, Any] = {
        "type": "AgreementEndorsed",
        "occurred_at": "2022-12-06T11:00:00+09:00",
        "data": {
            "endorser": {"name": "Jan Jambon", "title": "Minister-President"},
            "on_behalf_of": "Government of Flanders",
            "endorsed_on": "2022-12-06",
        },
    }
    if event_id is not None:
        event["event_id"] = event_id
    return event


async def post(api: Api, body: Any, role: str = "recorder", **headers: str) -> httpx.Response:
    return await api.client.post(URL, json=body, headers={**api.auth(role), **headers})


async def refused(api: Api, response: httpx.Response, status: int, head: int) -> dict[str, Any]:
    """Check a refusal: its status, a problem+json body, and a log that did not move."""
    assert response.status_code == status, response.text
    assert response.headers["content-type"] == "application/problem+json"
    assert await api.head() == head
    problem: dict[str, Any] = response.json()
    assert problem["status"] == status
    assert problem["type"].startswith("https://agreements.example/problems/")
    return problem


async def test_append_records_the_batch_with_the_tokens_actor(api: Api) -> None:
    head = await api.head()
    body = {
        "expected_version": "no_stream",
        "events": [signed(), endorsed()],
        "correlation_id": "visit-42",
    }
    response = await post(api, body, **{"User-Agent": "staff-tool/1.0"})

    assert response.status_code == 201, response.text
    assert response.json() == {
        "stream_id": STREAM,
        "from_version": 1,
        "to_version": 2,
        "from_position": head + 1,
        "to_position": head + 2,
    }
    page = (await api.client.get(URL, headers=api.auth("recorder"))).json()
    assert page["version"] == 2
    assert [e["type"] for e in page["events"]] == ["AgreementSigned", "AgreementEndorsed"]
    first = page["events"][0]
    assert first["metadata"]["actor"] == "test recorder"
    assert first["metadata"]["correlation_id"] == "visit-42"
    assert first["metadata"]["user_agent"] == "staff-tool/1.0"
    assert first["data"]["parties"][1]["signatory"]["name"] == "Atsuyoshi Koike"
    assert page["events"][1]["occurred_at"] == "2022-12-06T02:00:00.000000Z"


async def test_a_retried_batch_answers_200_with_the_same_positions(api: Api) -> None:
    body = {"events": [signed(str(uuid.uuid4())), endorsed(str(uuid.uuid4()))]}
    first = await post(api, body)
    head = await api.head()

    again = await post(api, body)

    assert (first.status_code, again.status_code) == (201, 200)
    assert again.json() == first.json()
    assert await api.head() == head


async def test_an_event_without_occurred_at_happened_when_it_was_recorded(api: Api) -> None:
    """The stored event carries the concrete time (the hash chain covers it), a retry of the
    same request is recognised, and the same id with a business time of its own is not."""
    event_id = str(uuid.uuid4())
    event = {k: v for k, v in signed(event_id).items() if k != "occurred_at"}
    first = await post(api, {"events": [event]})
    assert first.status_code == 201, first.text

    again = await post(api, {"events": [event]})
    assert (again.status_code, again.json()) == (200, first.json())
    other = await post(api, {"events": [{**event, "occurred_at": "2022-12-06T10:00:00Z"}]})
    assert other.status_code == 409, other.text

    page = await api.client.get(URL, headers=api.auth("auditor"))
    (stored,) = page.json()["events"]
    assert stored["occurred_at"] == stored["recorded_at"]
    verified = await api.client.get("/audit/verify", headers=api.auth("auditor"))
    assert verified.status_code == 200, verified.text


async def test_wrong_expected_version_is_409_with_the_current_version(api: Api) -> None:
    await post(api, {"events": [signed()]})
    head = await api.head()

    for expected in (0, "no_stream", 5):
        response = await post(api, {"expected_version": expected, "events": [endorsed()]})
        problem = await refused(api, response, 409, head)
        assert problem["current_version"] == 1
        assert problem["type"].endswith("/wrong-expected-version")

    ok = await post(api, {"expected_version": 1, "events": [endorsed()]})
    assert ok.status_code == 201


async def test_an_event_id_reused_with_other_content_is_409(api: Api) -> None:
    event_id = str(uuid.uuid4())
    await post(api, {"events": [signed(event_id)]})
    head = await api.head()

    response = await post(api, {"events": [signed(event_id, title="Another title")]})

    problem = await refused(api, response, 409, head)
    assert problem["type"].endswith("/idempotency-conflict")


async def test_a_rule_violation_is_422_naming_the_rule(api: Api) -> None:
    head = await api.head()

    response = await post(api, {"events": [endorsed()]})

    problem = await refused(api, response, 422, head)
    assert problem["rule"] == "stream_must_start_with_signing"
    assert problem["type"].endswith("/rule-violation")


async def test_a_refused_event_refuses_its_whole_batch(api: Api) -> None:
    head = await api.head()
    response = await post(api, {"events": [signed(), signed()]})
    problem = await refused(api, response, 422, head)
    assert problem["rule"] == "already_signed"
    assert problem["errors"][0]["path"] == "$.events[1]"
    missing = await api.client.get(URL, headers=api.auth("recorder"))
    assert missing.status_code == 404


@pytest.mark.parametrize(
    "body",
    [
        b"{",
        b"",
        b"   ",
        b"not json",
        b'{"events": [}',
        b'{"events": NaN}',
        b'{"events": [{"type": "\xff\xfe"}]}',
        b'{"correlation_id": "\\ud800", "events": []}',
        b'{"events": [{"data": ' + b"[" * 100_000 + b"]" * 100_000 + b"}]}",
    ],
    ids=["truncated", "empty", "blank", "text", "broken", "nan", "latin1", "surrogate", "deep"],
)
async def test_malformed_json_is_400(api: Api, body: bytes) -> None:
    head = await api.head()
    response = await api.client.post(
        URL, content=body, headers={**api.auth("recorder"), "Content-Type": "application/json"}
    )
    problem = await refused(api, response, 400, head)
    assert problem["type"].endswith("/malformed-body")


async def test_a_field_of_the_wrong_type_is_422_with_its_json_path(api: Api) -> None:
    head = await api.head()
    event = signed()
    event["data"]["parties"][1]["signatory"]["name"] = 42

    response = await post(api, {"events": [event]})

    problem = await refused(api, response, 422, head)
    assert problem["errors"] == [
        {
            "path": "$.events[0].data.parties[1].signatory.name",
            "message": "Expected `str`, got `int`",
        }
    ]


@pytest.mark.parametrize(
    ("body", "path"),
    [
        ({"events": [signed()], "actor": "someone else"}, "$"),
        ({"events": [{**signed(), "recorded_at": "2020-01-01T00:00:00Z"}]}, "$.events[0]"),
        (
            {"events": [{**signed(), "occurred_at": "2022-12-06T10:00:00"}]},
            "$.events[0].occurred_at",
        ),
        ({"events": [{**signed(), "event_id": "not-a-uuid"}]}, "$.events[0].event_id"),
        ({"events": [{**signed(), "type": "NoSuchEvent"}]}, "$.events[0].type"),
        ({"events": []}, "$.events"),
        ({"events": [signed()], "expected_version": -1}, "$.expected_version"),
        ({"events": [signed()], "expected_version": 2**64}, "$.expected_version"),
        ({"events": [signed()], "expected_version": "latest"}, "$.expected_version"),
        ([signed()], "$"),
    ],
    ids=[
        "actor-in-body",
        "unknown-event-field",
        "naive-time",
        "bad-event-id",
        "unknown-type",
        "no-events",
        "negative-version",
        "huge-version",
        "unknown-version-word",
        "array",
    ],
)
async def test_schema_violations_are_422_with_a_path(api: Api, body: Any, path: str) -> None:
    head = await api.head()
    response = await post(api, body)
    problem = await refused(api, response, 422, head)
    assert [e["path"] for e in problem["errors"]] == [path]


async def test_too_many_events_in_one_batch_is_422(api: Api) -> None:
    limit = api.services.settings.max_events_per_batch
    notes = [{"type": "NoteAttached", "occurred_at": "2022-12-06T10:00:00Z", "data": {"text": "n"}}]
    head = await api.head()
    at_limit = await post(api, {"events": [signed(), *notes * (limit - 1)]})
    assert at_limit.status_code == 201, at_limit.text

    past = await api.client.post(
        "/streams/agreement-other/events",
        json={"events": [signed(), *notes * limit]},
        headers=api.auth("recorder"),
    )
    problem = await refused(api, past, 422, head + limit)
    assert problem["errors"][0]["path"] == "$.events"


async def test_a_stream_id_that_breaks_the_pattern_is_422(api: Api) -> None:
    head = await api.head()
    for bad in ("agreement.x", "Agreement-x", "agreement-", "x" * 300, "agreement-a%20b"):
        response = await api.client.post(
            f"/streams/{bad}/events", json={"events": [signed()]}, headers=api.auth("recorder")
        )
        problem = await refused(api, response, 422, head)
        assert problem["errors"][0]["path"] == "path.stream_id"


async def test_an_unknown_category_is_a_rule_violation(api: Api) -> None:
    head = await api.head()
    response = await api.client.post(
        "/streams/invoice-1/events", json={"events": [signed()]}, headers=api.auth("recorder")
    )
    problem = await refused(api, response, 422, head)
    assert problem["rule"] == "unknown_stream_category"


async def test_nobody_appends_to_the_token_stream_over_this_route(api: Api) -> None:
    head = await api.head()
    issued = {
        "type": "TokenIssued",
        "occurred_at": "2022-12-06T10:00:00Z",
        "data": {"token_id": "x", "name": "me", "role": "admin", "token_hash": "0" * 64},
    }
    for role in ("recorder", "admin"):
        response = await api.client.post(
            "/streams/admin-tokens/events", json={"events": [issued]}, headers=api.auth(role)
        )
        await refused(api, response, 403, head)


async def test_the_token_stream_is_not_readable_by_recorders(api: Api) -> None:
    denied = await api.client.get("/streams/admin-tokens/events", headers=api.auth("recorder"))
    assert denied.status_code == 403
    allowed = await api.client.get("/streams/admin-tokens/events", headers=api.auth("auditor"))
    assert allowed.status_code == 200
    assert allowed.json()["version"] == 4  # the bootstrap admin and three test tokens


@pytest.mark.parametrize(
    "content_type", [None, "text/plain", "application/x-www-form-urlencoded", "application/jsonx"]
)
async def test_a_body_that_is_not_declared_json_is_415(api: Api, content_type: str | None) -> None:
    head = await api.head()
    headers = {**api.auth("recorder")}
    if content_type is not None:
        headers["Content-Type"] = content_type
    body = msgspec.json.encode({"events": [signed()]})
    response = await api.client.post(URL, content=body, headers=headers)
    await refused(api, response, 415, head)


async def test_json_with_a_charset_is_accepted(api: Api) -> None:
    body = msgspec.json.encode({"events": [signed()]})
    response = await api.client.post(
        URL,
        content=body,
        headers={**api.auth("recorder"), "Content-Type": "Application/JSON; charset=utf-8"},
    )
    assert response.status_code == 201, response.text


async def test_a_stream_reads_in_pages(api: Api) -> None:
    await post(api, {"events": [signed(), endorsed(), endorsed()]})

    page = await api.client.get(
        URL, params={"after_version": 1, "limit": 1}, headers=api.auth("auditor")
    )

    assert page.status_code == 200
    assert [e["version"] for e in page.json()["events"]] == [2]
    assert page.json()["version"] == 3
    rest = await api.client.get(URL, params={"after_version": 3}, headers=api.auth("auditor"))
    assert rest.json() == {"events": [], "version": 3}


async def test_reading_an_unknown_stream_is_404(api: Api) -> None:
    response = await api.client.get(
        "/streams/agreement-nothing/events", headers=api.auth("recorder")
    )
    assert response.status_code == 404
    assert response.headers["content-type"] == "application/problem+json"


@pytest.mark.parametrize(
    "query",
    [{"limit": "0"}, {"limit": "many"}, {"after_version": "-1"}, {"colour": "blue"}],
    ids=["zero-limit", "word-limit", "negative", "unknown"],
)
async def test_bad_query_parameters_are_422_naming_them(api: Api, query: dict[str, str]) -> None:
    response = await api.client.get(URL, params=query, headers=api.auth("recorder"))
    assert response.status_code == 422
    assert response.json()["errors"][0]["path"] == f"query.{next(iter(query))}"
