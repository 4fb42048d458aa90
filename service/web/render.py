"""HTML answers: the templates, the headers every page carries, and reading a posted form.

Pages allow only this service's own scripts, styles and images (a strict Content Security
Policy: no inline script or style, no other host), may not be framed, and are not cached.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl

import jinja2
from starlette.requests import Request
from starlette.responses import Response
from starlette.templating import Jinja2Templates

from events.personal import person_id
from service.web import sessions

HERE = Path(__file__).resolve().parent
templates = Jinja2Templates(directory=HERE / "templates")

CSP = (
    "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
    "connect-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'"
)
SECURITY_HEADERS = {
    "content-security-policy": CSP,
    "x-content-type-options": "nosniff",
    "x-frame-options": "DENY",
    "referrer-policy": "same-origin",
    "cache-control": "no-store",
    "permissions-policy": "camera=(), microphone=(), geolocation=()",
    "cross-origin-opener-policy": "same-origin",
}
MAX_FORM_BYTES = 64 * 1024
MAX_FORM_FIELDS = 200


def protect(response: Response, csp: str = CSP) -> Response:
    """Add the page headers to `response`."""
    for name, value in SECURITY_HEADERS.items():
        response.headers[name] = value
    response.headers["content-security-policy"] = csp
    return response


def page(
    request: Request,
    name: str,
    context: Mapping[str, Any],
    *,
    session: sessions.Session | None,
    status_code: int = 200,
) -> Response:
    """Render template `name` with the layout's context (who is signed in, their CSRF token,
    what they may do) and the page headers."""
    full: dict[str, Any] = {
        "session": session,
        "csrf": sessions.csrf_token(request, session) if session is not None else "",
        "can_record": session is not None and session.may("append"),
        "can_audit": session is not None and session.may("read_log"),
        "can_read_stream": session is not None and session.may("read_stream"),
        # Only a page at a GET address follows /live: live.js re-fetches the page's own
        # address, and a page answering a form post (a stale form, a refusal) has none.
        "live": live_url(request) if session is not None and request.method == "GET" else None,
        "path": request.url.path,
        **context,
    }
    response = templates.TemplateResponse(request, name, full, status_code=status_code)
    return protect(response)


def live_url(request: Request) -> str | None:
    """`/live` when this app serves it (then pages subscribe to updates), else None."""
    for route in request.app.router.routes:
        if getattr(route, "path", None) == "/live":
            return "/live"
    return None


class FormTooLarge(Exception):
    pass


async def read_form(request: Request) -> dict[str, str]:
    """An `application/x-www-form-urlencoded` body as a dict (the last value of a repeated
    name wins), bounded in size and number of fields."""
    size = 0
    chunks: list[bytes] = []
    async for chunk in request.stream():
        size += len(chunk)
        if size > MAX_FORM_BYTES:
            raise FormTooLarge
        chunks.append(chunk)
    text = b"".join(chunks).decode("utf-8", errors="replace")
    pairs = parse_qsl(text, keep_blank_values=True, max_num_fields=MAX_FORM_FIELDS)
    return {key: value for key, value in pairs}


def short_time(value: str | None) -> str:
    """An RFC 3339 stamp as `2022-12-06 10:00 UTC`."""
    if not value:
        return ""
    try:
        moment = dt.datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        return value
    return moment.astimezone(dt.UTC).strftime("%Y-%m-%d %H:%M UTC")


def business_date(value: str | None) -> str:
    return (value or "")[:10]


@jinja2.pass_context
def person_page(context: Any, name: str | None) -> str:
    """The address of the person page of `name` (their subject-access report, where an admin
    also erases) on a page whose context holds `person_secret` — given only to those who may
    read the report — else ''. An erased name's placeholder links to its erasure instead."""
    secret = context.get("person_secret")
    if not secret or not name or name.startswith("[erased"):
        return ""
    return f"/web/people/{person_id(secret, name)}"


templates.env.filters["short_time"] = short_time
templates.env.filters["business_date"] = business_date
templates.env.filters["person_page"] = person_page
