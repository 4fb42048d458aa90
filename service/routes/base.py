"""What every route shares: its declaration (`Endpoint`), the call a handler receives, and
the guard that runs before any handler: authorize, then parse parameters, then read the body.

An `Endpoint` is data: the router builds Starlette routes from it and `service.openapi`
builds the document from the same objects, so no route can exist undocumented or unguarded
by accident (`permission=None` is an explicit choice, made only for /health).

Parameters of a route are one msgspec Struct: fields named in the path template are path
parameters, the others query parameters; unknown query parameters are refused (422).
"""

from __future__ import annotations

import asyncio
import dataclasses
import functools
import re
from collections.abc import Awaitable, Callable, Mapping
from typing import TYPE_CHECKING, Any, Generic, TypeVar

import msgspec
import msgspec.inspect
from starlette.requests import Request
from starlette.responses import Response

from events.envelope import Metadata
from service.auth import Forbidden, Permission, Principal, authorize, permit
from service.problems import (
    BodyTimeout,
    BodyTooLarge,
    InvalidInput,
    MalformedBody,
    UnsupportedMediaType,
    field_problem,
)
from service.responses import FieldProblem
from service.security import note_principal

if TYPE_CHECKING:
    from events.store import EventStore
    from projections.facade import Projections
    from service.live import Live
    from service.metrics import Metrics
    from service.settings import Settings
    from service.tokens import TokenTable

P = TypeVar("P")
B = TypeVar("B")

POSITION_MAX = 2**63 - 1


class NoParams(msgspec.Struct, forbid_unknown_fields=True):
    """For routes without parameters: any query parameter is refused."""


@dataclasses.dataclass(frozen=True, slots=True)
class Services:
    """What lives as long as the app: built in the lifespan, reached through request.state."""

    settings: Settings
    store: EventStore
    tokens: TokenTable
    projections: Projections | None
    metrics: Metrics
    openapi: bytes
    """The OpenAPI document, rendered once from the app's endpoints."""
    live: Live | None = None
    """Live subscriptions (absent when the app runs without its lifespan's hub)."""


@dataclasses.dataclass(frozen=True, slots=True)
class Call(Generic[P, B]):
    request: Request
    services: Services
    principal: Principal | None
    params: P
    body: B


Handler = Callable[[Call[Any, Any]], Awaitable[Response]]


def recorded_by(
    call: Call[Any, Any], *, correlation_id: str | None = None, causation_id: str | None = None
) -> Metadata:
    """Who is recording, for an event's metadata: always the token, never the body."""
    assert call.principal is not None
    return Metadata(
        actor=call.principal.name,
        token_id=call.principal.token_id,
        correlation_id=correlation_id,
        causation_id=causation_id,
        user_agent=call.request.headers.get("user-agent", "")[:200] or None,
    )


@dataclasses.dataclass(frozen=True, kw_only=True)
class Endpoint:
    method: str
    path: str
    name: str
    summary: str
    handler: Handler
    permission: Permission | None
    params: type[msgspec.Struct] = NoParams
    body: type[msgspec.Struct] | None = None
    responses: Mapping[int, Any] = dataclasses.field(default_factory=lambda: {200: None})
    """Success statuses and their body type (None: no JSON schema)."""
    errors: tuple[int, ...] = ()
    """Statuses this route may answer besides the ones every route of its kind can."""
    media_type: str = "application/json"
    feed_key: bool = False
    """A `key` query parameter stands in for the bearer token; the handler checks it (calendar
    feeds, which calendar programs fetch without headers)."""
    also_as: tuple[str, ...] = ()
    """Other media types a 200 may be given in (e.g. `text/csv` for `format=csv`)."""
    description: str = ""
    browser_session: bool = False
    """Also accept a signed-in browser's session cookie (for `EventSource`, which cannot send
    an Authorization header); only for GET routes, which change nothing."""

    @functools.cached_property
    def path_names(self) -> frozenset[str]:
        return frozenset(re.findall(r"{(\w+)(?::\w+)?}", self.path))

    def app(self) -> Callable[[Request], Awaitable[Response]]:
        """The Starlette endpoint: the guard in front of the handler."""
        endpoint = self
        list_fields = _list_fields(self.params)
        decoder = msgspec.json.Decoder(self.body) if self.body is not None else None

        async def guarded(request: Request) -> Response:
            services: Services = request.state.services
            principal = None
            keyed = endpoint.feed_key and "key" in request.query_params
            if endpoint.permission is not None and not keyed:
                try:
                    principal = await _principal(request, services, endpoint)
                except Forbidden as refused:
                    if refused.principal is not None:
                        note_principal(request.scope, refused.principal)
                    raise
                note_principal(request.scope, principal)
            params = _parse_params(
                request, endpoint, list_fields, services.settings.max_query_parameters
            )
            body = None
            if decoder is not None:
                raw = await read_body(
                    request,
                    services.settings.max_body_bytes,
                    services.settings.body_timeout_seconds,
                )
                body = decode_body(decoder, raw)
            return await endpoint.handler(Call(request, services, principal, params, body))

        guarded.__name__ = self.name
        return guarded


async def _principal(request: Request, services: Services, endpoint: Endpoint) -> Principal:
    """Who is asking: the bearer token, or, where the route allows it and no header is sent,
    the browser session."""
    assert endpoint.permission is not None
    authorization = request.headers.get("authorization")
    if endpoint.browser_session and not authorization and request.method == "GET":
        from service.web import sessions  # the web package builds on this module

        session = sessions.current(request)
        if session is not None:
            return permit(session.principal, endpoint.permission)
    return await authorize(services.tokens, authorization, endpoint.permission)


def _list_fields(params: type[msgspec.Struct]) -> frozenset[str]:
    info = msgspec.inspect.type_info(params)
    assert isinstance(info, msgspec.inspect.StructType)
    return frozenset(f.name for f in info.fields if isinstance(f.type, msgspec.inspect.ListType))


_CONTROL = re.compile(r"[\x00-\x1f\x7f]")
_NO_CONTROL = "must not contain control characters"
"""Parameters are identifiers and filters, never free text; PostgreSQL text cannot even hold
a NUL. Refused here for every route, whatever its parameter types say."""


def _parse_params(
    request: Request, endpoint: Endpoint, list_fields: frozenset[str], max_parameters: int
) -> Any:
    values: dict[str, Any] = dict(request.path_params)
    errors: list[FieldProblem] = []
    for key, value in request.path_params.items():
        if _CONTROL.search(value):
            errors.append(FieldProblem(f"path.{key}", _NO_CONTROL))
    query = _query(request, max_parameters) if request.scope["query_string"] else {}
    for key, given in query.items():
        if _CONTROL.search(key) or any(_CONTROL.search(v) for v in given):
            errors.append(FieldProblem(f"query.{key[:100]}", _NO_CONTROL))
        elif key in endpoint.path_names:
            errors.append(FieldProblem(f"query.{key}", "is a path parameter"))
        elif key in list_fields:
            values[key] = given
        elif len(given) > 1:
            errors.append(FieldProblem(f"query.{key}", "given more than once"))
        else:
            values[key] = given[0]
    if errors:
        raise InvalidInput(errors)
    try:
        params = msgspec.convert(values, endpoint.params, strict=False)
    except msgspec.ValidationError as error:
        raise InvalidInput([_param_problem(error, endpoint.path_names)]) from None
    _refuse_null_words(values, params, endpoint.path_names)
    return params


def _query(request: Request, limit: int) -> dict[str, list[str]]:
    """The query's values by name, gathered in one pass. More than `limit` parameters is
    refused before any of them is decoded: counting separators is one scan of the bytes."""
    if request.scope["query_string"].count(b"&") >= limit:
        raise InvalidInput([FieldProblem("query", f"at most {limit} parameters are allowed")])
    grouped: dict[str, list[str]] = {}
    for key, value in request.query_params.multi_items():
        grouped.setdefault(key, []).append(value)
    return grouped


def _refuse_null_words(values: Mapping[str, Any], params: Any, path_names: frozenset[str]) -> None:
    """msgspec's lax conversion reads the text `null` as None; for a parameter that is simply
    absent when not wanted, the word is a value the schema does not allow, not an omission."""
    for key, value in values.items():
        if value == "null" and getattr(params, key, None) is None:
            where = "path" if key in path_names else "query"
            raise InvalidInput([FieldProblem(f"{where}.{key}", "must not be null")])


_UNKNOWN_FIELD = re.compile(r"^Object contains unknown field `(?P<name>.*)`$", re.DOTALL)


def _param_problem(error: msgspec.ValidationError, path_names: frozenset[str]) -> FieldProblem:
    unknown = _UNKNOWN_FIELD.match(str(error))
    if unknown is not None:
        return FieldProblem(f"query.{unknown['name'][:100]}", "unknown query parameter")
    problem = field_problem(error, "$")
    name = problem.path.removeprefix("$.").split(".", 1)[0].split("[", 1)[0]
    where = "path" if name in path_names else "query"
    return FieldProblem(f"{where}.{problem.path.removeprefix('$.')}", problem.message)


async def read_body(request: Request, limit: int, timeout: float | None = None) -> bytes:  # noqa: ASYNC109
    """The JSON body, at most `limit` bytes (413 beyond, even if Content-Length lied), whole
    within `timeout` seconds (408 after: a client trickling a body holds a connection and a
    request slot for as long as it likes otherwise)."""
    media_type = request.headers.get("content-type", "").split(";", 1)[0].strip().lower()
    if media_type != "application/json":
        raise UnsupportedMediaType(request.headers.get("content-type"))
    declared = request.headers.get("content-length")
    if declared is not None and declared.isascii() and declared.isdigit() and int(declared) > limit:
        raise BodyTooLarge(limit)
    chunks: list[bytes] = []
    size = 0
    try:
        async with asyncio.timeout(timeout):
            async for chunk in request.stream():
                size += len(chunk)
                if size > limit:
                    raise BodyTooLarge(limit)
                chunks.append(chunk)
    except TimeoutError:
        assert timeout is not None
        raise BodyTimeout(timeout) from None
    return b"".join(chunks)


def decode_body(decoder: msgspec.json.Decoder[Any], raw: bytes) -> Any:
    if not raw.strip():
        raise MalformedBody("the body is empty; send a JSON object")
    try:
        raw.decode()  # msgspec passes the bytes of a `Raw` field (event data) on unchecked
        return decoder.decode(raw)
    except msgspec.ValidationError as error:
        raise InvalidInput([field_problem(error)]) from None
    except msgspec.DecodeError as error:
        raise MalformedBody(f"the body is not valid JSON: {error}") from None
    except UnicodeDecodeError:
        raise MalformedBody("the body is not valid UTF-8") from None
    except RecursionError:
        raise MalformedBody("the body is nested too deeply") from None
