"""What every paged list shares over HTTP: `limit` and `cursor`, and the link to the next page.

The next page is named twice, as the answer's `next` member and as a `Link: <…>; rel="next"`
header (RFC 8288), both a URL relative to the service: the same path and parameters with the
cursor for the next page (no `wait_for_position`, which the first page already waited for).
The last page has `"next": null` and no Link header.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Annotated, Any
from urllib.parse import urlencode

import msgspec
from starlette.requests import Request

from service import cursors
from service.cursors import Cursor

MAX_LIMIT = 1000
DEFAULT_LIMIT = 100

Limit = Annotated[int, msgspec.Meta(ge=1, le=MAX_LIMIT)]
CursorToken = Annotated[str, msgspec.Meta(min_length=1, max_length=2000)]

PAGED = (
    "Paged by id: `limit` (1 to 1,000, default 100) and `cursor` from the previous page's"
    ' `next` (also a `Link: <...>; rel="next"` header; null and absent on the last page).'
)
WALK_AS_OF_FIRST_PAGE = PAGED + " A walk answers every page as of its first page's position."
"""The OpenAPI description of a paged list."""

_NOT_CHOOSING = frozenset({"limit", "cursor", "wait_for_position", "format"})
"""Parameters that do not choose a list's items: they may differ from page to page."""


def binding(list_name: str, params: msgspec.Struct) -> str:
    """The list and the parameters that choose its items, as a cursor binds them."""
    names = (name for name in params.__struct_fields__ if name not in _NOT_CHOOSING)
    return cursors.binding(list_name, ((name, getattr(params, name)) for name in names))


def cursor_of(params: Any, bound: str) -> Cursor | None:
    """The cursor the request continues from (None on a first page); 422 if it is not one
    this list gave out with these parameters."""
    token: str | None = params.cursor
    return None if token is None else cursors.decode(token, bound)


def next_link(request: Request, bound: str, position: int, last: str) -> str:
    token = cursors.encode(Cursor(binding=bound, position=position, last=last))
    kept: Iterable[tuple[str, str]] = (
        (key, value)
        for key, value in request.query_params.multi_items()
        if key not in ("cursor", "wait_for_position")
    )
    return f"{request.url.path}?{urlencode([*kept, ('cursor', token)])}"


def link_header(url: str | None) -> dict[str, str]:
    return {} if url is None else {"Link": f'<{url}>; rel="next"'}
