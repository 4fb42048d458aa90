"""Which follow-up owner the signed-in person is, for "My follow-ups".

A session is an API token, and a token names a holder in free text ("Els Verhulst", "Tokyo
office laptop") with no link to the owners the register knows (a unit, or a person of a
unit, named in any script). So the person says which owner they are, once: the choice is
kept in a cookie of its own, tied to the token it was made with (another token signed in on
the same browser starts without it). Until they choose, a token whose name is exactly one
owner's person's name is taken to be that owner. The choice is a preference, not a
permission: every signed-in person may read every owner's follow-ups anyway.
"""

from __future__ import annotations

import unicodedata
from collections.abc import Sequence

from starlette.requests import Request
from starlette.responses import Response

from projections.owner_view import OwnerSummary
from service.web.sessions import Session

COOKIE = "agr_me"
YEAR = 365 * 24 * 3600


def _fold(text: str) -> str:
    return " ".join(unicodedata.normalize("NFC", text).casefold().split())


def chosen(request: Request, session: Session) -> str | None:
    """The owner id this session's token chose, if it chose one."""
    token_id, _, owner_id = request.cookies.get(COOKIE, "").partition(":")
    return owner_id if token_id == session.principal.token_id and owner_id else None


def derived(session: Session, owners: Sequence[OwnerSummary]) -> str | None:
    """The one owner whose person bears the token's name, if exactly one does."""
    name = _fold(session.principal.name)
    found = [o.owner_id for o in owners if o.person is not None and _fold(o.person.name) == name]
    return found[0] if len(found) == 1 else None


def remember(request: Request, response: Response, session: Session, owner_id: str) -> None:
    response.set_cookie(
        COOKIE,
        f"{session.principal.token_id}:{owner_id}",
        max_age=YEAR,
        path="/",
        httponly=True,
        samesite="lax",
        secure=request.url.scheme == "https",
    )


def forget(response: Response) -> None:
    response.delete_cookie(COOKIE, path="/", httponly=True, samesite="lax")
