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
from service.routes.base import Call, recorded_by
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


async def list_tokens(call: Call[Any, None]) -> Response:
    await call.services.tokens.refresh()
    records = call.services.tokens.tokens()
    return JSONResponse(TokenList(tokens=[token_info(r) for r in records]))


async def revoke_token(call: Call[RevokeParams, None]) -> Response:
    tokens, token_id = call.services.tokens, call.params.token_id
    await tokens.revoke(token_id, metadata=recorded_by(call), reason=call.params.reason)
    record = next(r for r in tokens.tokens() if r.token_id == token_id)
    return JSONResponse(token_info(record))
