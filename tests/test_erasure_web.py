"""A person's page in the browser: the subject-access report for auditors and admins, the
erasure form (with CSRF) for admins only, and what the page says after an erasure."""

from __future__ import annotations

import re

from service.web.render import short_time
from tests._owners import owner_of
from tests.conftest import Api
from tests.test_erasure import ERASED_NAME, id_of, record_history
from tests.test_web import _csrf, sign_in


async def test_viewers_and_recorders_see_no_person_page(api: Api) -> None:
    await record_history(api.services.store)
    helene = await id_of(api.services.store, ERASED_NAME)
    for role in ("viewer", "recorder"):
        api.client.cookies.clear()
        await sign_in(api, role)
        page = await api.client.get(f"/web/people/{helene}")
        assert page.status_code == 403 and ERASED_NAME not in page.text
        posted = await api.client.post(
            f"/web/people/{helene}", data={"legal_basis": "x", "reason": "y", "csrf": "x"}
        )
        assert posted.status_code == 403


async def test_an_auditor_reads_the_report_and_an_admin_erases_from_the_page(api: Api) -> None:
    store = api.services.store
    await record_history(store)
    helene = await id_of(store, ERASED_NAME)
    await sign_in(api, "auditor")
    report = await api.client.get(f"/web/people/{helene}")
    assert report.status_code == 200
    assert ERASED_NAME in report.text and 'data-form="erase"' not in report.text

    api.client.cookies.clear()
    await sign_in(api, "admin")
    page = await api.client.get(f"/web/people/{helene}")
    assert 'data-form="erase"' in page.text
    head = await api.head()
    forged = await api.client.post(
        f"/web/people/{helene}",
        data={"legal_basis": "GDPR Art. 17(1)(a)", "reason": "asked", "csrf": "forged"},
    )
    assert forged.status_code == 403 and await api.head() == head
    empty = await api.client.post(
        f"/web/people/{helene}",
        data={"legal_basis": "", "reason": "asked", "csrf": _csrf(page.text)},
    )
    assert empty.status_code == 400 and "legal basis" in empty.text
    assert await api.head() == head
    erased = await api.client.post(
        f"/web/people/{helene}",
        data={
            "legal_basis": "GDPR Art. 17(1)(a)",
            "reason": "the person asked",
            "csrf": _csrf(page.text),
        },
    )
    assert erased.status_code == 303, erased.text
    assert await api.head() == head + 1
    after = await api.client.get(erased.headers["location"])
    assert after.status_code == 200 and ERASED_NAME not in after.text
    assert "GDPR Art. 17(1)(a)" in after.text and "the person asked" in after.text
    assert f"[erased {helene}]" in after.text and 'data-form="erase"' not in after.text
    partnership = await api.client.get("/web/partnerships/agreement-a")
    assert ERASED_NAME not in partnership.text and f"[erased {helene}]" in partnership.text


async def test_the_partnership_and_owner_pages_say_when_and_why_a_name_was_erased(
    api: Api,
) -> None:
    store = api.services.store
    await record_history(store)
    helene = await id_of(store, ERASED_NAME)
    owner = await owner_of(store.engine, "Fisheries desk", ERASED_NAME)
    erased = await api.client.post(
        f"/people/{helene}/erasure",
        json={"legal_basis": "GDPR Art. 17(1)(a)", "reason": "the person asked"},
        headers=api.auth("admin"),
    )
    assert erased.status_code == 201, erased.text
    when = short_time(
        (await api.client.get(f"/people/{helene}", headers=api.auth("auditor"))).json()["erasure"][
            "recorded_at"
        ]
    )
    pages = (
        "/web/partnerships/agreement-a",
        "/web/partnerships/agreement-b",
        f"/web/owners/{owner}",
    )
    for role in ("viewer", "auditor"):
        api.client.cookies.clear()
        await sign_in(api, role)
        for url in pages:
            page = await api.client.get(url)
            assert page.status_code == 200, (url, page.text)
            assert ERASED_NAME not in page.text
            assert f"[erased {helene}]" in page.text
            note = re.search(
                r'<span class="muted erasure">\(erased ([^<]*), legal basis <span dir="auto">'
                r"([^<]*)</span>",
                page.text,
            )
            assert note is not None, (role, url)
            assert note.groups() == (when, "GDPR Art. 17(1)(a)")
            # the person page (the subject-access report) is for those who may read it
            link = f'href="/web/people/{helene}"'
            assert (link in page.text) == (role == "auditor"), (role, url)
    # a name nobody erased has no such note
    other = await api.client.get("/web/partnerships/agreement-b")
    assert other.text.count('class="muted erasure"') == other.text.count(f"[erased {helene}]")


async def test_an_auditor_goes_from_a_name_on_a_partnership_to_the_persons_report(
    api: Api,
) -> None:
    store = api.services.store
    await record_history(store)
    helene = await id_of(store, ERASED_NAME)
    assert await api.services.projections.wait_for(await api.head(), 10)
    link = f'<a class="person" href="/web/people/{helene}" dir="auto">{ERASED_NAME}</a>'
    for role in ("viewer", "recorder", "auditor", "admin"):
        api.client.cookies.clear()
        await sign_in(api, role)
        page = await api.client.get("/web/partnerships/agreement-a")
        assert page.status_code == 200 and ERASED_NAME in page.text
        assert (link in page.text) == (role in ("auditor", "admin")), role
    report = await api.client.get(f"/web/people/{helene}")
    assert report.status_code == 200 and 'data-form="erase"' in report.text
