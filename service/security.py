"""What every answer carries for the browser's sake, and what the security log records.

Headers: `X-Content-Type-Options: nosniff` always; an API answer may be rendered by nothing,
framed by nothing (`Content-Security-Policy: default-src 'none'; frame-ancestors 'none'`) and
stored by nothing (`Cache-Control: no-store`: answers are for the token that asked, and a
conditional request with `If-None-Match` still gets its 304). A route that serves something
else (an HTML page) sets its own `Content-Security-Policy` or `Cache-Control`, and that one
is kept.

The security log (`agreements.security`): every 401 and 403 at WARNING, with method, path,
client and, for a 403, which token was refused; with `access_log`, every other answer given
to a token at INFO (token id and name, method, path, status). A token's secret is never in
it: the record names the token by id, as the token table does (for a 401, the id the refused
token claims, if it has the token's shape). The client is the socket's peer, or what a
trusted proxy says it is (uvicorn's proxy headers, `trusted_proxies`).

Pure ASGI, wrapped around the whole application (error answers included): per answer it adds
a few header tuples and, unless a record is due, reads one key of the scope.
"""

from __future__ import annotations

import logging
import re
from typing import Any

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from service.auth import Principal

security_log = logging.getLogger("agreements.security")

PRINCIPAL = "agreements.principal"
"""The scope key where the guard leaves the token's principal (allowed or refused)."""

API_POLICY = b"default-src 'none'; frame-ancestors 'none'"
_NOSNIFF = (b"x-content-type-options", b"nosniff")
_POLICY = (b"content-security-policy", API_POLICY)
_NO_STORE = (b"cache-control", b"no-store")


def note_principal(scope: Scope, principal: Principal) -> None:
    """Say who asked, for the security log (the guard calls it, allowed or refused)."""
    scope[PRINCIPAL] = principal


class SecurityMiddleware:
    def __init__(self, app: ASGIApp, *, access_log: bool = False) -> None:
        self.app = app
        self.access_log = access_log

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return

        async def send_guarded(message: Message) -> None:
            if message["type"] == "http.response.start":
                message = _with_headers(message)
                _record(scope, message["status"], self.access_log)
            await send(message)

        await self.app(scope, receive, send_guarded)


def _with_headers(message: Message) -> Message:
    headers = [*message.get("headers", ()), _NOSNIFF]
    names = [name for name, _ in headers]  # ASGI header names are lower-case
    if b"content-security-policy" not in names:
        headers.append(_POLICY)
    if b"cache-control" not in names:
        headers.append(_NO_STORE)
    message["headers"] = headers  # a message is built for each send: it is ours to change
    return message


def _record(scope: Scope, status: int, access_log: bool) -> None:
    if status in (401, 403):
        principal: Principal | None = scope.get(PRINCIPAL)
        claimed = _claimed_token(scope) if principal is None else None
        if principal is not None:
            whose = f" for {_token(principal)}"
        elif claimed is not None:
            whose = f" for unknown, revoked or mistyped token {claimed}"
        else:
            whose = ""
        security_log.warning(
            "refused %d %s %s from %s%s",
            status,
            scope["method"],
            _path(scope),
            _client(scope),
            whose,
            extra={**_fields(scope, status, principal), "claimed_token_id": claimed},
        )
    elif access_log and PRINCIPAL in scope and security_log.isEnabledFor(logging.INFO):
        principal = scope[PRINCIPAL]
        security_log.info(
            "%s %s %s %d from %s",
            _token(principal),
            scope["method"],
            _path(scope),
            status,
            _client(scope),
            extra=_fields(scope, status, principal),
        )


_CLAIMED = re.compile(rb"bearer\s+agr_([0-9a-f]{16})_", re.IGNORECASE)


def _claimed_token(scope: Scope) -> str | None:
    """The token id a refused token names (`agr_<id>_…`; never the secret after it): a
    revoked token still in use is worth knowing about."""
    for name, value in scope["headers"]:
        if name == b"authorization":
            found = _CLAIMED.match(value)
            return found[1].decode() if found else None
    return None


def _token(principal: Principal) -> str:
    return f"token {principal.token_id} ({principal.name!r}, {principal.role})"


def _path(scope: Scope) -> str:
    path: str = scope["path"]
    return path if len(path) <= 300 else path[:300] + "…"


def _client(scope: Scope) -> str:
    client = scope.get("client")
    return "unknown" if not client else f"{client[0]}:{client[1]}"


def _fields(scope: Scope, status: int, principal: Principal | None) -> dict[str, Any]:
    """The record's facts as attributes too, for a structured (JSON) log handler."""
    return {
        "status": status,
        "method": scope["method"],
        "path": _path(scope),
        "client": _client(scope),
        "token_id": None if principal is None else principal.token_id,
        "token_name": None if principal is None else principal.name,
        "role": None if principal is None else principal.role,
    }
