"""Personal data in event data: which values are personal, whose they are, and what replaces
them when they are erased.

A value is personal when the catalogue's types say so: every field of a `Person` (name,
title, organisation, name_latin) wherever a Person appears (signatories, witnesses,
endorsers, follow-up owners, delegation leaders), and the text of a `NoteAttached`, which may
name anyone. The writer finds them in each event it stores (`find_personal`), records one
`personal_values` row for each (position, JSON pointer, person id, salt, commitment), and the
hash chain covers the commitment instead of the value (`events.hashing`).

A person's id is HMAC-SHA256 of the NFC form of their name under a secret the log keeps in
its database (`log_secrets`), so it is stable (the same name is the same person, as owners
already are) and opaque: it stays in the log after an erasure, and a plain hash of a name
could be reversed by guessing names. The values of a person are found by this id; a note's
text has no person (it is erased by event).

An erased value is replaced by a placeholder that still decodes as the field's type: a name
by `[erased <person id>]`, so two erased owners of one unit stay two owners, and every other
value by `[erased]`.
"""

from __future__ import annotations

import contextlib
import functools
import hashlib
import hmac
import re
import unicodedata
import weakref
from collections.abc import Iterator
from contextvars import ContextVar
from dataclasses import dataclass
from typing import Any

import msgspec
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncEngine

from events.catalogue import EventCorrected, EventData, NoteAttached, Person

PERSON_FIELDS = ("name", "title", "organisation", "name_latin")
ERASED = "[erased]"
"""The placeholder of an erased value other than a person's name."""
PERSON_ID_BYTES = 16
"""A person id is the first 16 bytes of the HMAC, 32 hex digits."""


@dataclass(frozen=True, slots=True)
class PersonalValue:
    path: str
    """RFC 6901 JSON pointer into the event's data."""
    value: str
    name: str | None
    """The name of the person the value is about (None for a note's text)."""


def find_personal(data: EventData) -> list[PersonalValue]:
    """Every personal value in `data`, in the order its fields are encoded."""
    return [PersonalValue(path, value, name) for path, _, value, name in personal_values(data)]


Found = tuple[str, tuple[str | int, ...], str, str | None]
"""One personal value as the writer needs it: its JSON pointer, the keys that pointer walks
(unescaped, list indexes as ints), the value, and the name of the person it is about."""


def personal_values(data: EventData) -> list[Found]:
    """`find_personal` as plain tuples, with the pointer's keys: the writer walks these into
    the decoded data without parsing the pointer again, for every event it stores."""
    cls = type(data)
    if not _may_hold_personal(cls):
        return []
    if isinstance(data, NoteAttached):
        return [("/text", ("text",), data.text, None)]
    found: list[Found] = []
    _collect(data, "", (), found)
    return found


def correction_values(correction: EventCorrected, patched: EventData) -> list[Found]:
    """The personal values a correction's `changes` writes, given the corrected event's data
    with the correction applied (`patched`): each personal value of `patched` that the merge
    patch itself holds, at its pointer under `/changes`, tied to the person `patched` names
    there. A correction of a signatory's name or a witness's title carries that value in its
    own data: without this it would be chained in clear, and an erasure could not reach it.
    A value the patch leaves as it was is not in `changes` (a merge patch holds only what it
    sets, and a list whole), so only what the correction wrote is found."""
    found: list[Found] = []
    for path, keys, value, name in personal_values(patched):
        node: Any = correction.changes
        for key in keys:
            if isinstance(node, dict) and isinstance(key, str) and key in node:
                node = node[key]
                continue
            if isinstance(node, list) and isinstance(key, int) and key < len(node):
                node = node[key]
                continue
            break
        else:
            if node == value:
                found.append((f"/changes{path}", ("changes", *keys), value, name))
    return found


ERASED_NAME = re.compile(r"\[erased ([0-9a-f]{32})\]")
"""An erased name's placeholder (`placeholder`), with the person id it keeps."""


def erased_person(name: str) -> str | None:
    """The person id an erased name's placeholder keeps, or None for a name that is held: a
    later correction of an erased person's title stays tied to them, not to the placeholder."""
    matched = ERASED_NAME.fullmatch(name)
    return matched.group(1) if matched else None


def _collect(value: Any, path: str, keys: tuple[str | int, ...], found: list[Found]) -> None:
    if isinstance(value, Person):
        name = value.name
        for field in PERSON_FIELDS:
            held = getattr(value, field)
            if held is not None:
                found.append((f"{path}/{field}", (*keys, field), held, name))
    elif isinstance(value, msgspec.Struct):
        for field, token, key in _holding_fields(type(value)):
            held = getattr(value, field)
            if held is not None:
                _collect(held, f"{path}/{token}", (*keys, key), found)
    elif isinstance(value, list):
        for index, item in enumerate(value):
            _collect(item, f"{path}/{index}", (*keys, index), found)


_HOLDERS: dict[type, bool] = {}
_FIELDS: dict[type, tuple[tuple[str, str, str], ...]] = {}


def _may_hold_personal(cls: type) -> bool:
    """Whether data of this type can hold a personal value, from the type alone (cached)."""
    if cls not in _HOLDERS:
        _HOLDERS[cls] = cls is NoteAttached or _type_holds(msgspec.inspect.type_info(cls))
    return _HOLDERS[cls]


def _holding_fields(cls: type) -> tuple[tuple[str, str, str], ...]:
    """The fields of a Struct type that can hold a personal value, with their pointer tokens
    and their keys in the encoded data: the walk visits only these (cached per type)."""
    if cls not in _FIELDS:
        info = msgspec.inspect.type_info(cls)
        assert isinstance(info, msgspec.inspect.StructType)
        _FIELDS[cls] = tuple(
            (f.name, _escape(f.encode_name), f.encode_name)
            for f in info.fields
            if _type_holds(f.type)
        )
    return _FIELDS[cls]


def _type_holds(info: msgspec.inspect.Type, seen: frozenset[type] = frozenset()) -> bool:
    match info:
        case msgspec.inspect.StructType(cls=cls) if cls is Person:
            return True
        case msgspec.inspect.StructType(cls=cls, fields=fields) if cls not in seen:
            return any(_type_holds(f.type, seen | {cls}) for f in fields)
        case (
            msgspec.inspect.ListType(item_type=item) | msgspec.inspect.VarTupleType(item_type=item)
        ):
            return _type_holds(item, seen)
        case msgspec.inspect.UnionType(types=types):
            return any(_type_holds(t, seen) for t in types)
        case msgspec.inspect.Metadata(type=inner):
            return _type_holds(inner, seen)
    return False


@functools.lru_cache(maxsize=4096)  # the same names recur in event after event
def person_id(secret: bytes, name: str) -> str:
    """The opaque, stable id of the person called `name` in the log whose secret is `secret`."""
    nfc = unicodedata.normalize("NFC", name).encode()
    return hmac.new(secret, nfc, hashlib.sha256).digest()[:PERSON_ID_BYTES].hex()


def person_key(secret: bytes, name: str) -> str:
    """The person id a name stands for: its `person_id`, or, for an erased name's
    placeholder, the id the placeholder keeps (so what is derived from it stays the same)."""
    if name.startswith("[erased "):
        kept = erased_person(name)
        if kept is not None:
            return kept
    return person_id(secret, name)


_SECRETS: weakref.WeakKeyDictionary[AsyncEngine, bytes] = weakref.WeakKeyDictionary()


async def log_secret(engine: AsyncEngine) -> bytes:
    """The key of the person ids of the log in `engine`'s database (made by the schema's
    migration, never changed), read once per engine."""
    secret = _SECRETS.get(engine)
    if secret is None:
        from events.schema import log_secrets

        query = select(log_secrets.c.secret).where(log_secrets.c.name == "person_id")
        async with engine.connect() as connection:
            found = (await connection.execute(query)).scalar()
        if found is None:
            raise LookupError("the log has no person-id secret (is the schema migrated?)")
        secret = _SECRETS[engine] = bytes(found)
    return secret


_FOLDING: ContextVar[bytes] = ContextVar("the person-id secret of the log being folded")


@contextlib.contextmanager
def folding(secret: bytes) -> Iterator[None]:
    """Fold views of the log whose person-id secret is `secret`: the owner ids they derive
    (`events.catalogue.owner_id`) need it. Folds are pure functions of the log's rows called
    deep inside the read models, so the secret comes with the call, not as an argument."""
    token = _FOLDING.set(secret)
    try:
        yield
    finally:
        _FOLDING.reset(token)


def folding_secret() -> bytes:
    """The secret `folding` set (RuntimeError outside it: an owner id made without the
    log's secret would be wrong, not merely different)."""
    try:
        return _FOLDING.get()
    except LookupError:
        raise RuntimeError("a fold outside `events.personal.folding(secret)`") from None


def commitment(salt: bytes, value: str) -> bytes:
    """sha256(salt || UTF-8 value): what the chain covers in place of a personal value."""
    return hashlib.sha256(salt + value.encode()).digest()


def placeholder(path: str, person: str | None) -> str:
    """What an erased value at `path` reads as (see the module docstring)."""
    if person is not None and path.endswith("/name"):
        return f"[erased {person}]"
    return ERASED


# --- RFC 6901 JSON pointers ------------------------------------------------------------------


class PointerError(ValueError):
    """A JSON pointer that does not lead to a value in the document."""


def _escape(token: str) -> str:
    return token.replace("~", "~0").replace("/", "~1")


def _tokens(pointer: str) -> list[str]:
    if not pointer.startswith("/"):
        raise PointerError(f"{pointer!r} is not a JSON pointer")
    tokens = pointer[1:].split("/")
    if "~" in pointer:
        return [t.replace("~1", "/").replace("~0", "~") for t in tokens]
    return tokens


def locate(document: Any, pointer: str) -> tuple[Any, str | int]:
    """The container holding the value at `pointer`, and its key there (PointerError if the
    pointer leads to no value): one walk for reading and replacing the value."""
    tokens = _tokens(pointer)
    node = document
    for token in tokens[:-1]:
        node = _child(node, token, pointer)
    last = tokens[-1]
    if isinstance(node, list):
        return node, _index(node, last, pointer)
    if isinstance(node, dict) and last in node:
        return node, last
    raise PointerError(f"{pointer} leads to no value")


def _child(node: Any, token: str, pointer: str) -> Any:
    if isinstance(node, dict) and token in node:
        return node[token]
    if isinstance(node, list):
        return node[_index(node, token, pointer)]
    raise PointerError(f"{pointer} leads to no value")


def _index(node: list[Any], token: str, pointer: str) -> int:
    if not token.isdigit() or int(token) >= len(node) or (token != "0" and token[0] == "0"):
        raise PointerError(f"{pointer} leads to no value")
    return int(token)


def get_at(document: Any, pointer: str) -> Any:
    parent, key = locate(document, pointer)
    return parent[key]


def set_at(document: Any, pointer: str, value: Any) -> None:
    parent, key = locate(document, pointer)
    parent[key] = value
