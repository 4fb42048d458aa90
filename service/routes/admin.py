"""Token administration over HTTP (role admin): issue, list, revoke.

The same operations as `agreements token ...`; a token issued or revoked here takes effect in
this process before the response is sent.
"""

from __future__ import annotations

from typing import Annotated, Any

import msgspec
from starlette.responses import Response

from events.catalogue import Role, Text
from service.responses import JSONResponse
from service.routes import paging
from service.routes.base import Call, recorded_by
from service.routes.paging import DEFAULT_LIMIT, CursorToken, Limit
from service.tokens import TokenRecord

Name = Text
TokenId = Annotated[str, msgspec.Meta(pattern=r"^[0-9a-f]{16}$")]
Reason = Text


class TokenRequest(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    name: Name
    """Who or what will use the token; recorded as the actor of every event it appends."""
    role: Role


class RevokeParams(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    token_id: TokenId
    reason: Reason | None = None


class TokenListParams(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    limit: Limit = DEFAULT_LIMIT
    """Most tokens on this page (1 to 1,000)."""
    cursor: CursorToken | None = None
    """Where this page starts: from the `next` link of the page before (opaque)."""


class TokenCreated(msgspec.Struct, frozen=True, kw_only=True):
    token_id: str
    name: str
    role: Role
    token: str
    """The bearer token. It is shown only in this response: store it now."""


class TokenInfo(msgspec.Struct, frozen=True, kw_only=True):
    token_id: str
    name: str
    role: Role
    issued_at: str
    revoked_at: str | None


class TokenList(msgspec.Struct, frozen=True, kw_only=True):
    tokens: list[TokenInfo]
    """By token id. Tokens are never deleted (a revoked one stays, with `revoked_at`), so a
    walk shows every token issued before it began exactly once."""
    next: str | None
    """The URL of the next page (also in the `Link` header), null on the last page."""


def token_info(record: TokenRecord) -> TokenInfo:
    return TokenInfo(
        token_id=record.token_id,
        name=record.name,
        role=record.role,
        issued_at=record.issued_at,
        revoked_at=record.revoked_at,
    )


async def create_token(call: Call[Any, TokenRequest]) -> Response:
    issued = await call.services.tokens.issue(
        name=call.body.name, role=call.body.role, metadata=recorded_by(call)
    )
    body = TokenCreated(
        token_id=issued.token_id, name=issued.name, role=issued.role, token=issued.secret
    )
    return JSONResponse(body, status_code=201, headers={"Cache-Control": "no-store"})


async def list_tokens(call: Call[TokenListParams, None]) -> Response:
    p = call.params
    bound = paging.binding("tokens", p)
    cursor = paging.cursor_of(p, bound)
    await call.services.tokens.refresh()
    records = sorted(call.services.tokens.tokens(), key=lambda r: r.token_id)
    if cursor is not None:
        records = [r for r in records if r.token_id > cursor.last]
    shown = records[: p.limit]
    link = None
    if len(records) > p.limit:
        link = paging.next_link(call.request, bound, 0, shown[-1].token_id)
    body = TokenList(tokens=[token_info(r) for r in shown], next=link)
    return JSONResponse(body, headers=paging.link_header(link))


async def revoke_token(call: Call[RevokeParams, None]) -> Response:
    tokens, token_id = call.services.tokens, call.params.token_id
    await tokens.revoke(token_id, metadata=recorded_by(call), reason=call.params.reason)
    record = next(r for r in tokens.tokens() if r.token_id == token_id)
    return JSONResponse(token_info(record))
