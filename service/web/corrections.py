"""The correction form: a person edits the fields an earlier event had; the form posts the
JSON Merge Patch (RFC 7396, `events.merge_patch`) of what they changed.

An event's data is shown as one field per value it holds, named by its path under
`changes.` (`changes.owner.unit`, `changes.parties[0].signatory.name`), so field names
follow `EventCorrected`'s data. Lists of words (sectors) are one comma-separated field.
The fields start from the event's data as corrected so far (earlier corrections applied), and
the patch is what differs from that: a value changed is replaced, a value emptied is removed
(`null`), and a list in which anything changed is sent whole (a merge patch replaces arrays).
Values keep the type they had (a number stays a number when what is typed is one).
"""

from __future__ import annotations

import copy
import re
from collections.abc import Iterable
from typing import Any

import msgspec

from events.envelope import RecordedEvent
from events.merge_patch import apply_merge_patch
from service.web.forms import Field, FieldKind, FormSpec

PREFIX = "changes."
CORRECTION = "EventCorrected"
_DATE = re.compile(r"^\d{4}-\d{2}-\d{2}$")
Path = tuple[str | int, ...]


def data_of(event: RecordedEvent) -> dict[str, Any]:
    decoded: Any = msgspec.json.decode(event.data)
    return decoded if isinstance(decoded, dict) else {}


def corrections_of(event_id: str, stream: Iterable[RecordedEvent]) -> list[RecordedEvent]:
    """The corrections of event `event_id` among `stream`'s events, in the order recorded."""
    return [e for e in stream if e.type == CORRECTION and data_of(e).get("corrects") == event_id]


def as_corrected(event: RecordedEvent, stream: Iterable[RecordedEvent]) -> dict[str, Any]:
    """`event`'s data with the corrections recorded in `stream` applied in order."""
    data: Any = data_of(event)
    for correction in corrections_of(event.event_id, stream):
        data = apply_merge_patch(data, data_of(correction).get("changes", {}))
    return data if isinstance(data, dict) else {}


def _is_words(value: Any) -> bool:
    return isinstance(value, list) and all(isinstance(item, str) for item in value)


def leaves(data: Any, path: Path = ()) -> list[tuple[Path, Any]]:
    """Every value `data` holds, by path (a list of words is one value)."""
    if isinstance(data, dict):
        return [leaf for key, value in data.items() for leaf in leaves(value, (*path, key))]
    if isinstance(data, list) and not _is_words(data):
        return [leaf for index, value in enumerate(data) for leaf in leaves(value, (*path, index))]
    return [(path, data)]


def field_name(path: Path) -> str:
    text = ""
    for step in path:
        text += f"[{step}]" if isinstance(step, int) else (f".{step}" if text else step)
    return PREFIX + text


def _label(path: Path) -> str:
    """`parties[0].signatory.name` as `Parties 1: signatory: name` (as the other forms label)."""
    words: list[str] = []
    for step in path:
        if isinstance(step, int) and words:
            words[-1] += f" {step + 1}"
        else:
            words.append(str(step).replace("_", " "))
    text = ": ".join(words)
    return text[:1].upper() + text[1:]


def _kind(value: Any) -> FieldKind:
    if _is_words(value):
        return "list"
    if isinstance(value, str) and _DATE.match(value):
        return "date"
    if isinstance(value, str) and (len(value) > 80 or "\n" in value):
        return "textarea"
    return "text"


def shown(value: Any) -> str:
    """A value as its field shows it."""
    if _is_words(value):
        return ", ".join(value)
    if isinstance(value, bool):
        return "true" if value else "false"
    return "" if value is None else str(value)


def spec_for(event: RecordedEvent, data: dict[str, Any]) -> FormSpec:
    """The form correcting `event` whose data (as corrected so far) is `data`."""
    return FormSpec(
        name="correct",
        event_type=CORRECTION,
        title=f"Correct {event.type} (version {event.version})",
        button="Record correction",
        fields=(
            Field("corrects", "Event corrected", "hidden", required=True),
            *(Field(field_name(path), _label(path), _kind(value)) for path, value in leaves(data)),
            Field("reason", "Why it is corrected", "textarea", required=True),
        ),
    )


def values_for(event: RecordedEvent, data: dict[str, Any]) -> dict[str, str]:
    values = {field_name(path): shown(value) for path, value in leaves(data)}
    values["corrects"] = event.event_id
    return values


def _typed(text: str, before: Any) -> Any:
    """What was typed, in the type the value had (else as typed: validation says why)."""
    text = text.strip()
    if _is_words(before):
        return [item.strip() for item in text.split(",") if item.strip()]
    if isinstance(before, bool):
        return {"true": True, "false": False}.get(text.lower(), text)
    if isinstance(before, int):
        return int(text) if re.fullmatch(r"-?\d{1,15}", text) else text
    if isinstance(before, float):
        try:
            return float(text)
        except ValueError:
            return text
    return text


def edited(data: dict[str, Any], values: dict[str, str]) -> dict[str, Any]:
    """`data` with the form's values in place of the ones it had; an emptied value removed
    (only members of objects are removed: list items keep their places)."""
    result = copy.deepcopy(data)
    for path, before in leaves(data):
        name = field_name(path)
        if name not in values or values[name].strip() == shown(before).strip():
            continue  # untouched (whitespace a field trims is no change)
        after = _typed(values[name], before)
        target: Any = result
        for step in path[:-1]:
            target = target[step]
        if after in ("", []):
            if isinstance(target, dict):
                del target[path[-1]]
        else:
            target[path[-1]] = after
    return result


def merge_patch(before: Any, after: Any) -> Any:
    """The JSON Merge Patch that turns `before` into `after` (arrays are sent whole)."""
    if not isinstance(before, dict) or not isinstance(after, dict):
        return after
    patch: dict[str, Any] = {}
    for name, value in before.items():  # in the event's own order, then what is new
        if name not in after:
            patch[name] = None
        elif after[name] != value:
            patch[name] = merge_patch(value, after[name])
    for name, value in after.items():
        if name not in before:
            patch[name] = value
    return patch


def describe(changes: Any) -> str:
    """What a correction changed, in one line: `owner.unit → FIT Tokyo; link removed`."""
    if not isinstance(changes, dict):
        return ""
    parts = []
    for path, value in leaves(changes):
        name = field_name(path).removeprefix(PREFIX)
        parts.append(f"{name} removed" if value is None else f"{name} → {shown(value)}")
    return "; ".join(parts)
