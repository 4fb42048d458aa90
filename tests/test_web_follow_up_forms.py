"""The forms that move a follow-up (reschedule, reassign, reopen) over HTTP, without a
browser: each records its event through the store, a refusal is shown beside its field, and
the forms offered follow the follow-up's state."""

from __future__ import annotations

import msgspec

from tests.conftest import Api
from tests.test_web import AGREEMENT, _agreement, _hidden, sign_in


async def _post(api: Api, path: str, form: str, values: dict[str, str]) -> tuple[str, int]:
    """Fill form `form` of the page at `path` and submit it; the next page and the status."""
    page = await api.client.get(path)
    assert f'data-form="{form}"' in page.text, form
    fields = {**_hidden(page.text, form), **values}
    answer = await api.client.post(
        f"/web/partnerships/{AGREEMENT}/record/{form.split(':')[0]}", data=fields
    )
    return answer.headers.get("location", path), answer.status_code


async def test_a_follow_up_is_rescheduled_reassigned_completed_and_reopened(api: Api) -> None:
    path = await _agreement(api)
    await sign_in(api, "recorder")
    steps: list[tuple[str, dict[str, str]]] = [
        (
            "follow-up",
            {
                "title": "Roadmap",
                "due_on": "2023-06-30",
                "follow_up_id": "roadmap",
                "owner.unit": "FIT Tokyo office",
            },
        ),
        ("reschedule:roadmap", {"due_on": "2023-09-30", "reason": "The partner asked for time."}),
        ("reassign:roadmap", {"owner.unit": "FIT Osaka office", "owner.person.name": "山田太郎"}),
        ("complete:roadmap", {"completed_on": "2023-09-01"}),
        ("reopen:roadmap", {"reopened_on": "2023-10-02", "reason": "The roadmap needs a review."}),
    ]
    for form, values in steps:
        path, status = await _post(api, path, form, values)
        assert status == 303, form
    events = await api.services.store.read_stream(AGREEMENT)
    assert [e.type for e in events][-4:] == [
        "FollowUpRescheduled",
        "FollowUpReassigned",
        "FollowUpCompleted",
        "FollowUpReopened",
    ]
    assert msgspec.json.decode(events[2].data) == {
        "follow_up_id": "roadmap",
        "due_on": "2023-09-30",
        "reason": "The partner asked for time.",
    }
    assert msgspec.json.decode(events[3].data)["owner"] == {
        "unit": "FIT Osaka office",
        "person": {"name": "山田太郎"},
    }
    page = await api.client.get(path)
    row = page.text[page.text.index('<code class="muted">roadmap</code>') :]
    row = row[: row.index("</tr>")]
    assert "2023-09-30" in row and "山田太郎" in row and ">open" in row
    # Open again: the forms of an open follow-up are back, the reopen form is gone.
    assert 'data-form="complete:roadmap"' in page.text
    assert 'data-form="reopen:roadmap"' not in page.text
    assert "now due 2023-09-30: The partner asked for time." in page.text  # the timeline


async def test_a_closed_follow_up_offers_only_reopening(api: Api) -> None:
    path = await _agreement(api)
    await sign_in(api, "recorder")
    path, _ = await _post(
        api,
        path,
        "follow-up",
        {"title": "Visit", "due_on": "2023-06-30", "follow_up_id": "visit", "owner.unit": "FIT"},
    )
    page = await api.client.get(path)
    assert 'data-form="reschedule:visit"' in page.text
    assert 'data-form="reopen:visit"' not in page.text
    path, _ = await _post(api, path, "cancel:visit", {"reason": "Postponed."})
    page = await api.client.get(path)
    assert 'data-form="reopen:visit"' in page.text
    for gone in ("reschedule", "reassign", "complete", "cancel"):
        assert f'data-form="{gone}:visit"' not in page.text


async def test_rescheduling_before_the_signing_is_refused_beside_the_date(api: Api) -> None:
    path = await _agreement(api)
    await sign_in(api, "recorder")
    path, _ = await _post(
        api,
        path,
        "follow-up",
        {"title": "Visit", "due_on": "2023-06-30", "follow_up_id": "visit", "owner.unit": "FIT"},
    )
    page = await api.client.get(path)
    fields = {**_hidden(page.text, "reschedule:visit"), "due_on": "2021-01-01", "reason": ""}
    answer = await api.client.post(f"/web/partnerships/{AGREEMENT}/record/reschedule", data=fields)
    assert answer.status_code == 422
    form = answer.text[answer.text.index('data-form="reschedule:visit"') :]
    form = form[: form.index("</form>")]
    assert 'name="due_on"' in form and 'aria-invalid="true"' in form
    assert (
        '<span class="field-error" id="f-reschedule-visit-due_on-err">2021-01-01 is before the'
        " signing on 2022-12-06: choose a date on or after it.</span>" in form
    )  # in plain words, without the event's type name
    assert "<details open><summary>Reschedule" in answer.text.replace("\n", "")
    assert await api.services.store.stream_version(AGREEMENT) == 2


async def test_a_reschedule_form_gone_stale_by_a_completion_says_so(api: Api) -> None:
    path = await _agreement(api)
    await sign_in(api, "recorder")
    path, _ = await _post(
        api,
        path,
        "follow-up",
        {"title": "Visit", "due_on": "2023-06-30", "follow_up_id": "visit", "owner.unit": "FIT"},
    )
    page = await api.client.get(path)
    fields = {**_hidden(page.text, "reschedule:visit"), "due_on": "2023-09-30", "reason": ""}
    completed = await api.client.post(
        f"/streams/{AGREEMENT}/events",
        json={
            "events": [
                {
                    "type": "FollowUpCompleted",
                    "data": {"follow_up_id": "visit", "completed_on": "2023-06-01"},
                }
            ]
        },
        headers=api.auth("recorder"),
    )
    assert completed.status_code == 201
    assert api.services.projections is not None  # the page shows the follow-up completed
    await api.services.projections.wait_for(completed.json()["to_position"], 10)
    stale = await api.client.post(f"/web/partnerships/{AGREEMENT}/record/reschedule", data=fields)
    assert stale.status_code == 409
    form = stale.text[stale.text.index('data-form="reschedule:visit"') :]
    assert "Someone recorded this since you opened the form" in form
    assert "follow-up visit completed" in form
    assert 'value="2023-09-30"' in form
