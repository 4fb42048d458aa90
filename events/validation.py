"""Turn proposed events into validated, canonically encoded ones, before they reach the writer.

This runs in the caller's task, so the single writer only does what needs the log's order.
"""

from __future__ import annotations

import datetime as dt
import functools
import re
import uuid
from collections.abc import Iterator, Sequence

import msgspec
import msgspec.inspect

from events.catalogue import EventData, decoder_for, encode_data
from events.envelope import Metadata, Proposed, format_timestamp
from events.errors import FieldError, ValidationFailed

EARLIEST_YEAR = 1900
LATEST_YEAR = 2200
"""Business dates and `occurred_at` must fall in these years (inclusive): wide enough for
any real agreement, narrow enough to catch typos and sentinel values."""
_YEAR_RANGE = f"year outside {EARLIEST_YEAR}..{LATEST_YEAR}"

_encode_metadata = msgspec.json.Encoder().encode
_CANONICAL_UUID = re.compile(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}")


class Prepared(msgspec.Struct, frozen=True, gc=False):
    """An event ready for the writer (`gc=False`: it holds text, bytes and event data, which
    are untracked too, so the cycle collector has nothing to find in it)."""

    event_id: str
    client_supplied_id: bool
    type: str
    schema_version: int
    data: EventData
    data_bytes: bytes
    occurred_at: str | None
    """None: the event happened when recorded (the writer fills in the record time)."""


def validate_batch(events: Sequence[Proposed], *, max_events: int) -> list[Prepared]:
    if not events:
        raise ValidationFailed([FieldError("$.events", "at least one event is required")])
    if len(events) > max_events:
        raise ValidationFailed([FieldError("$.events", f"at most {max_events} events a batch")])
    prepared: list[Prepared] = []
    errors: list[FieldError] = []
    seen: set[str] = set()
    for index, proposed in enumerate(events):
        try:
            item = _prepare_one(index, proposed)
        except ValidationFailed as failed:
            errors.extend(failed.errors)
            continue
        if item.event_id in seen:
            errors.append(FieldError(f"$.events[{index}].event_id", "repeated within the batch"))
        seen.add(item.event_id)
        prepared.append(item)
    if errors:
        raise ValidationFailed(errors)
    return prepared


def encode_metadata(metadata: Metadata) -> bytes:
    return _encode_metadata(metadata)


def _prepare_one(index: int, proposed: Proposed) -> Prepared:
    decoder = decoder_for(proposed.type)
    if decoder is None:
        raise _refused(index, ".type", f"unknown event type {proposed.type!r}")
    raw = proposed.data
    if isinstance(raw, EventData):
        if raw.type_name != proposed.type:
            raise _refused(index, ".type", f"data is a {raw.type_name}")
        # A Struct built in Python skipped its constraints: decode its encoding, so that
        # nothing is stored that could not be read back.
        raw = encode_data(raw)
    try:
        data = decoder.decode(raw)
    except msgspec.ValidationError as error:
        raise ValidationFailed([_field_error(f"{_where(index)}.data", str(error))]) from None
    except msgspec.DecodeError as error:
        raise _refused(index, ".data", str(error)) from None
    except UnicodeDecodeError:
        raise _refused(index, ".data", "not valid UTF-8") from None
    except RecursionError:
        raise _refused(index, ".data", "nested too deeply") from None
    if not _dates_in_range(data):  # only then name the paths: building them is the slow part
        raise ValidationFailed(list(_dates_out_of_range(data, f"{_where(index)}.data")))
    supplied = proposed.event_id
    return Prepared(
        event_id=str(uuid.uuid4()) if supplied is None else _event_id(index, supplied),
        client_supplied_id=supplied is not None,
        type=proposed.type,
        schema_version=type(data).schema_version,
        data=data,
        data_bytes=encode_data(data),
        occurred_at=_occurred_at(index, proposed.occurred_at),
    )


def _where(index: int) -> str:
    return f"$.events[{index}]"


def _refused(index: int, field: str, message: str) -> ValidationFailed:
    return ValidationFailed([FieldError(f"{_where(index)}{field}", message)])


def _event_id(index: int, supplied: str) -> str:
    if _CANONICAL_UUID.fullmatch(supplied):
        return supplied
    try:
        return str(uuid.UUID(supplied))
    except ValueError:
        raise _refused(index, ".event_id", "not a UUID") from None


def _occurred_at(index: int, moment: dt.datetime | None) -> str | None:
    if moment is None:
        return None
    if not EARLIEST_YEAR <= moment.year <= LATEST_YEAR:
        raise _refused(index, ".occurred_at", _YEAR_RANGE)
    return format_timestamp(moment)


def _dates_in_range(value: object) -> bool:
    """Whether every date in `value` falls in the business years, looking only into the
    fields whose type can hold one (a generic walk of every field would cost a large share
    of validating an event)."""
    if isinstance(value, dt.date):
        return EARLIEST_YEAR <= value.year <= LATEST_YEAR
    if isinstance(value, msgspec.Struct):
        for name in _date_fields(type(value)):
            held = getattr(value, name)
            if held is None:
                continue
            if type(held) is dt.date:  # most date fields are plain dates: no call for them
                if not EARLIEST_YEAR <= held.year <= LATEST_YEAR:
                    return False
            elif not _dates_in_range(held):
                return False
        return True
    if isinstance(value, list | tuple):
        return all(_dates_in_range(item) for item in value)
    return True


@functools.cache
def _date_fields(cls: type[msgspec.Struct]) -> tuple[str, ...]:
    """The fields of a Struct type whose type can hold a date, however deep."""
    info = msgspec.inspect.type_info(cls)
    assert isinstance(info, msgspec.inspect.StructType)
    return tuple(f.name for f in info.fields if _type_holds_dates(f.type, {cls}))


def _type_holds_dates(info: msgspec.inspect.Type, seen: set[type]) -> bool:
    match info:
        case msgspec.inspect.DateType() | msgspec.inspect.DateTimeType():
            return True
        case msgspec.inspect.StructType(cls=cls) if cls in seen:
            return False
        case msgspec.inspect.StructType(cls=cls, fields=fields):
            seen.add(cls)
            return any(_type_holds_dates(f.type, seen) for f in fields)
        case msgspec.inspect.UnionType(types=types) | msgspec.inspect.TupleType(item_types=types):
            return any(_type_holds_dates(t, seen) for t in types)
        case (
            msgspec.inspect.ListType(item_type=item)
            | msgspec.inspect.VarTupleType(item_type=item)
            | msgspec.inspect.SetType(item_type=item)
            | msgspec.inspect.FrozenSetType(item_type=item)
        ):
            return _type_holds_dates(item, seen)
        case msgspec.inspect.DictType(key_type=key, value_type=value):
            return _type_holds_dates(key, seen) or _type_holds_dates(value, seen)
        case msgspec.inspect.Metadata(type=inner):
            return _type_holds_dates(inner, seen)
        case (
            msgspec.inspect.StrType()
            | msgspec.inspect.IntType()
            | msgspec.inspect.FloatType()
            | msgspec.inspect.BoolType()
            | msgspec.inspect.NoneType()
            | msgspec.inspect.LiteralType()
            | msgspec.inspect.EnumType()
            | msgspec.inspect.UUIDType()
        ):
            return False
    return True  # a kind of type not considered here: walk it to be safe


def _dates_out_of_range(value: object, path: str) -> Iterator[FieldError]:
    """Every date in event data, however deep, outside the business years (a typo such as
    `0222-12-06` or `9999-12-31` as "open-ended" is refused before it reaches the log)."""
    if isinstance(value, dt.date):
        if not EARLIEST_YEAR <= value.year <= LATEST_YEAR:
            yield FieldError(path, _YEAR_RANGE)
    elif isinstance(value, msgspec.Struct):
        for name in value.__struct_fields__:
            yield from _dates_out_of_range(getattr(value, name), f"{path}.{name}")
    elif isinstance(value, list | tuple):
        for index, item in enumerate(value):
            yield from _dates_out_of_range(item, f"{path}[{index}]")


def _field_error(prefix: str, message: str) -> FieldError:
    """msgspec says "Expected `str`, got `int` - at `$.parties[1].name`": re-root the path."""
    text, sep, path = message.rpartition(" - at `")
    if not sep:
        return FieldError(prefix, message)
    return FieldError(prefix + path.rstrip("`")[1:], text)
