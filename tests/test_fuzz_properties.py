"""Property tests against the running app: whatever arrives, no 5xx, refusals are problem+json
and leave the log alone, and what is accepted is stored exactly as sent.

Each property runs a fixed number of derandomized examples (repeatable in CI) against one app
per test; a fresh stream per example keeps examples independent.
"""

from __future__ import annotations

import itertools
import json
import re
import urllib.parse
from typing import Any

import httpx
import msgspec
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from events.rules import STREAM_ID_PATTERN
from tests.conftest import Api, signed

pytestmark = pytest.mark.slow

_PROPERTY = settings(
    max_examples=300,
    derandomize=True,
    database=None,
    deadline=None,
    suppress_health_check=[
        HealthCheck.function_scoped_fixture,
        HealthCheck.too_slow,
        HealthCheck.data_too_large,
    ],
)
_streams = itertools.count()

_any_text = st.text(st.characters(codec=None, exclude_categories=()), max_size=40)
"""Any code point, lone surrogates included (they go out as `\\udXXX` escapes)."""
_json = st.recursive(
    st.none()
    | st.booleans()
    | st.integers(min_value=-(2**80), max_value=2**80)
    | st.floats(allow_nan=False, allow_infinity=False)
    | _any_text,
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(_any_text, inner, max_size=4),
    max_leaves=12,
)


def _encode(value: Any) -> bytes:
    """JSON as any client might write it: ASCII escapes, so lone surrogates survive."""
    return json.dumps(value, ensure_ascii=True).encode()


async def _append(api: Api, body: bytes, stream_id: str | None = None) -> httpx.Response:
    stream_id = stream_id or f"agreement-prop-{next(_streams)}"
    return await api.client.post(
        f"/streams/{urllib.parse.quote(stream_id, safe='')}/events",
        content=body,
        headers={**api.auth("recorder"), "Content-Type": "application/json"},
    )


def _check_refusal(response: httpx.Response) -> None:
    assert response.status_code < 500, response.text
    if response.status_code >= 400:
        assert response.headers["content-type"] == "application/problem+json"
        problem = response.json()
        assert problem["status"] == response.status_code


_TEMPLATE = msgspec.json.encode({"events": [signed(title="TITLE")]})


def _bytes_in_a_string(raw: bytes) -> bytes:
    """A well-formed body whose title holds arbitrary bytes (invalid UTF-8 included)."""
    return _TEMPLATE.replace(b"TITLE", raw.replace(b'"', b"").replace(b"\\", b""))


@_PROPERTY
@given(
    body=st.binary(max_size=300)
    | _json.map(_encode)
    | st.binary(min_size=1, max_size=12).map(_bytes_in_a_string)
)
async def test_any_body_gets_an_answer_and_only_a_valid_one_moves_the_log(
    api: Api, body: bytes
) -> None:
    head = await api.head()
    response = await _append(api, body)
    _check_refusal(response)
    if response.status_code == 201:  # only the template with printable UTF-8 in its title
        assert body.startswith(_TEMPLATE[:20])
        assert await api.head() == head + 1
    else:
        assert await api.head() == head


def _paths(value: Any, prefix: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    found = [prefix]
    if isinstance(value, dict):
        for key, item in value.items():
            found.extend(_paths(item, (*prefix, key)))
    elif isinstance(value, list):
        for index, item in enumerate(value):
            found.extend(_paths(item, (*prefix, index)))
    return found


def _replace(value: Any, path: tuple[Any, ...], new: Any) -> Any:
    if not path:
        return new
    copy = dict(value) if isinstance(value, dict) else list(value)
    copy[path[0]] = _replace(value[path[0]], path[1:], new)
    return copy


_ANNOUNCED = {
    "type": "AgreementAnnounced",
    "data": {
        "kind": "partnership",
        "title": "SettleMint and Fujitsu partnership",
        "parties": [{"organisation": "SettleMint"}, {"organisation": "Fujitsu"}],
        "announced_on": "2022-12-04",
        "sectors": ["blockchain"],
    },
}
_DOCUMENT = {
    "type": "DocumentRecorded",
    "data": {
        "document_id": "release",
        "name": "Press release.pdf",
        "media_type": "application/pdf",
        "sha256": "a" * 64,
        "size": 1024,
        "location": "https://dms.example.org/release.pdf",
    },
}
_VALID = [
    {"events": [signed()], "correlation_id": "c-1", "expected_version": 0},
    {"events": [_ANNOUNCED, _DOCUMENT], "correlation_id": "c-2", "expected_version": 0},
]
"""Valid bodies: a signing; an announcement (no signing yet) with its document."""


@_PROPERTY
@given(data=st.data())
async def test_a_valid_body_with_one_value_replaced_is_stored_whole_or_refused_whole(
    api: Api, data: st.DataObject
) -> None:
    valid = data.draw(st.sampled_from(_VALID), label="body")
    path = data.draw(st.sampled_from(_paths(valid)[1:]), label="path")
    body = _replace(valid, path, data.draw(_json, label="value"))
    head = await api.head()

    response = await _append(api, _encode(body))

    _check_refusal(response)
    if response.status_code == 201:
        answer = response.json()
        assert answer["from_position"] == head + 1
        assert await api.head() == answer["to_position"]
    else:
        assert response.status_code in (400, 409, 422), response.text
        assert await api.head() == head


_CONTROL = re.compile("[\x00-\x1f\x7f-\x9f\u2028\u2029]")


@_PROPERTY
@given(title=st.text(st.characters(codec="utf-8"), max_size=220))
async def test_a_title_is_stored_exactly_as_sent_or_refused(api: Api, title: str) -> None:
    stream_id = f"agreement-title-{next(_streams)}"
    head = await api.head()

    response = await _append(api, msgspec.json.encode({"events": [signed(title=title)]}), stream_id)

    acceptable = 1 <= len(title) <= 200 and not _CONTROL.search(title)
    if not acceptable:
        assert response.status_code == 422, response.text
        assert response.json()["errors"][0]["path"] == "$.events[0].data.title"
        assert await api.head() == head
        return
    assert response.status_code == 201, response.text
    stored = await api.client.get(f"/streams/{stream_id}/events", headers=api.auth("auditor"))
    assert stored.json()["events"][0]["data"]["title"] == title


@_PROPERTY
@given(
    stream_id=st.from_regex(STREAM_ID_PATTERN, fullmatch=True)
    | st.text(min_size=1, max_size=200)
    | st.text(st.sampled_from("agreement-./ %\\'\";\n\x00_Aa0"), min_size=1, max_size=30)
)
async def test_any_stream_id_is_used_only_if_it_matches_the_pattern(
    api: Api, stream_id: str
) -> None:
    head = await api.head()
    response = await _append(api, msgspec.json.encode({"events": [signed()]}), stream_id)
    _check_refusal(response)
    well_formed = re.fullmatch(STREAM_ID_PATTERN.rstrip("$") + r"\Z", stream_id) is not None
    if response.status_code == 201:
        assert well_formed and stream_id.startswith("agreement-")
        assert response.json()["stream_id"] == stream_id
    else:
        assert await api.head() == head
        if not well_formed:
            assert response.status_code in (404, 422), response.text  # 404: a `/` in the id


@_PROPERTY
@given(
    query=st.lists(
        st.tuples(
            st.sampled_from(["after", "limit", "type", "category", "as_of_position", "x"])
            | _any_text,
            st.text(max_size=30) | st.integers(-(2**70), 2**70).map(str),
        ),
        max_size=4,
    ),
    url=st.sampled_from(["/events", "/streams/agreement-x/events", "/partnerships", "/owners"]),
)
async def test_any_query_string_gets_200_or_a_422_naming_a_parameter(
    api: Api, query: list[tuple[str, str]], url: str
) -> None:
    encoded = urllib.parse.urlencode(
        [(k.encode("utf-8", "surrogatepass"), v.encode("utf-8", "surrogatepass")) for k, v in query]
    )
    response = await api.client.get(f"{url}?{encoded}", headers=api.auth("admin"))
    _check_refusal(response)
    assert response.status_code in (200, 404, 422), response.text
    if response.status_code == 422:
        assert response.json()["errors"][0]["path"].startswith("query.")
