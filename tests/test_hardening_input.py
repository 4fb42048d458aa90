"""Bad input never reaches the log: each kind of hostile body, path and query is refused with
the right status and a problem+json body, and the log's head does not move.

The basics (empty, truncated and non-UTF-8 bodies, NaN, top-level surrogates, very deep
nesting, unknown types and fields, non-JSON content types) are in tests/test_api_streams.py;
this file covers the rest of the hostile inputs of issue 5, and the two decisions taken:

- duplicate keys: the last one wins, as in JavaScript's `JSON.parse`, Python's `json` and
  Go's `encoding/json`, so the client's own tools read a body the way the service does; the
  log stores a canonical re-encoding of the decoded data (one key, the value used), never
  the bytes as sent, so what is stored is never ambiguous.
- business dates (and `occurred_at`) must fall in the years 1900..2200.
"""

from __future__ import annotations

import json
from typing import Any

import httpx
import msgspec
import pytest

from tests.conftest import Api, signed
from tests.test_api_streams import refused

URL = "/streams/agreement-hostile/events"


def _body(*events: dict[str, Any], **fields: Any) -> bytes:
    return msgspec.json.encode({"events": list(events) or [signed()], **fields})


def _event(**data_changes: Any) -> dict[str, Any]:
    return signed(**data_changes)


def _with(event: dict[str, Any], **envelope: Any) -> dict[str, Any]:
    return {**event, **envelope}


async def _post(
    api: Api, body: bytes, *, url: str = URL, content_type: str | None = "application/json"
) -> httpx.Response:
    headers = dict(api.auth("recorder"))
    if content_type is not None:
        headers["Content-Type"] = content_type
    return await api.client.post(url, content=body, headers=headers)


_NOTE = {"type": "NoteAttached", "occurred_at": "2022-12-06T10:00:00Z", "data": {"text": "n"}}
_DEEP = 100_000

# (id, body, status, where): `where` is the first error's JSON path for a 422, the problem
# type's last segment otherwise.
BODIES: list[tuple[str, bytes, int, str]] = [
    ("form-encoded", b"events=1&type=AgreementSigned", 400, "malformed-body"),
    ("xml", b"<events><event/></events>", 400, "malformed-body"),
    ("byte-order-mark", b"\xef\xbb\xbf" + _body(), 400, "malformed-body"),
    ("two-documents", _body() + _body(), 400, "malformed-body"),
    ("trailing-garbage", _body() + b"x", 400, "malformed-body"),
    ("null", b"null", 422, "$"),
    ("number", b"42", 422, "$"),
    ("string", b'"events"', 422, "$"),
    ("infinity", b'{"events": [], "expected_version": Infinity}', 400, "malformed-body"),
    ("minus-infinity", b'{"events": [], "expected_version": -Infinity}', 400, "malformed-body"),
    (
        "float-overflow",
        _body(expected_version=1e308).replace(b"1e+308", b"1e999"),
        422,
        "$.expected_version",
    ),
    ("fractional-version", _body(expected_version=1.5), 422, "$.expected_version"),
    ("boolean-version", _body(expected_version=True), 422, "$.expected_version"),
    ("version-as-text", _body(expected_version="0"), 422, "$.expected_version"),
    ("version-past-int64", _body(expected_version=2**63), 422, "$.expected_version"),
    ("version-below-int64", _body(expected_version=-(2**63) - 1), 422, "$.expected_version"),
    ("int-past-128-bits-in-data", _body(_event(kind=10**40)), 422, "$.events[0].data.kind"),
    ("deep-in-events", b'{"events": ' + b"[" * _DEEP + b"]" * _DEEP + b"}", 422, "$.events[0]"),
    (
        "deep-in-a-field",
        b'{"correlation_id": ' + b"[" * 50 + b"]" * 50 + b', "events": []}',
        422,
        "$.correlation_id",
    ),
    (
        "deep-in-data",
        _body(_with(_event(), data={"title": [[[[[[[[[[]]]]]]]]]]})),
        422,
        "$.events[0].data.title",
    ),
    (
        "lone-high-surrogate",
        _body(_event(title="?")).replace(b'"?"', b'"\\ud800"'),
        400,
        "malformed-body",
    ),
    (
        "lone-low-surrogate",
        _body(_event(title="?")).replace(b'"?"', b'"\\udc00x"'),
        400,
        "malformed-body",
    ),
    (
        "encoded-surrogate",
        _body(_event(title="?")).replace(b'"?"', b'"\xed\xa0\x80"'),
        400,
        "malformed-body",
    ),
    ("huge-title", _body(_event(title="x" * 500_000)), 422, "$.events[0].data.title"),
    (
        "huge-parties",
        _body(_event(parties=[{"organisation": "o"}] * 20_000)),
        422,
        "$.events[0].data.parties",
    ),
    ("huge-event-list", _body(*[_NOTE] * 12_000), 422, "$.events"),
    ("huge-event-id", _body(_with(_event(), event_id="1" * 10_000)), 422, "$.events[0].event_id"),
    ("huge-type", _body(_with(_event(), type="A" * 10_000)), 422, "$.events[0].type"),
    (
        "no-data",
        _body({"type": "NoteAttached", "occurred_at": "2022-12-06T10:00:00Z"}),
        422,
        "$.events[0]",
    ),
    ("no-occurred-at", _body({"type": "NoteAttached", "data": {"text": "n"}}), 422, "$.events[0]"),
    (
        "no-required-data-field",
        _body(_with(_event(), data={"kind": "MoC"})),
        422,
        "$.events[0].data",
    ),
    ("extra-data-field", _body(_event(signed_by_hand=True)), 422, "$.events[0].data"),
    ("data-is-a-list", _body(_with(_event(), data=[1])), 422, "$.events[0].data"),
    ("data-is-text", _body(_with(_event(), data="{}")), 422, "$.events[0].data"),
    ("impossible-date", _body(_event(signed_on="2022-02-30")), 422, "$.events[0].data.signed_on"),
    ("month-13", _body(_event(signed_on="2022-13-01")), 422, "$.events[0].data.signed_on"),
    ("two-digit-year", _body(_event(signed_on="22-12-06")), 422, "$.events[0].data.signed_on"),
    (
        "date-with-time",
        _body(_event(signed_on="2022-12-06T10:00:00Z")),
        422,
        "$.events[0].data.signed_on",
    ),
    ("far-future-date", _body(_event(signed_on="9999-12-31")), 422, "$.events[0].data.signed_on"),
    ("ancient-date", _body(_event(signed_on="0001-01-01")), 422, "$.events[0].data.signed_on"),
    (
        "far-future-optional-date",
        _body(_event(announced_on="3000-01-01")),
        422,
        "$.events[0].data.announced_on",
    ),
    (
        "far-future-occurred-at",
        _body(_with(_event(), occurred_at="9999-12-31T23:59:59-23:59")),
        422,
        "$.events[0].occurred_at",
    ),
    (
        "offset-out-of-range",
        _body(_with(_event(), occurred_at="2022-12-06T10:00:00+24:00")),
        422,
        "$.events[0].occurred_at",
    ),
    (
        "date-only-occurred-at",
        _body(_with(_event(), occurred_at="2022-12-06")),
        422,
        "$.events[0].occurred_at",
    ),
    ("nul-in-title", _body(_event(title="imec\x00Rapidus")), 422, "$.events[0].data.title"),
    ("escape-in-title", _body(_event(title="\x1b[31mred")), 422, "$.events[0].data.title"),
    ("newline-in-title", _body(_event(title="two\nlines")), 422, "$.events[0].data.title"),
    ("final-newline-in-title", _body(_event(title="title\n")), 422, "$.events[0].data.title"),
    ("tab-in-title", _body(_event(title="a\tb")), 422, "$.events[0].data.title"),
    ("delete-in-title", _body(_event(title="a\x7f")), 422, "$.events[0].data.title"),
    ("c1-in-title", _body(_event(title="a\x85b")), 422, "$.events[0].data.title"),
    ("line-separator-in-title", _body(_event(title="a\u2028b")), 422, "$.events[0].data.title"),
    ("nul-in-summary", _body(_event(summary="a\x00b")), 422, "$.events[0].data.summary"),
    (
        "carriage-return-in-summary",
        _body(_event(summary="a\r\nb")),
        422,
        "$.events[0].data.summary",
    ),
    (
        "newline-in-signatory",
        _body(
            _event(
                parties=[
                    {"organisation": "imec", "signatory": {"name": "Luc\n"}},
                    {"organisation": "Rapidus"},
                ]
            )
        ),
        422,
        "$.events[0].data.parties[0].signatory.name",
    ),
    ("newline-in-correlation-id", _body(correlation_id="visit\n42"), 422, "$.correlation_id"),
    ("empty-title", _body(_event(title="")), 422, "$.events[0].data.title"),
]


@pytest.mark.parametrize(
    ("body", "status", "where"), [c[1:] for c in BODIES], ids=[c[0] for c in BODIES]
)
async def test_a_hostile_body_is_refused_and_the_log_does_not_move(
    api: Api, body: bytes, status: int, where: str
) -> None:
    head = await api.head()
    response = await _post(api, body)
    problem = await refused(api, response, status, head)
    if status == 422:
        assert problem["errors"][0]["path"] == where, problem
    else:
        assert problem["type"].endswith(f"/{where}")


@pytest.mark.parametrize(
    "content_type",
    [
        "application/json-patch+json",
        "application/problem+json",
        "application/x-ndjson",
        "multipart/form-data; boundary=x",
        "text/json",
        "json",
        "",
    ],
)
async def test_other_content_types_are_415(api: Api, content_type: str) -> None:
    head = await api.head()
    response = await _post(api, _body(), content_type=content_type)
    await refused(api, response, 415, head)


@pytest.mark.parametrize(
    ("stream_id", "status"),
    [
        ("agreement-a%2Fb", 404),  # a slash, even encoded, is no stream id: no route matches
        ("agreement-a/b", 404),
        ("agreement-a.b", 422),
        ("agreement-..", 422),
        ("agreement-a%20b", 422),
        ("agreement-a%09b", 422),
        ("agreement-x%0A", 422),
        ("agreement-x%00", 422),
        ("agreement-%C3%A9t%C3%A9", 422),
        ("agreement-x'%3B%20DROP%20TABLE%20events%3B--", 422),
        ("agreement-x%22%20OR%201%3D1", 422),
        ("agreement-" + "x" * 10_000, 422),
        ("a" * 33 + "-x", 422),
        ("agreement-" + "x" * 128, 422),
        ("-x", 422),
        ("agreement", 422),
    ],
)
async def test_a_stream_id_outside_the_pattern_is_refused(
    api: Api, stream_id: str, status: int
) -> None:
    head = await api.head()
    url = f"/streams/{stream_id}/events"
    posted = await _post(api, _body(), url=url)
    problem = await refused(api, posted, status, head)
    if status == 422:
        assert problem["errors"][0]["path"] == "path.stream_id"
    read = await api.client.get(url, headers=api.auth("auditor"))
    assert read.status_code == status


async def test_duplicate_keys_last_one_wins_and_the_log_stores_one_canonical_key(
    api: Api,
) -> None:
    event = json.dumps(signed(title="first"))
    event = event.replace('"title": "first"', '"title": "first", "title": "second"')
    event = event.replace(
        '"type": "AgreementSigned"', '"type": "NoteAttached", "type": "AgreementSigned"'
    )
    body = f'{{"events": [], "correlation_id": "a", "events": [{event}], "correlation_id": "b"}}'

    response = await _post(api, body.encode())

    assert response.status_code == 201, response.text
    stored = await api.client.get(URL, headers=api.auth("auditor"))
    [recorded] = stored.json()["events"]
    assert recorded["type"] == "AgreementSigned"
    assert recorded["data"]["title"] == "second"
    assert recorded["metadata"]["correlation_id"] == "b"
    assert stored.text.count('"title"') == 1
    assert "first" not in stored.text


async def test_line_feeds_and_tabs_are_kept_in_long_text(api: Api) -> None:
    summary = "Scope:\n\t- chips\n\t- people\n"
    response = await _post(api, _body(_event(summary=summary, title="Ünïcödé 日本 ✓")))
    assert response.status_code == 201, response.text
    stored = await api.client.get(URL, headers=api.auth("auditor"))
    data = stored.json()["events"][0]["data"]
    assert data["summary"] == summary
    assert data["title"] == "Ünïcödé 日本 ✓"


async def test_a_control_character_message_names_the_rule_not_the_regex(api: Api) -> None:
    response = await _post(api, _body(_event(title="a\x00")))
    [error] = response.json()["errors"]
    assert error["message"] == "Expected one line of text without control characters"


async def test_a_content_length_that_is_not_a_number_does_not_crash_the_guard(api: Api) -> None:
    """`"²".isdigit()` is true and `int("²")` fails: a header like that was a 500."""
    head = await api.head()
    for declared in (b"\xb2", b"-1", b"1e3", b"0x10", b" 12"):
        response = await api.client.post(
            URL,
            content=b"{}",
            headers={
                **api.auth("recorder"),
                "Content-Type": "application/json",
                "Content-Length": declared,
            },  # type: ignore[dict-item]
        )
        assert response.status_code < 500, (declared, response.text)
    assert await api.head() == head


@pytest.mark.parametrize(
    ("url", "query", "path"),
    [
        ("/events", "limit=0", "query.limit"),
        ("/events", "limit=-1", "query.limit"),
        ("/events", "limit=1.5", "query.limit"),
        ("/events", "limit=", "query.limit"),
        ("/events", "limit=1&limit=2", "query.limit"),
        ("/events", f"limit={2**63}", "query.limit"),
        ("/events", f"after={2**64}", "query.after"),
        ("/events", "after=%00", "query.after"),
        ("/events", "category=Agreement", "query.category"),
        ("/events", "category=" + "a" * 33, "query.category"),
        ("/events", "type=", "query.type[0]"),
        ("/events", "type=" + "A" * 101, "query.type[0]"),
        ("/events", "type=a&" * 51, "query.type"),
        ("/events", "before=1", "query.before"),
        ("/events", "after_version=1", "query.after_version"),
        ("/streams/agreement-x/events", "after_version=-1", "query.after_version"),
        ("/streams/agreement-x/events", "stream_id=agreement-y", "query.stream_id"),
        ("/partnerships", "status=null", "query.status"),
        ("/partnerships", "as_of_position=null", "query.as_of_position"),
        ("/partnerships", "status=lapsed", "query.status"),
        ("/partnerships", "wait_for_position=-5", "query.wait_for_position"),
        ("/partnerships", "owner=fit%00tokyo", "query.owner"),
        ("/partnerships", "sector=chips%0A", "query.sector"),
        ("/events", "type=AgreementSigned&type=Note%1Battached", "query.type"),
        ("/partnerships/agreement-x%00", "", "path.agreement_id"),
        ("/owners/fit%00tokyo", "", "path.owner_id"),
    ],
)
async def test_bad_query_parameters_are_422_naming_the_parameter(
    api: Api, url: str, query: str, path: str
) -> None:
    response = await api.client.get(f"{url}?{query}", headers=api.auth("admin"))
    assert response.status_code == 422, response.text
    assert response.json()["errors"][0]["path"] == path


async def test_python_built_event_data_is_held_to_the_same_constraints(api: Api) -> None:
    """Data built in Python skips msgspec's constraints; the store decodes it anyway, so
    nothing is stored that could not be read back (here: a token name with a line feed)."""
    head = await api.head()
    response = await api.client.post(
        "/admin/tokens", json={"name": "evil\nname", "role": "viewer"}, headers=api.auth("admin")
    )
    assert response.status_code == 422
    assert await api.head() == head
