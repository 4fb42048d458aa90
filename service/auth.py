"""Who may do what: bearer tokens checked against the token table, and the role matrix.

| permission         | routes                               | recorder | viewer | auditor | admin |
| ------------------ | ------------------------------------ | -------- | ------ | ------- | ----- |
| `append`           | POST /streams/{id}/events            | x        |        |         | x     |
| `read_stream`      | GET /streams/{id}/events             | x        |        | x       | x     |
| `read_log`         | GET /events, GET /events/live,       |          |        | x       | x     |
|                    | GET /people/{id}                     |          |        |         |       |
| `read_projections` | /partnerships, /owners, … , /live,   | x        | x      | x       | x     |
|                    | GET /people                          |          |        |         |       |
| `read_metrics`     | GET /metrics                         |          | x      | x       | x     |
| `read_openapi`     | GET /openapi.json                    | x        | x      | x       | x     |
| `manage`           | /admin/tokens, POST /people/{id}/... |          |        |         | x     |

Recorders read projections so that staff can see what they just recorded (read-your-writes);
viewers (dashboards) never write and never see the raw log. Only GET / (a page saying what
this is) and GET /health are open.
"""

from __future__ import annotations

from typing import Literal

import msgspec

from events.catalogue import Role
from service.tokens import TokenTable

Permission = Literal[
    "append",
    "read_stream",
    "read_log",
    "read_projections",
    "read_metrics",
    "read_openapi",
    "manage",
]

MATRIX: dict[Permission, frozenset[Role]] = {
    "append": frozenset({"recorder", "admin"}),
    "read_stream": frozenset({"recorder", "auditor", "admin"}),
    "read_log": frozenset({"auditor", "admin"}),
    "read_projections": frozenset({"recorder", "viewer", "auditor", "admin"}),
    "read_metrics": frozenset({"viewer", "auditor", "admin"}),
    "read_openapi": frozenset({"recorder", "viewer", "auditor", "admin"}),
    "manage": frozenset({"admin"}),
}


class Unauthenticated(Exception):
    """No usable credentials (401): missing, malformed, unknown or revoked."""

    def __init__(self, detail: str) -> None:
        self.detail = detail
        super().__init__(detail)


class Principal(msgspec.Struct, frozen=True, kw_only=True):
    """The caller, as established by its token. The recorded actor comes from here only."""

    token_id: str
    name: str
    role: Role


class Forbidden(Exception):
    """Valid credentials whose role does not allow the request (403); `principal` says whose,
    for the security log."""

    def __init__(self, detail: str, principal: Principal | None = None) -> None:
        self.detail = detail
        self.principal = principal
        super().__init__(detail)


async def authorize(
    tokens: TokenTable, authorization: str | None, permission: Permission
) -> Principal:
    """The principal behind an `Authorization: Bearer …` header, if allowed `permission`."""
    if not authorization:
        raise Unauthenticated("send an API token as 'Authorization: Bearer <token>'")
    scheme, _, secret = authorization.partition(" ")
    if scheme.lower() != "bearer" or not secret.strip():
        raise Unauthenticated("the Authorization header must be 'Bearer <token>'")
    record = await tokens.check(secret.strip())
    if record is None:
        raise Unauthenticated("the token is unknown or revoked")
    principal = Principal(token_id=record.token_id, name=record.name, role=record.role)
    return permit(principal, permission)


def permit(principal: Principal, permission: Permission) -> Principal:
    """`principal` if its role allows `permission` (however it signed in), else Forbidden."""
    allowed = MATRIX[permission]
    if principal.role not in allowed:
        raise Forbidden(
            f"a {principal.role} token may not {permission.replace('_', ' ')}"
            f" (allowed: {', '.join(sorted(allowed))})",
            principal,
        )
    return principal
