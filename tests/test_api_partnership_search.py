"""Partnership search over HTTP, on both databases: party, country, person, delegation, kind,
signing dates and `q=` words in any script, alone and combined, live, as of a position and as
CSV, with bad input refused."""

from __future__ import annotations

from typing import Any

from tests.conftest import Api, signed


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
    await record(api, "imec-rapidus", signed(title="imec-Rapidus MoC"))
    await record(
        api,
        "jetro-fit",
        signed(
            kind="MoU",
            title="JETRO-FIT 協力覚書",
            signed_on="2023-05-10",
            parties=[
                {
                    "organisation": "JETRO",
                    "country": "Japan",
                    "signatory": {"name": "佐藤花子"},
                },
                {"organisation": "FIT", "country": "Belgium"},
            ],
        ),
    )
    return await record(
        api,
        "vub-osaka",
        signed(
            title="VUB-Osaka University MoU",
            signed_on="2024-01-15",
            parties=[
                {"organisation": "VUB", "country": "Belgium"},
                {"organisation": "Osaka University", "country": "Japan"},
            ],
        ),
    )


async def found(api: Api, **params: Any) -> list[str]:
    response = await api.client.get("/partnerships", params=params, headers=api.auth("viewer"))
    assert response.status_code == 200, response.text
    return sorted(
        p["agreement_id"].removeprefix("agreement-") for p in response.json()["partnerships"]
    )


async def test_each_search_filter(api: Api) -> None:
    head = await register(api)
    assert len(await found(api, wait_for_position=head)) == 3

    assert await found(api, q="rapidus") == ["imec-rapidus"]
    assert await found(api, q="佐藤") == ["jetro-fit"]
    assert await found(api, q="協力") == ["jetro-fit"]
    assert await found(api, q="osaka mou") == ["vub-osaka"]
    assert await found(api, q="osaka rapidus") == []
    assert await found(api, q="100%") == []
    assert await found(api, party="rapidus") == ["imec-rapidus"]
    assert await found(api, party="Rapid") == []
    assert await found(api, country="belgium") == ["jetro-fit", "vub-osaka"]
    assert await found(api, person="佐藤花子") == ["jetro-fit"]
    assert await found(api, person="Atsuyoshi Koike") == ["imec-rapidus"]
    assert await found(api, kind="mou") == ["jetro-fit"]
    assert await found(api, signed_from="2023-01-01") == ["jetro-fit", "vub-osaka"]
    assert await found(api, signed_to="2023-05-10") == ["imec-rapidus", "jetro-fit"]
    assert await found(api, signed_from="2023-01-01", country="japan", q="vub") == ["vub-osaka"]


async def test_search_as_of_a_position_and_as_csv(api: Api) -> None:
    before = await register(api)
    head = await record(api, "late", signed(title="Rapidus again"))
    assert await found(api, q="rapidus", wait_for_position=head) == ["imec-rapidus", "late"]
    assert await found(api, q="rapidus", as_of_position=before) == ["imec-rapidus"]
    response = await api.client.get(
        "/partnerships", params={"q": "佐藤", "format": "csv"}, headers=api.auth("viewer")
    )
    lines = response.content.decode("utf-8-sig").splitlines()
    assert len(lines) == 2 and "agreement-jetro-fit" in lines[1]


async def test_bad_search_input_is_refused_naming_the_parameter(api: Api) -> None:
    for params, name in [
        ({"signed_from": "2023-13-01"}, "signed_from"),
        ({"signed_to": "soon"}, "signed_to"),
        ({"q": ""}, "q"),
        ({"party": "x" * 201}, "party"),
    ]:
        response = await api.client.get("/partnerships", params=params, headers=api.auth("viewer"))
        assert response.status_code == 422, params
        assert name in response.text


async def test_q_mixes_short_and_long_words_and_takes_quotes_and_operators_as_text(
    api: Api,
) -> None:
    await record(api, "quoted", signed(title='The "NEAR" AND OR * clause'))
    head = await register(api)
    await found(api, wait_for_position=head)
    assert await found(api, q="jetro 佐藤") == ["jetro-fit"]
    assert await found(api, q="imec 佐藤") == []
    assert await found(api, q="藤花 fit") == ["jetro-fit"]
    assert await found(api, q='"near"') == ["quoted"]
    assert await found(api, q="and or *") == ["quoted"]
    assert await found(api, q="NEAR(") == []
    assert await found(api, q="o'brien \\ _%") == []


async def test_q_and_person_find_a_name_by_its_latin_spelling(api: Api) -> None:
    parties = [
        {
            "organisation": "Tohoku University",
            "signatory": {"name": "佐藤花子", "name_latin": "SATO Hanako"},
        },
        {"organisation": "KU Leuven"},
    ]
    await record(api, "tohoku-leuven", signed(title="Exchange", parties=parties))
    head = await register(api)
    assert await found(api, q="sato hanako", wait_for_position=head) == ["tohoku-leuven"]
    assert await found(api, q="花子") == ["jetro-fit", "tohoku-leuven"]
    assert await found(api, person="Sato Hanako") == ["tohoku-leuven"]
