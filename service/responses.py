"""Response classes that render with msgspec: JSON bodies and RFC 9457 problem details."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import msgspec
from starlette.responses import Response

_encode = msgspec.json.Encoder().encode

PROBLEM_BASE = "https://agreements.example/problems/"


class JSONResponse(Response):
    """Renders any msgspec-encodable content (Structs, dicts, lists, Raw) as JSON."""

    media_type = "application/json"

    def render(self, content: Any) -> bytes:
        return _encode(content)


class FieldProblem(msgspec.Struct, frozen=True):
    """Where in the request a value was refused (a JSON path such as `$.events[0].type`,
    or `query.limit` / `path.stream_id`), and why."""

    path: str
    message: str


class Problem(msgspec.Struct, frozen=True, kw_only=True, omit_defaults=True):
    """An `application/problem+json` body. `type` is a stable URI per kind of problem."""

    type: str
    title: str
    status: int
    detail: str | None = None
    errors: list[FieldProblem] | None = None
    current_version: int | None = None
    rule: str | None = None


class ProblemResponse(Response):
    media_type = "application/problem+json"

    def __init__(self, problem: Problem, headers: Mapping[str, str] | None = None) -> None:
        super().__init__(problem, status_code=problem.status, headers=headers)

    def render(self, content: Any) -> bytes:
        return _encode(content)


def problem(
    slug: str,
    title: str,
    status: int,
    detail: str | None = None,
    **extra: Any,
) -> Problem:
    """A Problem whose `type` is `PROBLEM_BASE + slug`."""
    return Problem(type=PROBLEM_BASE + slug, title=title, status=status, detail=detail, **extra)
