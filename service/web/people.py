"""A person's page: the subject-access report for auditors and admins, and the erasure form
for admins (GDPR Art. 15 and 17 in the browser; `service.routes.people` over the API).

Viewers and recorders are refused the page: it lists every value the log holds about the
person. The form posts `legal_basis` and `reason` with the session's CSRF token; the erasure
is the API's (`events.erasure.erase`), then the page shows the report again, now saying when
and on what basis the data was erased.
"""

from __future__ import annotations

import re

import msgspec
from starlette.requests import Request
from starlette.responses import RedirectResponse, Response

from events.envelope import Metadata
from events.erasure import UnknownPerson, erase, mentions
from events.errors import ValidationFailed
from service.routes.people import latest_erasure, settle_erasure
from service.web import sessions
from service.web.pages import refused, services_of, signed_in
from service.web.render import FormTooLarge, page, read_form

_PERSON_ID = re.compile(r"^[0-9a-f]{32}$")


@signed_in("read_log")
async def person(request: Request, session: sessions.Session) -> Response:
    return await _show(request, session)


async def _show(
    request: Request, session: sessions.Session, problem: str | None = None, status: int = 200
) -> Response:
    store = services_of(request).store
    person_id = request.path_params["person_id"]
    found = await mentions(store, person_id) if _PERSON_ID.match(person_id) else []
    if not found:
        return refused(request, session, 404, "The register names no such person.")
    context = {
        "person_id": person_id,
        "mentions": found,
        "erased": all(m.erased for m in found),
        "erasure": await latest_erasure(store, person_id),
        "can_erase": session.may("manage"),
        "problem": problem,
    }
    return page(request, "person.html", context, session=session, status_code=status)


@signed_in("manage")
async def erase_person(request: Request, session: sessions.Session) -> Response:
    services = services_of(request)
    person_id = request.path_params["person_id"]
    try:
        form = await read_form(request)
    except FormTooLarge:
        return refused(request, session, 413, "The form was too large.")
    if not sessions.csrf_ok(request, session, form.get("csrf", "")):
        return refused(
            request,
            session,
            403,
            "This form did not come from this site, or your session changed: nothing was"
            " erased. Open the page again and resubmit.",
        )
    if not _PERSON_ID.match(person_id):
        return refused(request, session, 404, "The register names no such person.")
    legal_basis, reason = form.get("legal_basis", "").strip(), form.get("reason", "").strip()
    if not legal_basis or not reason:
        return await _show(request, session, "Give the legal basis and the reason.", 400)
    principal = session.principal
    try:
        result = await erase(
            services.store,
            person_id,
            legal_basis=legal_basis,
            reason=reason,
            metadata=Metadata(actor=principal.name, token_id=principal.token_id),
        )
    except UnknownPerson:
        return refused(request, session, 404, "The register names no such person.")
    except (ValidationFailed, msgspec.ValidationError) as invalid:
        return await _show(request, session, f"Nothing was erased: {invalid}", 400)
    if result.created:
        await settle_erasure(services, result.position)
    return RedirectResponse(f"/web/people/{person_id}", status_code=303)
