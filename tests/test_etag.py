"""ETags on the projection reads: a dashboard that polls with If-None-Match gets 304 while
nothing it shows has changed, and the new state as soon as something has."""

from __future__ import annotations

from typing import Any

import httpx
import pytest

from service.cli import record_demo
from tests._owners import els_of
from tests.conftest import TODAY, Api

IMEC = "agreement-imec-rapidus-2022"
AT = "2023-01-10T09:00:00Z"


@pytest.fixture
async def demo(api: Api) -> Api:
    await record_demo(api.services.store)
    head = await api.head()
    projections = api.services.projections
    assert projections is not None and await projections.wait_for(head, 5)
    return api


async def get(api: Api, url: str, etag: str | None = None, **params: Any) -> httpx.Response:
    headers = api.auth("viewer")
    if etag is not None:
        headers["If-None-Match"] = etag
    return await api.client.get(url, params=params, headers=headers)


async def note(api: Api, text: str) -> int:
    response = await api.client.post(
        f"/streams/{IMEC}/events",
        json={"events": [{"type": "NoteAttached", "occurred_at": AT, "data": {"text": text}}]},
        headers=api.auth("recorder"),
    )
    assert response.status_code == 201, response.text
    position: int = response.json()["to_position"]
    return position


@pytest.mark.parametrize(
    "url", [f"/partnerships/{IMEC}", "/partnerships", "/owners/{els}", "/owners", "/delegations"]
)
async def test_a_poll_with_the_etag_is_not_modified_until_the_state_moves(
    demo: Api, url: str
) -> None:
    url = url.format(els=await els_of(demo.services.store.engine))
    first = await get(demo, url)
    assert first.status_code == 200
    tag = first.headers["etag"]
    assert tag.startswith('"') and tag.endswith('"')
    assert first.headers["cache-control"] == "no-store"

    again = await get(demo, url, etag=tag)
    assert again.status_code == 304
    assert again.content == b""
    assert again.headers["etag"] == tag

    weak_or_listed = await get(demo, url, etag=f'"other", W/{tag}')
    assert weak_or_listed.status_code == 304
    assert (await get(demo, url, etag='"something-else"')).status_code == 200

    position = await note(demo, "a new note moves the log")
    changed = await get(demo, url, etag=tag, wait_for_position=position)
    assert changed.status_code == 200
    assert changed.json()["position"] == position
    assert changed.headers["etag"] != tag


async def test_the_body_of_a_read_is_the_same_for_the_same_etag(demo: Api) -> None:
    one = await get(demo, f"/partnerships/{IMEC}")
    two = await get(demo, "/partnerships/imec-rapidus-2022")
    assert one.headers["etag"] == two.headers["etag"]
    assert one.content == two.content
    assert one.json()["partnership"]["agreement_id"] == IMEC


async def test_owner_tags_name_the_day_overdue_was_judged_on(demo: Api) -> None:
    response = await get(demo, f"/owners/{await els_of(demo.services.store.engine)}")
    assert TODAY.isoformat() in response.headers["etag"]
    assert response.json()["owner"]["today"] == TODAY.isoformat()


async def test_reads_of_the_past_are_tagged_by_their_position(demo: Api) -> None:
    then = await demo.head()
    url = f"/partnerships/{IMEC}"
    past = await get(demo, url, as_of_position=then)
    assert past.status_code == 200 and past.json()["position"] == then
    assert past.content == (await get(demo, url)).content  # the past at the head is the present
    now = await note(demo, "later")
    # The state right after `then` never changes, whatever is appended later.
    assert (await get(demo, url, etag=past.headers["etag"], as_of_position=then)).status_code == 304
    current = await get(demo, url, etag=past.headers["etag"], wait_for_position=now)
    assert current.status_code == 200 and current.json()["partnership"]["note_count"] == 1


async def test_a_missing_partnership_is_404_without_an_etag(demo: Api) -> None:
    response = await get(demo, "/partnerships/agreement-nope", etag="*")
    assert response.status_code == 404
    assert "etag" not in response.headers
