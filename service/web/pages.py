"""The pages and the posts behind them. Every page needs a session (else: to /login);
recording needs a role that may append, the audit page one that may read the log."""

from __future__ import annotations

import datetime as dt
import io
import json
import re
import uuid
from collections.abc import Awaitable, Callable, Mapping
from typing import Any, get_args
from urllib.parse import quote, urlencode

import msgspec
from starlette.requests import Request
from starlette.responses import JSONResponse, RedirectResponse, Response, StreamingResponse

from events.catalogue import AgreementKind
from events.envelope import Metadata, Proposed, RecordedEvent
from events.errors import (
    IdempotencyConflict,
    RuleViolation,
    StreamNotFound,
    ValidationFailed,
    WrongExpectedVersion,
)
from events.export import write_jsonl
from projections import follow_ups, partnership_search, term
from projections.partnership_view import Partnership
from projections.reader import stream_id
from service.auth import Permission, Principal
from service.routes import audit as audit_routes
from service.routes.base import Call, NoParams, Services
from service.web import corrections, data, forms, my_owner, sessions, term_picture
from service.web.render import FormTooLarge, page, protect, read_form

Page = Callable[[Request, sessions.Session], Awaitable[Response]]


def services_of(request: Request) -> Services:
    services: Services = request.state.services
    return services


def _to_login(request: Request) -> Response:
    target = request.url.path + (f"?{request.url.query}" if request.url.query else "")
    return RedirectResponse(f"/login?next={quote(target, safe='')}", status_code=303)


def refused(request: Request, session: sessions.Session | None, status: int, why: str) -> Response:
    """The page saying why nothing was shown or done (`why`), with `status`."""
    return page(request, "refused.html", {"why": why}, session=session, status_code=status)


def signed_in(
    permission: Permission = "read_projections",
) -> Callable[[Page], Callable[[Request], Awaitable[Response]]]:
    """A page for people with a session whose role has `permission`."""

    def wrap(handler: Page) -> Callable[[Request], Awaitable[Response]]:
        async def endpoint(request: Request) -> Response:
            session = sessions.current(request)
            if session is None:
                return _to_login(request)
            if not session.may(permission):
                return refused(
                    request, session, 403, f"A {session.principal.role} may not see this page."
                )
            return await handler(request, session)

        endpoint.__name__ = handler.__name__
        return endpoint

    return wrap


# -- sign-in ---------------------------------------------------------------------------------


def _next(value: str | None) -> str:
    """Only a path on this site (never `//host`, never a URL)."""
    if value and value.startswith("/") and not value.startswith("//") and "\\" not in value:
        return value
    return "/"


async def login_form(request: Request) -> Response:
    if sessions.current(request) is not None:
        return RedirectResponse(_next(request.query_params.get("next")), status_code=303)
    return _login_page(request, error=None, status=200)


def _login_page(request: Request, *, error: str | None, status: int) -> Response:
    nonce = sessions.login_nonce(request)
    response = page(
        request,
        "login.html",
        {
            "error": error,
            "next": _next(request.query_params.get("next")),
            "login_csrf": sessions.login_csrf(request, nonce),
        },
        session=None,
        status_code=status,
    )
    sessions.remember_login(request, response, nonce)
    return response


async def login(request: Request) -> Response:
    try:
        form = await read_form(request)
    except FormTooLarge:
        return _login_page(request, error="The form was too large.", status=413)
    if not sessions.login_csrf_ok(request, form.get("csrf", "")):
        return _login_page(
            request,
            error="The sign-in form had expired or did not come from this site: try again.",
            status=403,
        )
    record = services_of(request).tokens.authenticate(form.get("token", "").strip())
    if record is None:
        return _login_page(request, error="This token is unknown or has been revoked.", status=401)
    principal = Principal(token_id=record.token_id, name=record.name, role=record.role)
    response = RedirectResponse(_next(form.get("next")), status_code=303)
    sessions.start(request, response, principal)
    return protect(response)


async def logout(request: Request) -> Response:
    session = sessions.current(request)
    if request.method == "GET":
        if session is None:
            return RedirectResponse("/login", status_code=303)
        return page(request, "logout.html", {}, session=session)
    form = await read_form(request)
    if session is not None and not sessions.csrf_ok(request, session, form.get("csrf", "")):
        return refused(request, session, 403, "The form did not come from this site.")
    response = RedirectResponse("/login", status_code=303)
    sessions.end(response)
    return protect(response)


# -- pages -----------------------------------------------------------------------------------


async def home(request: Request) -> Response:
    """`/`: the dashboard for a browser; a small index for other clients."""
    if "text/html" not in request.headers.get("accept", ""):
        return JSONResponse(
            {
                "service": "agreements",
                "documentation": "/docs",
                "openapi": "/openapi.json",
                "health": "/health",
                "sign_in": "/login",
            }
        )
    return await _dashboard(request)


EXPIRING_SOON_DAYS = 90
"""The overview's "expiring soon": agreements whose term ends within this many days."""


@signed_in()
async def _dashboard(request: Request, session: sessions.Session) -> Response:
    services = services_of(request)
    found = await data.partnerships(services)
    overview = data.overview(found, services.settings.current_date())
    recent = await data.recent_events(services) if session.may("read_log") else []
    today = services.settings.current_date()
    expiring = await data.partnerships(services, expiring_within_days=EXPIRING_SOON_DAYS)
    return page(
        request,
        "dashboard.html",
        {
            "o": overview,
            "expiring": sorted(
                ((term.next_expiry(p, today), p) for p in expiring),
                key=lambda pair: (pair[0] or today, pair[1].agreement_id),
            ),
            "expiring_days": EXPIRING_SOON_DAYS,
            "chart": _month_chart(overview.open, today),
            "recent": [(e, data.describe(e), data.actor(e)) for e in recent],
        },
        session=session,
    )


MONTHS_AHEAD = 12
"""The due-per-month chart shows this month and the months after it: people plan ahead."""


def _month_chart(open_: list[data.OpenFollowUp], today: dt.date) -> dict[str, Any]:
    """Bars for an SVG: open follow-ups already overdue (one bar), then those due in each of
    the coming months from this one; what is due later is counted in the text."""
    months: list[dt.date] = [today.replace(day=1)]
    while len(months) < MONTHS_AHEAD:
        months.append((months[-1] + dt.timedelta(days=32)).replace(day=1))
    counts = dict.fromkeys(months, 0)
    overdue = later = 0
    first_later: dt.date | None = None
    for item in open_:
        due = item.follow_up.due_on
        if due < today:
            overdue += 1
        elif due.replace(day=1) in counts:
            counts[due.replace(day=1)] += 1
        else:
            later += 1
            first_later = min(first_later or due, due)
    columns: list[tuple[str, str, int, str]] = []  # (label, second line, count, kind)
    if overdue:
        columns.append(("overdue", "", overdue, "overdue"))
    for index, month in enumerate(months):
        year = str(month.year) if index == 0 or month.month == 1 else ""
        columns.append((month.strftime("%b"), year, counts[month], "month"))
    top = max((count for _, _, count, _ in columns), default=0)
    width, height, gap = 40, 120, 10
    bars: list[dict[str, Any]] = []
    for index, (label, year, count, kind) in enumerate(columns):
        tall = round(height * count / top) if top else 0
        bars.append(
            {
                "label": label,
                "year": year,
                "count": count,
                "kind": kind,
                "x": index * (width + gap) + gap,
                "height": tall,
                "y": 20 + height - tall,
            }
        )
    described = [f"overdue: {overdue}"] if overdue else []
    described += [f"{month.strftime('%B %Y')}: {counts[month]}" for month in months]
    if later:
        described.append(f"later: {later}")
    return {
        "bars": bars if open_ else [],
        "bar_width": width,
        "width": max(1, len(bars)) * (width + gap) + gap,
        "base": 20 + height,
        "summary": "Open follow-ups, overdue and due per month from this month on: "
        + "; ".join(described),
        "table": [(f"{label} {year}".strip(), count) for label, year, count, _ in columns],
        "later": later,
        "first_later": first_later,
    }


STATUSES = ("announced", "active", "expired", "terminated")
KINDS: tuple[str, ...] = get_args(AgreementKind)
EXPIRING = (30, 90, 180, 365)
"""The "expires within" choices of the partnerships list, in days."""


def _text_filter(query: Mapping[str, str], name: str) -> str | None:
    """A free-text filter as the API takes it (at most 200 characters; empty: none)."""
    value = query.get(name, "").strip()
    return value[:200] or None


@signed_in()
async def partnerships(request: Request, session: sessions.Session) -> Response:
    """The partnerships list with the API's filters and search (status, kind, country,
    owner, sector, expiring within, `q=` words), a page at a time."""
    services = services_of(request)
    query = request.query_params
    status = query.get("status") if query.get("status") in STATUSES else None
    kind = query.get("kind") if query.get("kind") in KINDS else None
    expiring = query.get("expiring", "")
    expiring_days = int(expiring) if expiring in {str(d) for d in EXPIRING} else None
    owner, sector = _text_filter(query, "owner"), _text_filter(query, "sector")
    country, words = _text_filter(query, "country"), _text_filter(query, "q")
    after = _text_filter(query, "after")
    search = None
    if kind or country or words:
        search = partnership_search.Search(kind=kind, country=country, q=words)
    found = await data.partnership_page(
        services,
        status=status,
        owner=owner,
        sector=sector,
        expiring_within_days=expiring_days,
        search=search,
        after=after,
    )
    every = await data.partnerships(services)
    filters = {
        "q": words or "",
        "status": status or "",
        "kind": kind or "",
        "country": country or "",
        "owner": owner or "",
        "sector": sector or "",
        "expiring": str(expiring_days or ""),
    }
    chosen = {name: value for name, value in filters.items() if value}
    last = found.items[-1].agreement_id if found.items else None
    return page(
        request,
        "partnerships.html",
        {
            "partnerships": found.items,
            "filters": filters,
            "statuses": STATUSES,
            "kinds": KINDS,
            "expiring": EXPIRING,
            "today": services.settings.current_date(),
            "first_page": "/web/partnerships?" + urlencode(chosen) if after else None,
            "next_page": (
                "/web/partnerships?" + urlencode({**chosen, "after": last})
                if found.more and last
                else None
            ),
            "sectors": sorted({s for p in every for s in p.sectors}),
            "owners": sorted(
                {
                    (p.owner.owner_id, p.owner.unit, p.owner.person.name if p.owner.person else "")
                    for p in every
                    if p.owner is not None
                }
            ),
        },
        session=session,
    )


@signed_in()
async def partnership(request: Request, session: sessions.Session) -> Response:
    services = services_of(request)
    after = request.query_params.get("after", "")
    await data.caught_up(services, int(after) if after.isdigit() and len(after) < 19 else None)
    return await _partnership_page(request, session, request.path_params["agreement_id"])


async def _partnership_page(
    request: Request,
    session: sessions.Session,
    agreement_id: str,
    submitted: forms.FormState | None = None,
    status_code: int = 200,
) -> Response:
    services = services_of(request)
    found = await data.partnership(services, agreement_id)
    if found is None:
        return refused(request, session, 404, f"There is no agreement {agreement_id!r}.")
    history: list[RecordedEvent] = []
    version = found.version
    if session.may("read_stream"):
        history, version = await data.history(services, found.agreement_id)
    elif session.may("append"):
        version = await services.store.stream_version(found.agreement_id)
    today = services.settings.current_date()
    the_forms = _forms_for(found, version, today) if session.may("append") else {}
    if submitted is not None:
        the_forms[submitted.key] = submitted
    recorded = request.query_params.get("recorded", "")
    return page(
        request,
        "partnership.html",
        {
            "p": found,
            "erasures": await data.erasures_shown(
                services, found, *(bytes(e.data) for e in history)
            ),
            "person_secret": await data.person_secret(services, session.may("read_log")),
            "today": services.settings.current_date(),
            "life": term_picture.draw(found, today),
            "timeline": [(e, data.describe(e), data.actor(e)) for e in history],
            "versions": {e.event_id: e.version for e in history},
            "corrected_by": _corrected_by(history),
            "corrected_target": {
                e.event_id: str(corrections.data_of(e).get("corrects", ""))
                for e in history
                if e.type == corrections.CORRECTION
            },
            "earlier": (history[0].version - 1) if history else 0,
            "forms": the_forms,
            "recorded": recorded if recorded in _EVENT_NAMES else "",
            "again": request.query_params.get("again") == "1",
            "submitted": submitted.key if submitted is not None else "",
            "follow_up_forms": forms.FOLLOW_UP_FORMS,
            "record_forms": forms.SIGNED_FORMS if found.signed_on else forms.ANNOUNCED_FORMS,
        },
        session=session,
        status_code=status_code,
    )


def _corrected_by(history: list[RecordedEvent]) -> dict[str, list[int]]:
    """Event id -> the versions of the corrections of it (the timeline marks both)."""
    found: dict[str, list[int]] = {}
    for event in history:
        if event.type == corrections.CORRECTION:
            target = str(corrections.data_of(event).get("corrects", ""))
            found.setdefault(target, []).append(event.version)
    return found


_EVENT_NAMES = {
    spec.event_type: spec.title for spec in (*forms.STARTING_FORMS.values(), *forms.FORMS.values())
} | {corrections.CORRECTION: "Correction"}


def _forms_for(p: Partnership, version: int, today: dt.date) -> dict[str, forms.FormState]:
    specs = forms.FORMS
    owner: dict[str, str] = {}
    if p.owner is not None:
        owner = {"owner.unit": p.owner.unit}
        if p.owner.person is not None:
            owner["owner.person.name"] = p.owner.person.name
            owner["owner.person.title"] = p.owner.person.title or ""
    if p.signed_on is None:
        return {
            "sign": forms.fresh(specs["sign"], version, today, **_as_announced(p)),
            "endorse": forms.fresh(specs["endorse"], version, today),
            "document": forms.fresh(specs["document"], version, today),
            "note": forms.fresh(specs["note"], version, today),
        }
    built = {
        "follow-up": forms.fresh(specs["follow-up"], version, today, **owner),
        "endorse": forms.fresh(specs["endorse"], version, today),
        "witness": forms.fresh(specs["witness"], version, today),
        "assign": forms.fresh(specs["assign"], version, today),
        "note": forms.fresh(specs["note"], version, today),
        "document": forms.fresh(specs["document"], version, today),
    }
    if p.owner is not None:
        handing = {f"from_{k}": v for k, v in owner.items()}
        built["hand-over"] = forms.fresh(specs["hand-over"], version, today, **handing)
    for follow_up in p.follow_ups:
        for name in forms.FOLLOW_UP_FORMS.get(follow_up.state, ()):
            values = {"follow_up_id": follow_up.follow_up_id}
            if name == "reschedule":
                values["due_on"] = follow_up.due_on.isoformat()
            state = forms.fresh(specs[name], version, today, **values)
            built[state.key] = state
    return built


def _as_announced(p: Partnership) -> dict[str, str]:
    """The signing form starts from what the announcement said (kind, title, parties, ...):
    the signing records them again, as signed."""
    values = {"kind": p.kind, "title": p.title, "summary": p.summary or ""}
    values["sectors"] = ", ".join(p.sectors)
    for index, party in enumerate(p.parties[: forms.PARTIES_SHOWN]):
        values[f"parties[{index}].organisation"] = party.organisation
        values[f"parties[{index}].country"] = party.country or ""
        if party.signatory is not None:
            values[f"parties[{index}].signatory.name"] = party.signatory.name
            values[f"parties[{index}].signatory.title"] = party.signatory.title or ""
    return values


@signed_in()
async def partnership_as_of(request: Request, session: sessions.Session) -> Response:
    """The bitemporal reads side by side: as known on a date, and as in force on a date."""
    services = services_of(request)
    agreement_id = stream_id("agreement", request.path_params["agreement_id"])
    today = services.settings.current_date()
    known_on = _date(request.query_params.get("known_on")) or today
    in_force_on = _date(request.query_params.get("in_force_on")) or today
    known, known_position = await data.partnership_as_of(services, agreement_id, known_on=known_on)
    in_force, in_force_position = await data.partnership_as_of(
        services, agreement_id, in_force_on=in_force_on
    )
    current = await data.partnership(services, agreement_id)
    if current is None:
        return refused(request, session, 404, f"There is no agreement {agreement_id!r}.")
    return page(
        request,
        "as_of.html",
        {
            "current": current,
            "known": known,
            "known_on": known_on,
            "known_position": known_position,
            "in_force": in_force,
            "in_force_on": in_force_on,
            "in_force_position": in_force_position,
            "today": today,
        },
        session=session,
    )


def _date(value: str | None) -> dt.date | None:
    try:
        return dt.date.fromisoformat(value or "")
    except ValueError:
        return None


@signed_in()
async def owners(request: Request, session: sessions.Session) -> Response:
    found = await data.owners(services_of(request))
    return page(request, "owners.html", {"owners": found}, session=session)


@signed_in()
async def owner(request: Request, session: sessions.Session) -> Response:
    found = await data.owner(services_of(request), request.path_params["owner_id"])
    if found is None:
        return refused(request, session, 404, "There is no such follow-up owner.")
    services = services_of(request)
    context = {
        "o": found,
        "erasures": await data.erasures_shown(services, found),
        "person_secret": await data.person_secret(services, session.may("read_log")),
    }
    return page(request, "owner.html", context, session=session)


@signed_in()
async def delegations(request: Request, session: sessions.Session) -> Response:
    """Each delegation with the agreements recorded under it (their `delegation_id`), as the
    API's delegation document lists them."""
    services = services_of(request)
    found = await data.delegations(services)
    under: dict[str, list[Partnership]] = {}
    for p in await data.partnerships(services):
        if p.delegation_id:
            under.setdefault(stream_id("delegation", p.delegation_id), []).append(p)
    for listed in under.values():
        listed.sort(key=lambda p: (p.signed_on or p.announced_on or dt.date.min, p.agreement_id))
    return page(
        request,
        "delegations.html",
        {
            "delegations": [
                (d, under.get(stream_id("delegation", d.delegation_id), [])) for d in found
            ]
        },
        session=session,
    )


# -- audit -----------------------------------------------------------------------------------


def _call(request: Request, session: sessions.Session, params: Any) -> Call[Any, None]:
    return Call(request, services_of(request), session.principal, params, None)


@signed_in("read_log")
async def audit(request: Request, session: sessions.Session) -> Response:
    result: dict[str, Any] | None = None
    if request.query_params.get("verify") == "1":
        answer = await audit_routes.verify(_call(request, session, audit_routes.VerifyParams()))
        result = json.loads(bytes(answer.body))
    head = await services_of(request).store.head()
    return page(request, "audit.html", {"result": result, "head": head}, session=session)


@signed_in("read_log")
async def audit_checkpoint(request: Request, session: sessions.Session) -> Response:
    answer = await audit_routes.checkpoint(_call(request, session, NoParams()))
    if answer.status_code == 200:
        answer.headers["content-disposition"] = 'attachment; filename="checkpoint.json"'
    return answer


@signed_in("read_log")
async def audit_export(request: Request, session: sessions.Session) -> Response:
    store = services_of(request).store

    async def lines() -> Any:
        after = 0
        while page_ := await store.read_all(after=after, limit=1000):
            buffer = io.BytesIO()
            write_jsonl(page_, buffer)
            yield buffer.getvalue()
            after = page_[-1].position

    return StreamingResponse(
        lines(),
        media_type="application/x-ndjson",
        headers={"content-disposition": 'attachment; filename="agreements-export.jsonl"'},
    )


# -- API documentation -----------------------------------------------------------------------


DOCS_CSP = (
    "default-src 'none'; script-src 'self'; style-src 'self' 'unsafe-inline'; "
    "img-src 'self' data:; connect-src 'self'; form-action 'self'; frame-ancestors 'none'; "
    "base-uri 'none'"
)
"""Swagger UI sets style attributes in its markup: the docs page alone allows inline style
(never inline script)."""


@signed_in("read_openapi")
async def docs(request: Request, session: sessions.Session) -> Response:
    response = page(request, "docs.html", {}, session=session)
    return protect(response, DOCS_CSP)


@signed_in("read_openapi")
async def docs_openapi(request: Request, session: sessions.Session) -> Response:
    return Response(services_of(request).openapi, media_type="application/json")


# -- recording -------------------------------------------------------------------------------


@signed_in("append")
async def record(request: Request, session: sessions.Session) -> Response:
    services = services_of(request)
    agreement_id = stream_id("agreement", request.path_params["agreement_id"])
    spec = forms.FORMS.get(request.path_params["form"])
    if spec is None:
        return refused(request, session, 404, "There is no such form.")
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
            " recorded. Open the page again and resubmit.",
        )
    state = forms.posted(spec, form)
    occurred = _instant(state.occurred_at)
    if state.expected_version < 0 or not state.event_id or occurred is None:
        return refused(request, session, 400, "The form is incomplete: open the page again.")
    proposed = Proposed(
        type=spec.event_type,
        data=msgspec.json.encode(forms.event_data(state)),
        occurred_at=occurred,
        event_id=state.event_id,
    )
    metadata = _metadata(request, session, state)
    try:
        result = await services.store.append(
            agreement_id, [proposed], expected_version=state.expected_version, metadata=metadata
        )
    except WrongExpectedVersion as stale:
        changed = await data.since(services, agreement_id, state.expected_version)
        state.changed = [f"{data.describe(e)} — recorded by {data.actor(e)}" for e in changed]
        state.expected_version = stale.current_version
        state.event_id = str(uuid.uuid4())
        return await _partnership_page(request, session, agreement_id, state, 409)
    except ValidationFailed as invalid:
        state.errors = forms.field_errors(state, invalid.errors)
        return await _partnership_page(request, session, agreement_id, state, 422)
    except RuleViolation as violation:
        state.errors = forms.rule_error(state, violation)
        return await _partnership_page(request, session, agreement_id, state, 422)
    except IdempotencyConflict:
        state.errors = {forms.FORM_LEVEL: "This form was already used for something else."}
        state.event_id = str(uuid.uuid4())
        return await _partnership_page(request, session, agreement_id, state, 409)
    except StreamNotFound:
        return refused(request, session, 404, f"There is no agreement {agreement_id!r}.")
    services.metrics.appended(result)
    again = "&again=1" if not result.created else ""
    target = (
        f"/web/partnerships/{quote(agreement_id, safe='')}"
        f"?recorded={spec.event_type}&after={result.to_position}{again}#recorded"
    )
    return RedirectResponse(target, status_code=303)


@signed_in("append")
async def new_agreement(request: Request, session: sessions.Session) -> Response:
    """The form that starts an agreement's stream (GET), and recording it (POST): with its
    signing, or (`?start=announcement`) with its announcement."""
    start = request.query_params.get("start", "")
    spec = forms.STARTING_FORMS.get(start, forms.AGREEMENT_FORM)
    today = services_of(request).settings.current_date()

    def show(state: forms.FormState, status_code: int = 200) -> Response:
        return page(
            request,
            "new_agreement.html",
            {"form": state, "starts": forms.STARTING_FORMS},
            session=session,
            status_code=status_code,
        )

    if request.method == "GET":
        return show(forms.fresh(spec, 0, today, kind="MoC"))
    try:
        form = await read_form(request)
    except FormTooLarge:
        return refused(request, session, 413, "The form was too large.")
    if not sessions.csrf_ok(request, session, form.get("csrf", "")):
        return refused(request, session, 403, "This form did not come from this site.")
    state = forms.posted(spec, form)
    occurred = _instant(state.occurred_at)
    if not state.event_id or occurred is None:
        return refused(request, session, 400, "The form is incomplete: open the page again.")
    slug = state.values.get("agreement_id", "").strip().removeprefix("agreement-")
    if not re.fullmatch(r"[a-z0-9][a-z0-9-]{0,99}", slug):
        state.errors = {
            "agreement_id": "Lower-case letters, digits and - (e.g. imec-rapidus-2022)."
        }
        return show(state, 422)
    key = f"agreement-{slug}"
    proposed = Proposed(
        type=spec.event_type,
        data=msgspec.json.encode(forms.event_data(state)),
        occurred_at=occurred,
        event_id=state.event_id,
    )
    try:
        result = await services_of(request).store.append(
            key,
            [proposed],
            expected_version="no_stream",
            metadata=_metadata(request, session, state),
        )
    except WrongExpectedVersion:
        state.errors = {"agreement_id": "An agreement with this identifier is already recorded."}
    except ValidationFailed as invalid:
        state.errors = forms.field_errors(state, invalid.errors)
    except RuleViolation as violation:
        state.errors = {forms.FORM_LEVEL: violation.detail}
    except IdempotencyConflict:
        state.errors = {forms.FORM_LEVEL: "This form was already used for something else."}
        state.event_id = str(uuid.uuid4())
    else:
        services_of(request).metrics.appended(result)
        again = "&again=1" if not result.created else ""
        return RedirectResponse(
            f"/web/partnerships/{quote(key, safe='')}"
            f"?recorded={spec.event_type}&after={result.to_position}{again}#recorded",
            status_code=303,
        )
    return show(state, 422)


def _metadata(request: Request, session: sessions.Session, state: forms.FormState) -> Metadata:
    """Who records, as the API says it: the session's token, never the form."""
    return Metadata(
        actor=session.principal.name,
        token_id=session.principal.token_id,
        correlation_id=state.event_id,
        user_agent=request.headers.get("user-agent", "")[:200] or None,
    )


def _instant(value: str) -> dt.datetime | None:
    try:
        moment = dt.datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        return None
    return moment if moment.tzinfo is not None else None


# -- corrections -----------------------------------------------------------------------------


@signed_in("append")
async def correction(request: Request, session: sessions.Session) -> Response:
    """The form correcting one event of an agreement's history (GET), and recording the
    correction (POST): an `EventCorrected` whose `changes` is the patch of what was edited."""
    services = services_of(request)
    agreement_id = stream_id("agreement", request.path_params["agreement_id"])
    event_id = request.path_params["event_id"]
    events = await data.stream(services, agreement_id)
    target = next((e for e in events if e.event_id == event_id), None)
    if target is None or target.type == corrections.CORRECTION:
        return refused(request, session, 404, "There is no such event to correct here.")
    current = corrections.as_corrected(target, events)
    spec = corrections.spec_for(target, current)
    version = events[-1].version
    earlier = [
        (e, corrections.describe(corrections.data_of(e).get("changes")), data.actor(e))
        for e in corrections.corrections_of(target.event_id, events)
    ]

    def show(state: forms.FormState, status_code: int = 200) -> Response:
        return page(
            request,
            "correction.html",
            {
                "agreement_id": agreement_id,
                "target": target,
                "what": data.describe(target),
                "who": data.actor(target),
                "earlier": earlier,
                "form": state,
            },
            session=session,
            status_code=status_code,
        )

    if request.method == "GET":
        values = corrections.values_for(target, current)
        return show(forms.fresh(spec, version, services.settings.current_date(), **values))
    try:
        form = await read_form(request)
    except FormTooLarge:
        return refused(request, session, 413, "The form was too large.")
    if not sessions.csrf_ok(request, session, form.get("csrf", "")):
        return refused(request, session, 403, "This form did not come from this site.")
    # The patch is of what the form showed (the data as corrected when it was rendered), so
    # a second submission of the same form is the same event, recorded once.
    shown_at = forms.posted(spec, form).expected_version
    rendered = corrections.as_corrected(target, [e for e in events if e.version <= shown_at])
    state = forms.posted(corrections.spec_for(target, rendered), form)
    occurred = _instant(state.occurred_at)
    if state.expected_version < 0 or not state.event_id or occurred is None:
        return refused(request, session, 400, "The form is incomplete: open the page again.")
    changes = corrections.merge_patch(rendered, corrections.edited(rendered, state.values))
    reason = state.values.get("reason", "").strip()
    if not changes:
        state.errors = {forms.FORM_LEVEL: "Nothing was changed: edit the value to correct."}
        return show(state, 422)
    if not reason:
        state.errors = {"reason": "Say why the event is corrected."}
        return show(state, 422)
    proposed = Proposed(
        type=corrections.CORRECTION,
        data=msgspec.json.encode(
            {"corrects": target.event_id, "changes": changes, "reason": state.values["reason"]}
        ),
        occurred_at=occurred,
        event_id=state.event_id,
    )
    try:
        result = await services.store.append(
            agreement_id,
            [proposed],
            expected_version=state.expected_version,
            metadata=_metadata(request, session, state),
        )
    except WrongExpectedVersion as stale:
        changed = await data.since(services, agreement_id, state.expected_version)
        state.changed = [f"{data.describe(e)} — recorded by {data.actor(e)}" for e in changed]
        state.expected_version = stale.current_version
        state.event_id = str(uuid.uuid4())
        return show(state, 409)
    except ValidationFailed as invalid:
        state.errors = forms.field_errors(state, invalid.errors)
        return show(state, 422)
    except RuleViolation as violation:
        state.errors = forms.rule_error(state, violation)
        return show(state, 422)
    except IdempotencyConflict:
        state.errors = {forms.FORM_LEVEL: "This form was already used for something else."}
        state.event_id = str(uuid.uuid4())
        return show(state, 409)
    services.metrics.appended(result)
    again = "&again=1" if not result.created else ""
    return RedirectResponse(
        f"/web/partnerships/{quote(agreement_id, safe='')}"
        f"?recorded={corrections.CORRECTION}&after={result.to_position}{again}#recorded",
        status_code=303,
    )


# -- my follow-ups ---------------------------------------------------------------------------

STATES = ("open", "completed", "cancelled")
DUE = {"overdue": None, "7": 7, "30": 30, "90": 90}
"""The "due" filter: overdue, or due from today within so many days."""


@signed_in()
async def my_follow_ups(request: Request, session: sessions.Session) -> Response:
    """The follow-ups of the owner the signed-in person is (`service.web.my_owner`), with
    the work list's filters; POST chooses the owner."""
    services = services_of(request)
    every = await data.owners(services)
    known = {o.owner_id: o for o in every}
    if request.method == "POST":
        try:
            form = await read_form(request)
        except FormTooLarge:
            return refused(request, session, 413, "The form was too large.")
        if not sessions.csrf_ok(request, session, form.get("csrf", "")):
            return refused(request, session, 403, "This form did not come from this site.")
        response = RedirectResponse("/web/my-follow-ups", status_code=303)
        choice = form.get("owner", "")
        if choice in known:
            my_owner.remember(request, response, session, choice)
        elif not choice:
            my_owner.forget(response)
        else:
            return refused(request, session, 400, "There is no such follow-up owner.")
        return protect(response)

    query = request.query_params
    mine = my_owner.chosen(request, session)
    if mine not in known:
        mine = my_owner.derived(session, every)
    state = query.get("state", "open")
    due = query.get("due", "")
    after = query.get("after") or None
    if after is not None:
        try:
            follow_ups.decode_key(after)
        except (msgspec.DecodeError, msgspec.ValidationError):
            after = None
    today = services.settings.current_date()
    found = None
    if mine is not None:
        filters = follow_ups.Filters(
            today=today,
            state=state if state in STATES else None,  # type: ignore[arg-type]
            owner=mine,
            overdue=True if due == "overdue" else None,
            due_within_days=DUE.get(due),
        )
        found = await data.follow_up_page(services, filters, after)
    filters_shown = {"state": state if state in STATES else "", "due": due if due in DUE else ""}
    later = data.next_key(found) if found is not None else None
    return page(
        request,
        "my_follow_ups.html",
        {
            "owners": every,
            "me": known.get(mine or ""),
            "remembered": my_owner.chosen(request, session) is not None,
            "found": found,
            "filters": filters_shown,
            "next": (
                "/web/my-follow-ups?" + urlencode({**filters_shown, "after": later})
                if later
                else None
            ),
            "first_page": after is None,
            "today": today,
        },
        session=session,
    )
