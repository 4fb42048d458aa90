"""The OpenAPI 3.1 document, generated from the endpoint table and its msgspec Structs.

Schemas come from `msgspec.json.schema_components` over the same types the router decodes
and encodes with; parameters from each route's parameter Struct (path fields by the template,
the rest query); error statuses from what the guard can refuse, plus each route's own.
Permissions appear as `x-permission` and `x-roles` on every operation.
"""

from __future__ import annotations

import ast
import functools
import importlib
import importlib.metadata
import inspect
import itertools
from collections.abc import Iterable, Sequence
from typing import Any

import msgspec

from events.catalogue import (
    EVENT_TYPES,
    CalendarKeyIssued,
    CalendarKeyRevoked,
    LogNamed,
    SigningKeyRegistered,
    SigningKeyRotated,
    TokenIssued,
    TokenRevoked,
)
from service.auth import MATRIX
from service.responses import Problem
from service.routes.base import Endpoint, NoParams

_REF = "#/components/schemas/{name}"
_ERROR_TITLES = {
    400: "Malformed body (not JSON)",
    401: "Missing, malformed, unknown or revoked token",
    403: "The token's role does not allow this",
    404: "No such stream or resource",
    408: "The body did not arrive within the server's body timeout (the connection is closed)",
    409: "Expected version does not hold, or event id reused with other content",
    413: "Body larger than the server's limit",
    415: "Content-Type is not application/json",
    422: "Schema or rule violation (with JSON paths, or the rule's name)",
    500: "The server failed (for audit routes: the log fails verification, `log-broken`, or "
    "the signing key is not the one the log records, `signing-key-unknown`)",
    503: "The database is unavailable, or too many reads of the past run at once;"
    " retry after Retry-After seconds",
}
_SERVICE_ONLY = (
    TokenIssued,
    TokenRevoked,
    CalendarKeyIssued,
    CalendarKeyRevoked,
    LogNamed,
    SigningKeyRegistered,
    SigningKeyRotated,
)
"""Recorded by the service's own commands, never by a client."""
_EVENT_DATA = [t for t in EVENT_TYPES.values() if t not in _SERVICE_ONLY]
_NO_DATABASE = frozenset({"openapi"})
"""Routes that answer without the database, so never 503."""


def document(
    endpoints: Sequence[Endpoint], *, max_events_per_batch: int | None = None
) -> dict[str, Any]:
    """`max_events_per_batch`: the server's limit on events in one append (a setting, so
    not part of the body's type), stated as the `maxItems` of `events`."""
    types = _types(endpoints)
    _, components = msgspec.json.schema_components(types, ref_template=_REF)
    events = components.get("AppendRequest", {}).get("properties", {}).get("events")
    if events is not None and max_events_per_batch is not None:
        events["maxItems"] = max_events_per_batch
    params = {e.params.__name__ for e in endpoints}
    _describe_fields(types, components)
    parameters = {name: components.pop(name) for name in params if name in components}
    _describe_raw_json(components)
    paths: dict[str, dict[str, Any]] = {}
    for endpoint in endpoints:
        operation = _operation(endpoint, parameters.get(endpoint.params.__name__))
        paths.setdefault(endpoint.path, {})[endpoint.method.lower()] = operation
    return {
        "openapi": "3.1.0",
        "info": {
            "title": "Agreements register",
            "version": _version(),
            "description": (
                "An event-sourced register of international agreements, their signatories"
                " and follow-up owners. Errors are application/problem+json."
            ),
        },
        "paths": paths,
        "components": {
            "schemas": components,
            "securitySchemes": {"bearer": {"type": "http", "scheme": "bearer"}},
        },
        "security": [{"bearer": []}],
    }


def render(endpoints: Sequence[Endpoint], *, max_events_per_batch: int | None = None) -> bytes:
    return msgspec.json.encode(document(endpoints, max_events_per_batch=max_events_per_batch))


def _types(endpoints: Iterable[Endpoint]) -> list[Any]:
    found: list[Any] = [Problem, *_EVENT_DATA]
    for endpoint in endpoints:
        if endpoint.params is not NoParams:
            found.append(endpoint.params)
        if endpoint.body is not None:
            found.append(endpoint.body)
        found.extend(t for t in endpoint.responses.values() if t is not None)
    return list(dict.fromkeys(found))


def _describe_fields(types: Sequence[Any], components: dict[str, Any]) -> None:
    """Each field's docstring (the string under it in its Struct) as its `description`:
    msgspec takes a Struct's own docstring, not its fields'. What a field means (that
    `corrected_by` lists the corrections' positions, that `next_expires_on` rolls forward) is
    written once, beside the field, for readers of the code and of the API."""
    for name, docs in _descriptions(tuple(types)).items():
        properties = components.get(name, {}).get("properties", {})
        for field_name, text in docs.items():
            field = properties.get(field_name)
            if field is not None and "description" not in field:
                field["description"] = text


@functools.cache
def _descriptions(types: tuple[Any, ...]) -> dict[str, dict[str, str]]:
    """Struct name -> its fields' docstrings, for every Struct the types reach (computed once
    per set of types: an app is created many times in the tests)."""
    found: dict[str, dict[str, str]] = {}
    seen: set[int] = set()
    for info in msgspec.inspect.multi_type_info(types):
        for struct in _structs(info, seen):
            docs = _field_docs(struct)
            if docs:
                found[struct.__name__] = docs
    return found


def _structs(info: Any, seen: set[int]) -> Iterable[type]:
    """The Struct types in a type's info, nested ones included, each once."""
    if id(info) in seen:
        return
    seen.add(id(info))
    if isinstance(info, msgspec.inspect.StructType):
        yield info.cls
        for field in info.fields:
            yield from _structs(field.type, seen)
        return
    for name in ("item_type", "key_type", "value_type"):
        if hasattr(info, name):
            yield from _structs(getattr(info, name), seen)
    for name in ("types", "item_types"):
        for item in getattr(info, name, ()):
            yield from _structs(item, seen)


def _field_docs(cls: type) -> dict[str, str]:
    """Field name -> the docstring under it, from the class and its bases (nearest first)."""
    docs: dict[str, str] = {}
    for klass in reversed(cls.__mro__):
        docs.update(_module_docs(klass.__module__).get(klass.__qualname__, {}))
    return docs


@functools.cache
def _module_docs(module: str) -> dict[str, dict[str, str]]:
    """Each top-level class of a module (by name) -> its fields' docstrings; the module's
    source is parsed once."""
    try:
        source = inspect.getsource(importlib.import_module(module))
    except (OSError, TypeError):
        return {}
    found: dict[str, dict[str, str]] = {}
    for node in ast.parse(source).body:
        if not isinstance(node, ast.ClassDef):
            continue
        docs = found.setdefault(node.name, {})
        for statement, following in itertools.pairwise(node.body):
            if (
                isinstance(statement, ast.AnnAssign)
                and isinstance(statement.target, ast.Name)
                and isinstance(following, ast.Expr)
                and isinstance(following.value, ast.Constant)
                and isinstance(following.value.value, str)
            ):
                docs[statement.target.id] = inspect.cleandoc(following.value.value)
    return found


def _describe_raw_json(components: dict[str, Any]) -> None:
    """`msgspec.Raw` fields have an empty schema: say what they hold."""
    event_in = components.get("EventIn", {}).get("properties", {})
    if "data" in event_in:
        names = ", ".join(t.__name__ for t in _EVENT_DATA)
        event_in["data"] = {
            "type": "object",
            "description": f"The data of the event's `type`: one of the schemas {names}.",
            "examples": [{"text": "Minutes of the steering committee's first meeting."}],
        }
    recorded = components.get("RecordedEvent", {}).get("properties", {})
    for name in ("data", "metadata"):
        if name in recorded:
            recorded[name] = {"type": "object", "description": "Exactly as stored."}


def _operation(endpoint: Endpoint, params_schema: dict[str, Any] | None) -> dict[str, Any]:
    operation: dict[str, Any] = {
        "operationId": endpoint.name,
        "summary": endpoint.summary,
        "responses": _responses(endpoint, params_schema),
    }
    if endpoint.description:
        operation["description"] = endpoint.description
    if endpoint.permission is None:
        operation["security"] = []
    else:
        operation["x-permission"] = endpoint.permission
        operation["x-roles"] = sorted(MATRIX[endpoint.permission])
    if params_schema is not None:
        operation["parameters"] = _parameters(endpoint, params_schema)
    if endpoint.body is not None:
        operation["requestBody"] = {
            "required": True,
            "content": {"application/json": {"schema": {"$ref": _ref(endpoint.body)}}},
        }
    return operation


def _parameters(endpoint: Endpoint, schema: dict[str, Any]) -> list[dict[str, Any]]:
    required = set(schema.get("required", ()))
    found = []
    for name, property_schema in schema.get("properties", {}).items():
        in_path = name in endpoint.path_names
        described = dict(property_schema)
        description = described.pop("description", None)
        parameter = {
            "name": name,
            "in": "path" if in_path else "query",
            "required": in_path or name in required,
            "schema": _printable(_without_null(described)),
        }
        if description is not None:
            parameter["description"] = description
        found.append(parameter)
    return found


_PRINTABLE = "^[^\\x00-\\x1f\\x7f]*$"
"""What every parameter value must match besides its own schema: no control characters
(refused for every route by the guard, `service.routes.base`)."""


def _printable(schema: dict[str, Any]) -> dict[str, Any]:
    """`schema` saying that its text may hold no control characters, where its own pattern,
    format or enumeration does not already rule them out."""
    if "anyOf" in schema:
        return {**schema, "anyOf": [_printable(option) for option in schema["anyOf"]]}
    if schema.get("type") == "array" and isinstance(schema.get("items"), dict):
        return {**schema, "items": _printable(schema["items"])}
    if schema.get("type") == "string" and not {"pattern", "format", "enum"} & schema.keys():
        return {**schema, "pattern": _PRINTABLE}
    return schema


def _without_null(schema: dict[str, Any]) -> dict[str, Any]:
    """An optional parameter is absent, never null: drop the null branch and default."""
    options = schema.get("anyOf")
    if not options or {"type": "null"} not in options:
        return schema
    rest = [o for o in options if o != {"type": "null"}]
    base = {k: v for k, v in schema.items() if k not in ("anyOf", "default")}
    return {**base, **rest[0]} if len(rest) == 1 else {**base, "anyOf": rest}


def _responses(endpoint: Endpoint, params_schema: dict[str, Any] | None) -> dict[str, Any]:
    responses: dict[str, Any] = {}
    for status, body_type in endpoint.responses.items():
        if status == 304:
            responses["304"] = {"description": "Not modified: `If-None-Match` matched the ETag"}
            continue
        content: dict[str, Any] = {endpoint.media_type: {}}
        if body_type is not None:
            content = {endpoint.media_type: {"schema": {"$ref": _ref(body_type)}}}
        if status == 200:
            content |= {media: {"schema": {"type": "string"}} for media in endpoint.also_as}
        responses[str(status)] = {"description": _success(status), "content": content}
    errors = set(endpoint.errors)
    if endpoint.permission is not None:
        errors |= {401, 403}
    if params_schema is not None and params_schema.get("properties"):
        errors.add(422)
    if endpoint.body is not None:
        errors |= {400, 408, 413, 415, 422}
    if endpoint.name not in _NO_DATABASE:
        errors.add(503)
    problem = {"application/problem+json": {"schema": {"$ref": _ref(Problem)}}}
    for status in sorted(errors - set(endpoint.responses)):
        responses[str(status)] = {"description": _ERROR_TITLES[status], "content": problem}
    return responses


def _success(status: int) -> str:
    return {201: "Created", 200: "OK", 503: "Unavailable"}.get(status, "OK")


def _ref(type_: Any) -> str:
    return _REF.format(name=type_.__name__)


def _version() -> str:
    try:
        return importlib.metadata.version("agreements")
    except importlib.metadata.PackageNotFoundError:
        return "0"
