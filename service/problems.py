"""The one mapping from exceptions to problem+json responses.

Handlers raise; this module decides status, stable `type` URI, title and extra members. A
problem's `type` never changes once published: clients branch on it. Unexpected exceptions
become a 500 that says nothing about internals (the traceback goes to the server log).
"""

from __future__ import annotations

import http
import re
from collections.abc import Callable, Mapping
from typing import Any

import msgspec
import sqlalchemy.exc
from starlette.exceptions import HTTPException
from starlette.requests import ClientDisconnect, Request
from starlette.responses import Response
from starlette.routing import Match, Route

from events import errors as store_errors
from events.catalogue import PATTERN_MEANINGS
from projections.replays import ReplaysBusy
from service.auth import Forbidden, Unauthenticated
from service.responses import FieldProblem, Problem, ProblemResponse, problem
from service.tokens import UnknownToken

CLIENT_CLOSED_REQUEST = 499


class MalformedBody(Exception):
    """The body is not JSON at all (400)."""

    def __init__(self, detail: str) -> None:
        self.detail = detail
        super().__init__(detail)


class BodyTooLarge(Exception):
    def __init__(self, limit: int) -> None:
        self.limit = limit
        super().__init__(f"request bodies are limited to {limit} bytes")


class BodyTimeout(Exception):
    """The body did not arrive whole in time (408; the connection is closed after)."""

    def __init__(self, seconds: float) -> None:
        self.seconds = seconds
        super().__init__(f"the request body must arrive within {seconds:g} seconds")


class UnsupportedMediaType(Exception):
    def __init__(self, got: str | None) -> None:
        self.got = got
        super().__init__(f"expected Content-Type application/json, got {got or 'none'}")


class InvalidInput(Exception):
    """The request parsed but does not match its schema (422), with paths to each problem."""

    def __init__(self, errors: list[FieldProblem]) -> None:
        self.errors = errors
        super().__init__("; ".join(f"{e.path}: {e.message}" for e in errors))


class NotFound(Exception):
    def __init__(self, detail: str) -> None:
        self.detail = detail
        super().__init__(detail)


_AT_PATH = re.compile(r"^(?P<message>.*) - at `(?P<path>\$[^`]*)`$", re.DOTALL)


def field_problem(error: msgspec.ValidationError, prefix: str = "$") -> FieldProblem:
    """Split msgspec's "message - at `$.a[0].b`" and graft the path onto `prefix`."""
    text = str(error)
    found = _AT_PATH.match(text)
    if found is None:
        return FieldProblem(path=prefix, message=plain_message(text))
    return FieldProblem(path=prefix + found["path"][1:], message=plain_message(found["message"]))


_REGEX_MESSAGES = {
    f"Expected `str` matching regex {pattern!r}": f"Expected {meaning}"
    for pattern, meaning in PATTERN_MEANINGS.items()
}


def plain_message(message: str) -> str:
    """msgspec quotes a pattern when a string breaks it; say what the pattern means instead."""
    return _REGEX_MESSAGES.get(message, message)


def _store_unavailable(exc: Exception) -> tuple[Problem, dict[str, str]]:
    retry_after = exc.retry_after if isinstance(exc, store_errors.StoreUnavailable) else 1
    return (
        problem(
            "store-unavailable",
            "The event store is unavailable",
            503,
            "The database cannot be reached or written right now; retry later.",
        ),
        {"Retry-After": str(retry_after)},
    )


def problem_for(exc: Exception) -> tuple[Problem, dict[str, str]]:
    """The problem (and extra headers) that answers `exc`."""
    match exc:
        case ClientDisconnect():
            # Nobody is left to read this answer; 499 (nginx's "client closed request") is
            # what the metrics and the access log record, instead of a 500 and a traceback.
            return (
                problem(
                    "client-closed-request",
                    "Client closed request",
                    CLIENT_CLOSED_REQUEST,
                    "The client went away before its request had arrived; nothing was done.",
                ),
                {},
            )
        case MalformedBody():
            return problem("malformed-body", "Malformed request body", 400, exc.detail), {}
        case Unauthenticated():
            return (
                problem("unauthenticated", "Missing or invalid credentials", 401, exc.detail),
                {"WWW-Authenticate": 'Bearer realm="agreements"'},
            )
        case Forbidden():
            return problem("forbidden", "Not allowed for this token's role", 403, exc.detail), {}
        case NotFound():
            return problem("not-found", "Not found", 404, exc.detail), {}
        case UnknownToken():
            return problem("not-found", "Not found", 404, str(exc)), {}
        case store_errors.StreamNotFound():
            return problem("not-found", "Not found", 404, str(exc)), {}
        case store_errors.WrongExpectedVersion():
            return (
                problem(
                    "wrong-expected-version",
                    "The stream is not at the expected version",
                    409,
                    str(exc),
                    current_version=exc.current_version,
                ),
                {},
            )
        case store_errors.IdempotencyConflict():
            return problem("idempotency-conflict", "Event id reused", 409, str(exc)), {}
        case BodyTooLarge():
            return problem("body-too-large", "Request body too large", 413, str(exc)), {}
        case UnsupportedMediaType():
            return problem("unsupported-media-type", "Unsupported media type", 415, str(exc)), {}
        case InvalidInput():
            return _invalid(exc.errors), {}
        case msgspec.ValidationError():
            return _invalid([field_problem(exc)]), {}
        case store_errors.ValidationFailed():
            return _invalid(
                [FieldProblem(e.path, plain_message(e.message)) for e in exc.errors]
            ), {}
        case store_errors.RuleViolation():
            where = (
                None if exc.index is None else [FieldProblem(f"$.events[{exc.index}]", exc.detail)]
            )
            return (
                problem(
                    "rule-violation",
                    "The events break a rule of the stream",
                    422,
                    exc.detail,
                    rule=exc.rule,
                    errors=where,
                ),
                {},
            )
        case (
            store_errors.StoreUnavailable()
            | sqlalchemy.exc.OperationalError()
            | sqlalchemy.exc.TimeoutError()
        ):
            return _store_unavailable(exc)
        case HTTPException():
            return _from_http_exception(exc)
        case ReplaysBusy():
            return (
                problem("replays-busy", "Too many reads of the past at once", 503, str(exc)),
                {"Retry-After": str(exc.retry_after)},
            )
        case BodyTimeout():
            return (
                problem("request-timeout", "Request body too slow", 408, str(exc)),
                {"Connection": "close"},
            )
    return (
        problem("internal-error", "Internal server error", 500, "The error has been logged."),
        {},
    )


def _invalid(errors: list[FieldProblem]) -> Problem:
    return problem(
        "invalid-request",
        "The request does not match its schema",
        422,
        "; ".join(f"{e.path}: {e.message}" for e in errors),
        errors=errors,
    )


def _from_http_exception(exc: HTTPException) -> tuple[Problem, dict[str, str]]:
    status = exc.status_code
    try:
        phrase = http.HTTPStatus(status).phrase
    except ValueError:
        phrase = "Error"
    slug = re.sub(r"[^a-z0-9]+", "-", phrase.lower()).strip("-")
    return problem(slug, phrase, status, exc.detail), dict(exc.headers or {})


def problem_response(exc: Exception) -> ProblemResponse:
    body, headers = problem_for(exc)
    return ProblemResponse(body, headers=headers)


async def _handle(request: Request, exc: Exception) -> Response:
    response = problem_response(exc)
    if response.status_code == 405:
        response.headers["Allow"] = allowed_methods(request)
    return response


def allowed_methods(request: Request) -> str:
    """Every method served at the request's path. Starlette's router answers 405 from the
    first route whose template matched, which names only that route's methods; a path such
    as /streams/{id}/events is served by one route per method."""
    methods: set[str] = set()
    for route in request.app.router.routes:
        match, _ = route.matches({**request.scope, "method": ""})
        if match is not Match.NONE and isinstance(route, Route) and route.methods:
            methods |= route.methods
    return ", ".join(sorted(methods))


HANDLED: tuple[type[Exception], ...] = (
    ClientDisconnect,
    MalformedBody,
    BodyTooLarge,
    UnsupportedMediaType,
    InvalidInput,
    NotFound,
    UnknownToken,
    Unauthenticated,
    Forbidden,
    msgspec.ValidationError,
    store_errors.StoreError,
    sqlalchemy.exc.OperationalError,
    sqlalchemy.exc.TimeoutError,
    HTTPException,
    ReplaysBusy,
    BodyTimeout,
)


def exception_handlers() -> Mapping[Any, Callable[[Request, Exception], Any]]:
    """Starlette's `exception_handlers`: every known exception, and 500 for the rest."""
    handlers: dict[Any, Callable[[Request, Exception], Any]] = dict.fromkeys(HANDLED, _handle)
    handlers[Exception] = _handle
    return handlers
