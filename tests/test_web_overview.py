"""The overview and the partnerships list over HTTP: expiring soon, follow-ups due per
month, the list's filters (status, kind, country, words) a page at a time, and a
partnership's timeline picture."""

from __future__ import annotations

import datetime as dt
import re
from typing import Any

import pytest

from service.web import data
from tests.conftest import Api, signed
from tests.test_web import sign_in


async def _record(api: Api, stream: str, *events: dict[str, Any]) -> int:
    answer = await api.client.post(
        f"/streams/{stream}/events", json={"events": list(events)}, headers=api.auth("recorder")
    )
    assert answer.status_code == 201, answer.text
    return int(answer.json()["to_position"])


async def _register(api: Api) -> dt.date:
    """Four agreements: one whose term ends in 30 days, one in 200 days, one open-ended
    with follow-ups due in two months, one with a Japanese party and a Korean one."""
    today = api.services.settings.current_date()
    day = today.isoformat()
    soon = (today + dt.timedelta(days=30)).isoformat()
    later = (today + dt.timedelta(days=200)).isoformat()
    await _record(api, "agreement-ends-soon", signed(title="Ends soon", expires_on=soon))
    await _record(api, "agreement-ends-later", signed(title="Ends later", expires_on=later))

    def follow_up(fid: str, due: dt.date) -> dict[str, Any]:
        data = {
            "follow_up_id": fid,
            "title": fid,
            "due_on": due.isoformat(),
            "owner": {"unit": "FIT Tokyo office"},
        }
        return {"type": "FollowUpOpened", "data": data}

    first = today.replace(day=1)
    next_month = (first + dt.timedelta(days=32)).replace(day=1)
    await _record(
        api,
        "agreement-open-ended",
        signed(title="Open-ended", kind="MoU", signed_on="2022-01-10"),
        follow_up("a", next_month),
        follow_up("b", next_month + dt.timedelta(days=3)),
        follow_up("c", (next_month + dt.timedelta(days=32)).replace(day=1)),
    )
    position = await _record(
        api,
        "agreement-seoul-tokyo",
        signed(
            title="서울 東京 research partnership",
            kind="partnership",
            parties=[
                {"organisation": "KAIST", "country": "Korea"},
                {"organisation": "東京大学", "country": "Japan"},
            ],
            signed_on=day,
        ),
    )
    assert api.services.projections is not None
    await api.services.projections.wait_for(position, 10)
    return today


def _titles(text: str) -> list[str]:
    return re.findall(r'<a href="/web/partnerships/[^"]+" dir="auto">([^<]+)</a>', text)


async def test_the_overview_shows_what_expires_soon_and_what_is_due_per_month(
    api: Api,
) -> None:
    today = await _register(api)
    await sign_in(api, "viewer")
    page = await api.client.get("/", headers={"accept": "text/html"})
    assert page.status_code == 200
    expiring = page.text[page.text.index('id="expiring-h"') :]
    expiring = expiring[: expiring.index("</section>")]
    soon = (today + dt.timedelta(days=30)).isoformat()
    assert _titles(expiring) == ["Ends soon"] and soon in expiring
    assert '<span class="n">1</span> agreement expiring in 90 days' in page.text

    chart = page.text[page.text.index("<svg") : page.text.index("</svg>")]
    bars = re.findall(r'<rect class="bar"[^>]*height="(\d+)"', chart)
    assert len(bars) == 2 and int(bars[0]) > int(bars[1]) > 0  # two due next month, one after
    assert ": 2; " in chart  # the chart's text alternative names the counts


async def test_the_list_filters_by_status_kind_country_and_words(api: Api) -> None:
    await _register(api)
    await sign_in(api, "viewer")

    async def titles(query: str) -> list[str]:
        page = await api.client.get(f"/web/partnerships?{query}")
        assert page.status_code == 200, query
        table = page.text[page.text.index("<table") :]
        return _titles(table)

    assert await titles("kind=MoU") == ["Open-ended"]
    assert await titles("country=japan") == ["서울 東京 research partnership"]
    assert await titles("q=東京") == ["서울 東京 research partnership"]
    assert await titles("expiring=90") == ["Ends soon"]
    assert sorted(await titles("status=active")) == sorted(
        ["Ends soon", "Ends later", "Open-ended", "서울 東京 research partnership"]
    )
    assert await titles("status=terminated") == []
    assert len(await titles("kind=bogus&status=bogus&expiring=7")) == 4  # unknown: ignored


async def test_the_list_goes_a_page_at_a_time(api: Api, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(data, "PARTNERSHIPS_SHOWN", 3)
    await _register(api)
    await sign_in(api, "viewer")
    first = await api.client.get("/web/partnerships?status=active")
    assert "on this page, more on the next" in first.text
    found = re.search(r'<a href="([^"]+)" rel="next">', first.text)
    assert found is not None
    following = found[1].replace("&amp;", "&")
    assert "status=active" in following  # the filters carry over
    second = await api.client.get(following)
    listed = _titles(first.text[first.text.index("<table") :]) + _titles(
        second.text[second.text.index("<table") :]
    )
    assert len(listed) == len(set(listed)) == 4
    assert 'rel="next"' not in second.text and "First page" in second.text


async def test_a_partnership_page_draws_its_life_on_a_timeline(api: Api) -> None:
    today = await _register(api)
    await sign_in(api, "viewer")
    page = await api.client.get("/web/partnerships/agreement-open-ended")
    picture = page.text[page.text.index('<svg class="chart life"') :]
    picture = picture[: picture.index("</svg>")]
    assert re.findall(r'class="mark ([a-z]+)"', picture) == ["signed", "due", "due", "due"]
    assert "3 open follow-ups ahead or overdue (0 overdue)" in picture
    assert f"today {today.isoformat()}" in picture
    xs = [float(x) for x in re.findall(r'<circle class="mark [a-z]+" cx="([\d.]+)"', picture)]
    assert xs == sorted(xs) and xs[0] < xs[1]  # by date, the signing first

    ending = await api.client.get("/web/partnerships/agreement-ends-soon")
    picture = ending.text[ending.text.index('<svg class="chart life"') :]
    ends_on = (today + dt.timedelta(days=30)).isoformat()
    assert f"term ends {ends_on}" in picture[: picture.index("</svg>")]


async def test_the_due_per_month_chart_looks_ahead_with_overdue_as_its_own_bar(
    api: Api,
) -> None:
    """People plan ahead: the chart runs from this month over the next eleven (months with
    nothing due included), what is overdue is one bar before them, and a table says the same."""
    today = await _register(api)
    late = {
        "follow_up_id": "late",
        "title": "late",
        "due_on": "2022-02-01",
        "owner": {"unit": "FIT Tokyo office"},
    }
    position = await _record(api, "agreement-open-ended", {"type": "FollowUpOpened", "data": late})
    assert api.services.projections is not None
    await api.services.projections.wait_for(position, 10)
    await sign_in(api, "viewer")
    page = await api.client.get("/", headers={"accept": "text/html"})
    chart = page.text[page.text.index("<svg") : page.text.index("</svg>")]
    assert re.findall(r'<rect class="bar overdue"', chart) == ['<rect class="bar overdue"']
    months = re.findall(r'<text class="month"[^>]*>([A-Z][a-z]{2}|overdue)</text>', chart)
    this_month = today.strftime("%b")
    assert months[:2] == ["overdue", this_month] and len(months) == 13
    assert "2022" not in chart  # the overdue one's month is not a bar of its own
    title = chart[chart.index("<title") : chart.index("</title>")]
    assert "overdue: 1; " + today.strftime("%B %Y") + ": 0; " in title
    table = page.text[page.text.index("The numbers as a table") :]
    table = table[: table.index("</table>")]
    assert re.search(r"<th scope=\"row\">overdue</th><td>1</td>", table)


async def test_the_delegations_page_lists_the_agreements_recorded_under_each(api: Api) -> None:
    formed = {
        "type": "DelegationFormed",
        "data": {
            "name": "Economic mission to Japan",
            "leader": {"name": "Princess Astrid"},
            "member_count": 400,
            "starts_on": "2022-12-03",
            "ends_on": "2022-12-10",
            "destinations": ["Tokyo", "大阪"],
            "country": "Japan",
        },
    }
    await _record(api, "delegation-mission-japan", formed)
    await _record(
        api,
        "agreement-during-mission",
        signed(title="Signed during the mission", delegation_id="delegation-mission-japan"),
    )
    position = await _record(api, "agreement-elsewhere", signed(title="Signed elsewhere"))
    assert api.services.projections is not None
    await api.services.projections.wait_for(position, 10)
    await sign_in(api, "viewer")
    page = await api.client.get("/web/delegations")
    assert page.status_code == 200
    mission = page.text[page.text.index("Economic mission to Japan") :]
    assert _titles(mission) == ["Signed during the mission"]


async def test_follow_ups_due_beyond_the_chart_are_said_in_words(api: Api) -> None:
    today = api.services.settings.current_date()
    far = today.replace(year=today.year + 3, day=1)
    due = {
        "follow_up_id": "far",
        "title": "far",
        "due_on": far.isoformat(),
        "owner": {"unit": "FIT Tokyo office"},
    }
    await _record(api, "agreement-far", signed(title="Far"))
    position = await _record(api, "agreement-far", {"type": "FollowUpOpened", "data": due})
    assert api.services.projections is not None
    await api.services.projections.wait_for(position, 10)
    await sign_in(api, "viewer")
    page = await api.client.get("/", headers={"accept": "text/html"})
    section = page.text[page.text.index('id="chart-h"') :]
    section = section[: section.index("</section>")]
    assert "Nothing is due" not in section
    assert f"1 due later than these twelve months, the first on {far.isoformat()}" in section
