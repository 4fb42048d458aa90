"""What one reader can make the service do: parse a huge query, fill the read cache with
made-up ids, replay the whole log many times at once. Each is bounded by a setting."""

from __future__ import annotations

import asyncio
import dataclasses
import itertools
import secrets
import string
import time
from typing import Any

import pytest
from starlette.datastructures import ImmutableMultiDict, QueryParams

from projections import as_of
from service.cli import record_demo
from service.settings import Settings
from tests.conftest import Api

PARAMETERS = 100
CACHE_ENTRIES = 50


@pytest.fixture
def settings(settings: Settings) -> Settings:
    return dataclasses.replace(
        settings,
        max_query_parameters=PARAMETERS,
        cache_entries=CACHE_ENTRIES,
        max_concurrent_replays=1,
        replay_wait_seconds=0.2,
    )


@pytest.fixture
def parsing(monkeypatch: pytest.MonkeyPatch) -> dict[str, int]:
    """How often a query string is parsed, and how often one name is looked up in it."""
    counts = {"parsed": 0, "getlist": 0}
    parse, getlist = QueryParams.__init__, ImmutableMultiDict.getlist

    def counting_parse(self: QueryParams, *args: Any, **kwargs: Any) -> None:
        counts["parsed"] += 1
        parse(self, *args, **kwargs)

    def counting_getlist(self: ImmutableMultiDict[Any, Any], key: Any) -> list[Any]:
        counts["getlist"] += 1
        return getlist(self, key)

    monkeypatch.setattr(QueryParams, "__init__", counting_parse)
    monkeypatch.setattr(ImmutableMultiDict, "getlist", counting_getlist)
    return counts


async def test_twelve_thousand_parameters_are_refused_before_any_is_read(
    api: Api, parsing: dict[str, int]
) -> None:
    names = itertools.islice(itertools.product(string.ascii_lowercase, repeat=3), 12_000)
    query = "&".join("".join(name) for name in names)  # aaa&aab&…: 48 KB
    answer = await api.client.get(f"/owners?{query}", headers=api.auth("viewer"))
    assert answer.status_code == 422
    assert answer.headers["content-type"] == "application/problem+json"
    assert answer.json()["errors"] == [
        {"path": "query", "message": f"at most {PARAMETERS} parameters are allowed"}
    ]
    assert parsing == {"parsed": 0, "getlist": 0}


async def test_parameters_at_the_limit_are_read_in_one_pass(
    api: Api, parsing: dict[str, int]
) -> None:
    query = "&".join(f"k{n:05}" for n in range(PARAMETERS))
    answer = await api.client.get(f"/owners?{query}", headers=api.auth("viewer"))
    assert answer.status_code == 422
    assert answer.json()["errors"][0]["message"] == "unknown query parameter"
    assert parsing == {"parsed": 1, "getlist": 0}  # not one lookup per distinct name


async def _caught_up(api: Api) -> None:
    projections = api.services.projections
    assert projections is not None
    head = await api.head()
    deadline = time.monotonic() + 30
    while projections.cache.position != head:
        assert time.monotonic() < deadline, "the runner did not catch up"
        await asyncio.sleep(0.01)


async def test_lookups_of_made_up_owners_keep_the_cache_at_its_bound(api: Api) -> None:
    await _caught_up(api)
    projections = api.services.projections
    assert projections is not None
    for _ in range(CACHE_ENTRIES * 6):
        owner = secrets.token_hex(8)
        answer = await api.client.get(f"/owners/{owner}", headers=api.auth("viewer"))
        assert answer.status_code == 404
        answer = await api.client.get(
            "/partnerships", params={"owner": owner}, headers=api.auth("viewer")
        )
        assert answer.status_code == 200
    assert projections.cache.answers_held == CACHE_ENTRIES


async def test_as_of_replays_wait_for_a_turn_and_are_refused_past_the_wait(
    api: Api, monkeypatch: pytest.MonkeyPatch
) -> None:
    await record_demo(api.services.store)
    entered, release = asyncio.Event(), asyncio.Event()
    replay = as_of.picture_at

    async def held(*args: Any, **kwargs: Any) -> as_of.Picture:
        entered.set()
        await release.wait()
        return await replay(*args, **kwargs)

    monkeypatch.setattr(as_of, "picture_at", held)
    # Owners in force on a business date are always replayed (as of a position alone, an owner
    # page may count stored rows and fold back the few partnerships changed since instead).
    first = asyncio.create_task(
        api.client.get("/owners", params={"in_force_on": "2022-12-06"}, headers=api.auth("viewer"))
    )
    async with asyncio.timeout(30):
        await entered.wait()
    busy = await api.client.get(
        "/owners", params={"in_force_on": "2022-12-07"}, headers=api.auth("viewer")
    )
    assert busy.status_code == 503
    assert busy.headers["content-type"] == "application/problem+json"
    assert busy.json()["type"].endswith("/replays-busy")
    assert busy.headers["retry-after"] == "1"
    release.set()
    assert (await first).status_code == 200


async def test_answers_for_one_cut_are_replayed_once(api: Api) -> None:
    await record_demo(api.services.store)
    projections = api.services.projections
    assert projections is not None
    head = await api.head()
    assert await projections.wait_for(head, timeout=30)
    # Reads in force on a business date replay the log (as of a position alone, pages may fold
    # streams or stored rows instead); each date is replayed once, whatever is asked of it.
    asked: list[tuple[str, dict[str, Any]]] = [
        ("/partnerships", {"in_force_on": "2022-12-05"}),
        ("/owners", {"in_force_on": "2022-12-05"}),
        ("/delegations", {"in_force_on": "2022-12-05"}),
        ("/partnerships", {"in_force_on": "2022-12-05", "status": "active"}),
        ("/owners", {"in_force_on": "2023-01-01"}),
        ("/partnerships", {"in_force_on": "2023-01-01"}),
    ]
    answers = [
        await api.client.get(path, params=params, headers=api.auth("viewer"))
        for path, params in asked
    ]
    assert [a.status_code for a in answers] == [200] * len(asked)
    assert [a.json()["position"] for a in answers] == [head] * len(asked)
    assert projections.replays.replayed == 2
