"""The correction form over HTTP, without a browser: a person picks an event of the
history, edits the fields it had, and the form records an `EventCorrected` whose `changes`
is the JSON Merge Patch of what they changed.

Which corrections the register accepts is the correction rules' business; where a test
records one, it lets the agreement rules admit `EventCorrected` (`admitted`), as those rules
will."""

from __future__ import annotations

import uuid
from typing import Any

import msgspec
import pytest

from events.catalogue import EventCorrected
from events.rules import agreement as agreement_rules
from service.web import corrections
from tests.conftest import Api
from tests.test_web import AGREEMENT, _agreement, _csrf, _hidden, sign_in


@pytest.fixture
def admitted(monkeypatch: pytest.MonkeyPatch) -> None:
    allowed = getattr(agreement_rules, "_ALLOWED", None)
    if isinstance(allowed, frozenset) and EventCorrected not in allowed:
        monkeypatch.setattr(agreement_rules, "_ALLOWED", allowed | {EventCorrected})


async def _assigned(api: Api) -> tuple[str, str]:
    """An agreement whose owner was assigned through the API; the correction page of that
    assignment, and its event id."""
    await _agreement(api)
    answer = await api.client.post(
        f"/streams/{AGREEMENT}/events",
        json={
            "events": [
                {
                    "type": "ResponsibilityAssigned",
                    "occurred_at": "2022-12-06T10:00:00Z",
                    "data": {
                        "owner": {"unit": "FIT Tokyo office", "person": {"name": "Els Verhulst"}},
                        "assigned_by": "Government of Flanders",
                        "assigned_on": "2022-12-06",
                        "scope": "semiconductors",
                    },
                }
            ]
        },
        headers=api.auth("recorder"),
    )
    assert answer.status_code == 201, answer.text
    events = await api.services.store.read_stream(AGREEMENT)
    event_id = events[-1].event_id
    await api.services.projections.wait_for(answer.json()["to_position"], 10)  # type: ignore[union-attr]
    return f"/web/partnerships/{AGREEMENT}/corrections/{event_id}", event_id


async def test_the_timeline_links_each_event_to_its_correction_form(api: Api) -> None:
    path, event_id = await _assigned(api)
    await sign_in(api, "recorder")
    page = await api.client.get(f"/web/partnerships/{AGREEMENT}")
    assert f'href="{path}"' in page.text
    form = await api.client.get(path)
    assert form.status_code == 200
    values = _hidden(form.text, "correct")
    # One field per value the event had, named by its path in the data.
    assert values["changes.owner.unit"] == "FIT Tokyo office"
    assert values["changes.owner.person.name"] == "Els Verhulst"
    assert values["changes.assigned_on"] == "2022-12-06"
    assert values["corrects"] == event_id
    assert 'name="changes.scope"' in form.text and 'name="reason"' in form.text


async def test_a_correction_posts_the_patch_of_what_changed(api: Api, admitted: None) -> None:
    path, event_id = await _assigned(api)
    await sign_in(api, "recorder")
    form = await api.client.get(path)
    fields: dict[str, Any] = {
        **_hidden(form.text, "correct"),
        "changes.assigned_by": "Government of Flanders",
        "changes.owner.person.name": "Els Verhulst-Peeters",
        "changes.scope": "",
        "reason": "Her name as the decree writes it; the decree sets no scope.",
    }
    answer = await api.client.post(path, data=fields)
    assert answer.status_code == 303, answer.text[-1500:]
    again = await api.client.post(path, data=fields)  # a double submit
    assert again.status_code == 303 and "again=1" in again.headers["location"], again.text[-3000:]

    events = await api.services.store.read_stream(AGREEMENT)
    assert [e.type for e in events] == [
        "AgreementSigned",
        "ResponsibilityAssigned",
        "EventCorrected",
    ]
    assert msgspec.json.decode(events[-1].data) == {
        "corrects": event_id,
        "changes": {"owner": {"person": {"name": "Els Verhulst-Peeters"}}, "scope": None},
        "reason": "Her name as the decree writes it; the decree sets no scope.",
    }
    assert msgspec.json.decode(events[-1].metadata)["actor"] == "test recorder"

    page = await api.client.get(answer.headers["location"])
    timeline = page.text[page.text.index('class="timeline"') :]
    assert "owner.person.name → Els Verhulst-Peeters; scope removed" in timeline
    assert f'Corrects <a href="#event-{event_id}">version 2</a>' in timeline
    assert "Corrected by version 3" in timeline
    # The next correction starts from the corrected values.
    form = await api.client.get(path)
    assert _hidden(form.text, "correct")["changes.owner.person.name"] == "Els Verhulst-Peeters"
    assert 'name="changes.scope"' not in form.text
    assert "Corrected before" in form.text


async def test_a_stale_correction_form_says_what_changed(api: Api, admitted: None) -> None:
    path, _ = await _assigned(api)
    await sign_in(api, "recorder")
    form = await api.client.get(path)
    fields = {
        **_hidden(form.text, "correct"),
        "changes.owner.unit": "FIT Osaka office",
        "reason": "Wrong office.",
    }
    noted = await api.client.post(
        f"/streams/{AGREEMENT}/events",
        json={"events": [{"type": "NoteAttached", "data": {"text": "Meanwhile a note"}}]},
        headers=api.auth("recorder"),
    )
    assert noted.status_code == 201
    stale = await api.client.post(path, data=fields)
    assert stale.status_code == 409
    assert "Someone recorded this since you opened the form" in stale.text
    assert "Meanwhile a note" in stale.text
    assert 'value="FIT Osaka office"' in stale.text  # what was typed is kept
    assert await api.services.store.stream_version(AGREEMENT) == 3
    again = await api.client.post(
        path, data=_hidden(stale.text, "correct") | {"reason": "Wrong office."}
    )
    assert again.status_code == 303, again.text[-1500:]
    assert await api.services.store.stream_version(AGREEMENT) == 4


async def test_a_correction_that_changes_nothing_or_says_no_reason_is_refused(
    api: Api,
) -> None:
    path, _ = await _assigned(api)
    await sign_in(api, "recorder")
    form = await api.client.get(path)
    unchanged = await api.client.post(
        path, data={**_hidden(form.text, "correct"), "reason": "No reason to."}
    )
    assert unchanged.status_code == 422
    assert "Nothing was changed" in unchanged.text
    no_reason = await api.client.post(
        path,
        data={**_hidden(form.text, "correct"), "changes.owner.unit": "X", "reason": " "},
    )
    assert no_reason.status_code == 422
    assert 'class="field-error" id="f-correct-reason-err"' in no_reason.text
    assert await api.services.store.stream_version(AGREEMENT) == 2


async def test_a_rule_refusal_of_a_correction_is_shown_and_records_nothing(api: Api) -> None:
    # A correction whose result breaks the stream's rules (an owner assigned before the
    # signing) is refused: the refusal is shown in words on the form, and nothing is recorded.
    path, _ = await _assigned(api)
    await sign_in(api, "recorder")
    form = await api.client.get(path)
    answer = await api.client.post(
        path,
        data={
            **_hidden(form.text, "correct"),
            "changes.assigned_on": "1999-01-01",
            "reason": "Typo.",
        },
    )
    assert answer.status_code == 422
    assert 'class="error" role="alert"' in answer.text
    assert await api.services.store.stream_version(AGREEMENT) == 2


async def test_a_viewer_gets_no_correction_form_and_cannot_post_one(api: Api) -> None:
    path, _ = await _assigned(api)
    await sign_in(api, "viewer")
    page = await api.client.get(f"/web/partnerships/{AGREEMENT}")
    assert "/corrections/" not in page.text
    assert (await api.client.get(path)).status_code == 403
    refused = await api.client.post(
        path,
        data={
            "csrf": _csrf(page.text),
            "changes.owner.unit": "X",
            "reason": "r",
            "expected_version": "2",
            "event_id": str(uuid.uuid4()),
        },
    )
    assert refused.status_code == 403
    assert await api.services.store.stream_version(AGREEMENT) == 2


async def test_a_correction_needs_the_csrf_token_and_a_correctable_event(api: Api) -> None:
    path, _ = await _assigned(api)
    await sign_in(api, "recorder")
    form = await api.client.get(path)
    fields = {**_hidden(form.text, "correct"), "changes.owner.unit": "X", "reason": "r"}
    del fields["csrf"]
    assert (await api.client.post(path, data=fields)).status_code == 403
    unknown = f"/web/partnerships/{AGREEMENT}/corrections/{uuid.uuid4()}"
    assert (await api.client.get(unknown)).status_code == 404


def test_the_patch_replaces_lists_whole_and_keeps_numbers_numbers() -> None:
    before = {
        "parties": [{"organisation": "imec"}, {"organisation": "Rapidus"}],
        "sectors": ["chips"],
        "renewal_term_months": 12,
    }
    after = corrections.edited(
        before,
        {
            "changes.parties[1].organisation": "Rapidus Corporation",
            "changes.sectors": "chips, research",
            "changes.renewal_term_months": "24",
        },
    )
    assert corrections.merge_patch(before, after) == {
        "parties": [{"organisation": "imec"}, {"organisation": "Rapidus Corporation"}],
        "sectors": ["chips", "research"],
        "renewal_term_months": 24,
    }
