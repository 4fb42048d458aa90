"""The browser pages over HTTP, without a browser: sessions, CSRF, headers and recording
through a form (the browser tests in `test_web_browser.py` drive the same in Chromium)."""

from __future__ import annotations

import html
import re
import uuid
from typing import Any

import httpx
import msgspec
import pytest

from service.web import sessions
from tests.conftest import Api, signed

AGREEMENT = "agreement-web-test"


async def sign_in(api: Api, role: str) -> httpx.Response:
    form = await api.client.get("/login")
    assert form.status_code == 200
    answer = await api.client.post(
        "/login", data={"token": api.tokens[role], "csrf": _csrf(form.text), "next": "/"}
    )
    assert answer.status_code == 303, answer.text
    return answer


def _csrf(text: str) -> str:
    found = re.search(r'name="csrf" value="([^"]+)"', text)
    assert found is not None, text
    return found[1]


def _hidden(text: str, form: str) -> dict[str, str]:
    """The values of the inputs of the form `data-form=form` on a page (hidden or prefilled),
    as a browser would send them untouched."""
    start = text.index(f'data-form="{form}"')
    body = text[start : text.index("</form>", start)]
    found = re.findall(r'<input[^>]*name="([^"]+)"[^>]*value="([^"]*)"', body)
    return {name: html.unescape(value) for name, value in found}


async def _agreement(api: Api) -> str:
    """Record an agreement; the path of its page, once the page shows it (read-your-writes)."""
    answer = await api.client.post(
        f"/streams/{AGREEMENT}/events", json={"events": [signed()]}, headers=api.auth("recorder")
    )
    assert answer.status_code == 201, answer.text
    return f"/web/partnerships/{AGREEMENT}?after={answer.json()['to_position']}"


async def test_a_browser_without_a_session_is_sent_to_sign_in(api: Api) -> None:
    answer = await api.client.get("/", headers={"accept": "text/html"})
    assert answer.status_code == 303
    assert answer.headers["location"] == "/login?next=%2F"
    index = await api.client.get("/", headers={"accept": "application/json"})
    assert index.status_code == 200 and index.json()["sign_in"] == "/login"


async def test_signing_in_starts_a_hardened_session(api: Api) -> None:
    answer = await sign_in(api, "viewer")
    cookie = next(c for c in answer.headers.get_list("set-cookie") if c.startswith("agr_session="))
    assert "HttpOnly" in cookie and "SameSite=lax" in cookie and "Max-Age=28800" in cookie
    assert "Secure" not in cookie  # plain HTTP here; see the HTTPS test
    assert api.tokens["viewer"] not in cookie  # the cookie never carries the token

    page = await api.client.get("/", headers={"accept": "text/html"})
    assert page.status_code == 200
    assert "test viewer" in page.text
    policy = page.headers["content-security-policy"]
    assert "default-src 'none'" in policy and "script-src 'self'" in policy
    assert "'unsafe-inline'" not in policy
    assert page.headers["x-frame-options"] == "DENY"
    assert page.headers["cache-control"] == "no-store"


async def test_over_https_the_session_cookie_is_secure(api: Api) -> None:
    api.client.base_url = httpx.URL("https://agreements")
    answer = await sign_in(api, "viewer")
    cookie = next(c for c in answer.headers.get_list("set-cookie") if c.startswith("agr_session="))
    assert "Secure" in cookie


async def test_sign_in_is_refused_without_its_csrf_token_or_with_a_bad_token(api: Api) -> None:
    await api.client.get("/login")
    forged = await api.client.post("/login", data={"token": api.tokens["admin"], "csrf": "x"})
    assert forged.status_code == 403
    assert "agr_session" not in forged.headers.get("set-cookie", "")
    form = await api.client.get("/login")
    wrong = await api.client.post(
        "/login", data={"token": "agr_0000000000000000_" + "A" * 43, "csrf": _csrf(form.text)}
    )
    assert wrong.status_code == 401
    assert "unknown or has been revoked" in wrong.text


async def test_an_expired_or_altered_session_is_no_session(
    api: Api, monkeypatch: pytest.MonkeyPatch
) -> None:
    await sign_in(api, "viewer")
    value = api.client.cookies["agr_session"]
    token_id, expires, nonce, mac = value.split(".")
    api.client.cookies.set("agr_session", f"{token_id}.{int(expires) + 3600}.{nonce}.{mac}")
    altered = await api.client.get("/web/owners")
    assert altered.status_code == 303 and altered.headers["location"].startswith("/login")

    api.client.cookies.set("agr_session", value)
    assert (await api.client.get("/web/owners")).status_code == 200
    monkeypatch.setattr(sessions.time, "time", lambda: int(expires) + 1)
    expired = await api.client.get("/web/owners")
    assert expired.status_code == 303 and expired.headers["location"].startswith("/login")


async def test_a_form_records_through_the_store_as_the_signed_in_token(api: Api) -> None:
    path = await _agreement(api)
    await sign_in(api, "recorder")
    page = await api.client.get(path)
    assert page.status_code == 200
    fields: dict[str, Any] = {
        **_hidden(page.text, "follow-up"),
        "title": "Plan the pilot line visit",
        "due_on": "2023-06-30",
        "owner.unit": "FIT Tokyo office",
        "owner.person.name": "佐藤花子",
        "owner.person.title": "",
        "follow_up_id": "",
    }
    answer = await api.client.post(f"/web/partnerships/{AGREEMENT}/record/follow-up", data=fields)
    assert answer.status_code == 303, answer.text

    events = await api.services.store.read_stream(AGREEMENT)
    assert [e.type for e in events] == ["AgreementSigned", "FollowUpOpened"]
    opened = events[-1]
    data = msgspec.json.decode(opened.data)
    assert data["owner"] == {"unit": "FIT Tokyo office", "person": {"name": "佐藤花子"}}
    assert data["title"] == "Plan the pilot line visit" and data["due_on"] == "2023-06-30"
    assert opened.event_id == fields["event_id"]
    metadata = msgspec.json.decode(opened.metadata)
    assert metadata["actor"] == "test recorder"
    assert api.tokens["recorder"].startswith(f"agr_{metadata['token_id']}_")

    followed = await api.client.get(answer.headers["location"])
    assert "Plan the pilot line visit" in followed.text
    assert "佐藤花子" in followed.text


async def test_a_rule_refusal_is_shown_beside_its_field(api: Api) -> None:
    path = await _agreement(api)
    await sign_in(api, "recorder")
    page = await api.client.get(path)
    fields = {
        **_hidden(page.text, "witness"),
        "witness.name": "Jan Jambon",
        "witness.title": "",
        "witnessed_on": "2020-01-01",
    }
    answer = await api.client.post(f"/web/partnerships/{AGREEMENT}/record/witness", data=fields)
    assert answer.status_code == 422
    assert re.search(
        r'name="witnessed_on"[^>]*aria-invalid="true" aria-describedby="([^"]+)"', answer.text
    )
    assert 'class="field-error"' in answer.text
    assert await api.services.store.stream_version(AGREEMENT) == 1
    # The page follows /live by re-fetching its own address; an answer to a post has none.
    assert 'name="agreements-live"' in page.text
    assert 'name="agreements-live"' not in answer.text


async def test_recording_needs_the_csrf_token_and_a_recording_role(api: Api) -> None:
    path = await _agreement(api)
    await sign_in(api, "recorder")
    page = await api.client.get(path)
    fields = {**_hidden(page.text, "note"), "text": "A note", "link": ""}
    without = {k: v for k, v in fields.items() if k != "csrf"}
    refused = await api.client.post(f"/web/partnerships/{AGREEMENT}/record/note", data=without)
    assert refused.status_code == 403

    api.client.cookies.clear()
    await sign_in(api, "viewer")
    viewer_page = await api.client.get(path)
    assert 'class="record"' not in viewer_page.text
    as_viewer = {**fields, "csrf": _csrf(viewer_page.text), "event_id": str(uuid.uuid4())}
    refused = await api.client.post(f"/web/partnerships/{AGREEMENT}/record/note", data=as_viewer)
    assert refused.status_code == 403
    assert await api.services.store.stream_version(AGREEMENT) == 1


async def test_the_past_side_by_side_known_on_a_date_and_in_force_on_a_date(api: Api) -> None:
    # Signed on 2022-12-06 (business time), recorded today: it was not known on 2022-12-31,
    # but it is in force on that date as the register knows it now.
    path = await _agreement(api)
    await sign_in(api, "viewer")
    assert (await api.client.get(path)).status_code == 200
    page = await api.client.get(
        f"/web/partnerships/{AGREEMENT}/as-of?known_on=2022-12-31&in_force_on=2022-12-31"
    )
    assert page.status_code == 200
    known = page.text[page.text.index('id="as-known"') : page.text.index('id="in-force"')]
    in_force = page.text[page.text.index('id="in-force"') :]
    assert "Not in the register yet." in known
    assert "Luc Van den hove" in in_force and "Not in the register yet." not in in_force


async def test_every_form_records_its_event(api: Api) -> None:
    path = await _agreement(api)
    await sign_in(api, "recorder")
    filled: list[tuple[str, dict[str, str]]] = [
        (
            "assign",
            {
                "owner.unit": "FIT Tokyo office",
                "owner.person.name": "Els Verhulst",
                "assigned_by": "Government of Flanders",
                "assigned_on": "2022-12-06",
            },
        ),
        (
            "endorse",
            {
                "endorser.name": "西村康稔",
                "endorser.title": "Minister",
                "on_behalf_of": "METI",
                "endorsed_on": "2022-12-06",
            },
        ),
        ("witness", {"witness.name": "Jan Jambon", "witnessed_on": "2022-12-06"}),
        ("follow-up", {"title": "Roadmap", "due_on": "2023-06-30", "follow_up_id": "roadmap"}),
        ("note", {"text": "Kick-off held.", "link": "https://example.org/minutes"}),
        ("hand-over", {"to_owner.unit": "FIT Osaka office", "transferred_on": "2023-01-10"}),
        ("complete:roadmap", {"completed_on": "2023-05-01", "outcome": "Agreed."}),
    ]
    for form, values in filled:
        page = await api.client.get(path)
        name = form.split(":")[0]
        fields = {**_hidden(page.text, form), **values}
        answer = await api.client.post(f"/web/partnerships/{AGREEMENT}/record/{name}", data=fields)
        assert answer.status_code == 303, (form, answer.text[-2000:])
        path = answer.headers["location"]
    events = await api.services.store.read_stream(AGREEMENT)
    assert [e.type for e in events] == [
        "AgreementSigned",
        "ResponsibilityAssigned",
        "AgreementEndorsed",
        "AgreementWitnessed",
        "FollowUpOpened",
        "NoteAttached",
        "ResponsibilityTransferred",
        "FollowUpCompleted",
    ]
    handed = msgspec.json.decode(events[6].data)
    assert handed["from_owner"]["person"]["name"] == "Els Verhulst"
    assert handed["to_owner"] == {"unit": "FIT Osaka office"}
    page = await api.client.get(path)
    assert "西村康稔" in page.text and "completed" in page.text

    cancel_page = await api.client.get(path)
    assert 'data-form="cancel:roadmap"' not in cancel_page.text  # closed: no more forms


async def test_a_new_agreement_with_its_parties_and_signatories(api: Api) -> None:
    await sign_in(api, "recorder")
    page = await api.client.get("/web/partnerships/new")
    assert page.status_code == 200
    fields = {
        **_hidden(page.text, "agreement"),
        "agreement_id": "fit-jetro-2022",
        "kind": "MoC",
        "title": "Startup support",
        "signed_on": "2022-12-05",
        "sectors": "startups, innovation",
        "parties[0].organisation": "Flanders Investment & Trade",
        "parties[0].signatory.name": "Joy Donné",
        "parties[1].organisation": "JETRO",
        "parties[1].signatory.name": "曽根一朗",
        "parties[1].signatory.title": "Executive Vice President",
    }
    answer = await api.client.post("/web/partnerships/new", data=fields)
    assert answer.status_code == 303, answer.text[-1500:]
    again = await api.client.post("/web/partnerships/new", data=fields)  # a double submit
    assert again.status_code == 303 and "again=1" in again.headers["location"]

    events = await api.services.store.read_stream("agreement-fit-jetro-2022")
    assert len(events) == 1
    data = msgspec.json.decode(events[0].data)
    assert data["sectors"] == ["startups", "innovation"]
    assert data["parties"] == [
        {"organisation": "Flanders Investment & Trade", "signatory": {"name": "Joy Donné"}},
        {
            "organisation": "JETRO",
            "signatory": {"name": "曽根一朗", "title": "Executive Vice President"},
        },
    ]
    shown = await api.client.get(answer.headers["location"])
    assert "曽根一朗" in shown.text

    taken = await api.client.post(
        "/web/partnerships/new", data={**fields, "event_id": str(uuid.uuid4())}
    )
    assert taken.status_code == 422
    assert "already recorded" in taken.text
    one_party = {**fields, "event_id": str(uuid.uuid4()), "agreement_id": "alone-2022"}
    one_party["parties[1].organisation"] = ""
    one_party["parties[1].signatory.name"] = ""
    one_party["parties[1].signatory.title"] = ""
    refused = await api.client.post("/web/partnerships/new", data=one_party)
    assert refused.status_code == 422
    assert "parties: at least 2 are needed" in refused.text
    assert await api.services.store.stream_version("agreement-alone-2022") == 0


async def test_an_endorsement_may_leave_out_who_gave_it(api: Api) -> None:
    path = await _agreement(api)
    await sign_in(api, "recorder")
    page = await api.client.get(path)
    form = page.text[page.text.index('data-form="endorse"') :]
    form = form[: form.index("</form>")]
    for name in ("endorser.name", "on_behalf_of"):  # a browser lets the field stay empty
        (tag,) = re.findall(rf'<input[^>]*name="{re.escape(name)}"[^>]*>', form)
        assert " required" not in tag, tag
    fields = {**_hidden(page.text, "endorse"), "endorsed_on": "2022-12-06"}
    for name in ("endorser.name", "endorser.title", "on_behalf_of"):
        fields[name] = ""
    answer = await api.client.post(f"/web/partnerships/{AGREEMENT}/record/endorse", data=fields)
    assert answer.status_code == 303, answer.text
    shown = await api.client.get(answer.headers["location"])
    assert "endorser not named" in shown.text
