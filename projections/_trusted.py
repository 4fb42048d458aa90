"""Decoding the log's own events for replays, without validating them a second time.

Every event in the log was validated when it was appended (lengths, patterns, ranges), and
a fold never refuses anyway. Decoding stored data with the catalogue's strict types repeats
those checks, regular expressions on every string included, for every event of every replay:
most of a replay's decoding time. These decoders use copies of the catalogue's types made
at import with the constraints left out and nothing else changed: same fields, order,
defaults and encoding options, so a view holding a copied `Person` encodes to the very bytes
it would with the catalogue's. Copies are also untracked by the garbage collector (they hold
no cycles). Events of older schema versions still go through the upcasters.

A fold accepts either form: `trusted_kinds(cls)` gives both classes to dispatch on.
"""

from __future__ import annotations

import functools
import operator
import types
import typing
from typing import Any

import msgspec
from msgspec.structs import fields

from events.catalogue import EVENT_TYPES
from events.upcasting import decode_stored

_COPIES: dict[type, type] = {}


def _trusted_type(annotation: Any) -> Any:
    """`annotation` without constraints, Structs replaced by their trusted copies."""
    origin = typing.get_origin(annotation)
    if origin is typing.Annotated:
        return _trusted_type(typing.get_args(annotation)[0])
    if isinstance(annotation, type) and issubclass(annotation, msgspec.Struct):
        return _copy(annotation)
    if origin is list:
        return list[_trusted_type(typing.get_args(annotation)[0])]  # type: ignore[misc]
    if origin is typing.Union or origin is types.UnionType:
        return functools.reduce(operator.or_, map(_trusted_type, typing.get_args(annotation)))
    return annotation


def _copy(cls: type[msgspec.Struct]) -> type:
    if cls not in _COPIES:
        config = cls.__struct_config__
        specs: list[Any] = []
        renamed: dict[str, str] = {}
        for field in fields(cls):
            annotation = _trusted_type(field.type)
            if field.encode_name != field.name:
                renamed[field.name] = field.encode_name
            if field.default is not msgspec.NODEFAULT:
                specs.append((field.name, annotation, field.default))
            elif field.default_factory is not msgspec.NODEFAULT:
                default = msgspec.field(default_factory=field.default_factory)
                specs.append((field.name, annotation, default))
            else:
                specs.append((field.name, annotation))
        _COPIES[cls] = msgspec.defstruct(
            cls.__name__,
            specs,
            module=__name__,
            kw_only=True,
            frozen=config.frozen,
            omit_defaults=config.omit_defaults,
            rename=renamed or None,
            gc=False,
        )
    return _COPIES[cls]


_DECODERS: dict[str, tuple[int, msgspec.json.Decoder[Any]]] = {
    name: (cls.schema_version, msgspec.json.Decoder(_copy(cls)))
    for name, cls in EVENT_TYPES.items()
}


def decode_trusted(type_name: str, schema_version: int, data: bytes) -> Any:
    """The data of a stored event, as a trusted copy of its class (or, for an older schema
    version, the catalogue's class through the upcasters); None for an unknown type."""
    entry = _DECODERS.get(type_name)
    if entry is None:
        return None
    version, decoder = entry
    if schema_version == version:
        return decoder.decode(data)
    return decode_stored(type_name, schema_version, data)


def trusted_kinds(cls: type) -> tuple[type, type]:
    """The catalogue's class and its trusted copy (for dispatching on either)."""
    return cls, _copy(cls)
