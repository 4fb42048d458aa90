"""Importing a register kept in a spreadsheet (CSV or XLSX) as events, through the store.

Agencies keep their agreements in a sheet with one line per task to follow up, the
agreement's own columns repeated (or left blank) on each of its lines. So the layout is one
row per follow-up, or per agreement that has none; rows with the same `agreement_id` belong to
one agreement. The first row of a sheet names the columns, in any order:

- required: `agreement_id` (the stream is `agreement-<id>`), `kind` (`MoU`, `MoC`,
  `partnership` or `other`), `title`, `signed_on` (`YYYY-MM-DD`, or a date cell in XLSX),
  `party_1` and `party_2` (organisations; `party_3` … `party_N` for more);
- per party, optional: `party_N_country`, `party_N_signatory` (a name in any script),
  `party_N_signatory_latin` (its Latin spelling), `party_N_signatory_title`;
- optional: `expires_on`, `place`, `delegation_id`, `sectors` (separated by `;`);
- optional: `owner_unit` and `owner_person` (who follows it up), `follow_up` and
  `follow_up_due` (a task for that owner and its due date: both or neither), `follow_up_id`
  (without it, one is derived from the agreement and the task's title).

Other columns are ignored (and named in the report). On its agreement's first row, a row
records AgreementSigned, then ResponsibilityAssigned when it names an owner (assigned on the
signing day); any row with a `follow_up` records FollowUpOpened for the owner on that row. A
later row's agreement columns must be blank or the same as on the first row.

Business dates come from the sheet: each event's `occurred_at` is its agreement's signing day
(midnight in the agency's time zone, `AGREEMENTS_TIME_ZONE`), its record time is now. Event ids
are UUID version 5 of the stream, the type and the event's data, so importing the same file
again records nothing new.

A row changed since it was imported is recorded as what changed, compared with the stream as
it stands (the sheet is the agency's register, so what it says now is what holds):

- a follow-up's due date: FollowUpRescheduled. Re-dating a task is something that happened (the
  original date was right when it was set), and the work list and calendars show it as a move;
- a follow-up's owner: FollowUpReassigned, for the same reason;
- a follow-up's title (with a `follow_up_id` column; without it a new title is a new task), or
  the agreement's columns (title, parties, dates, place...): EventCorrected of the event that
  recorded them, a JSON Merge Patch of the columns that differ. The agreement was signed once,
  with one title: a different value in the sheet is a fix of what was recorded, visible in the
  history as a correction, the original kept;
- the agreement's owner (first row): ResponsibilityAssigned, a new mandate, assigned today.

These later events happen at the import (`occurred_at` now) and their ids are derived from the
stream's length too, so a value changed back and forth is recorded each time. A change the rules
refuse (rescheduling a completed follow-up, a correction that breaks a date rule) is a refused
row. Each row is one batch through `EventStore.append`, so the API's validation and rules apply;
a refused row leaves the others recorded. A dry run validates and checks the rules the same way
against the streams as they are, and stores nothing.
"""

from __future__ import annotations

import csv
import datetime as dt
import re
import uuid
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import msgspec

from events.catalogue import (
    AgreementSigned,
    EventCorrected,
    EventData,
    FollowUpCancelled,
    FollowUpCompleted,
    FollowUpOpened,
    FollowUpReassigned,
    FollowUpReopened,
    FollowUpRescheduled,
    Owner,
    ResponsibilityAssigned,
    ResponsibilityTransferred,
)
from events.envelope import Metadata, Proposed
from events.errors import RuleViolation, StoreError, ValidationFailed
from events.merge_patch import apply_merge_patch
from events.rules import decider_for
from events.rules.agreement import AgreementState, OwnerKey, owner_key
from events.store import EventStore
from events.upcasting import decode_stored
from events.validation import validate_batch

REQUIRED = ("agreement_id", "kind", "title", "signed_on", "party_1", "party_2")
AGREEMENT_COLUMNS = (
    "kind",
    "title",
    "signed_on",
    "expires_on",
    "place",
    "delegation_id",
    "sectors",
)
OTHER_COLUMNS = ("owner_unit", "owner_person", "follow_up", "follow_up_due", "follow_up_id")
_PARTY = re.compile(
    r"^party_([1-9][0-9]?)(_country|_signatory|_signatory_latin|_signatory_title)?$"
)
_NAMESPACE = uuid.uuid5(uuid.NAMESPACE_URL, "https://agreements.example/imports")
ASSIGNED_BY = "spreadsheet import"
"""Who assigned an imported owner, as ResponsibilityAssigned records it."""
CHANGED = "changed in the spreadsheet (import, row {row})"
"""The reason a reschedule, reassignment or correction made by an import gives."""
_OPTIONAL_SIGNED = ("place", "delegation_id", "sectors", "expires_on")
"""AgreementSigned fields a blank cell of a present column removes (by correction)."""


class SheetUnreadable(Exception):
    """The file as a whole cannot be imported (unknown format, no header, missing columns)."""


@dataclass(frozen=True, slots=True)
class Sheet:
    columns: list[str]
    rows: list[tuple[int, dict[str, str]]]
    """(row number as the spreadsheet program shows it, cells by column name)."""

    @property
    def ignored(self) -> list[str]:
        known = {*REQUIRED, *AGREEMENT_COLUMNS, *OTHER_COLUMNS, "agreement_id"}
        return [c for c in self.columns if c and c not in known and not _PARTY.match(c)]


@dataclass(slots=True)
class RowOutcome:
    """What became of one row: events recorded (or that would be), already there, or why not."""

    row: int
    stream_id: str | None
    recorded: list[str] = field(default_factory=list)
    already: int = 0
    refused: str | None = None


def read_sheet(path: Path) -> Sheet:
    """The header and rows of a `.csv` (UTF-8, a byte-order mark allowed) or `.xlsx` (its first
    worksheet). Blank rows are skipped."""
    suffix = path.suffix.lower()
    if suffix == ".csv":
        with path.open(newline="", encoding="utf-8-sig") as file:
            table: list[list[str]] = [list(row) for row in csv.reader(file)]
    elif suffix == ".xlsx":
        table = list(_xlsx_rows(path))
    else:
        raise SheetUnreadable(f"{path.name}: not a .csv or .xlsx file")
    if not table:
        raise SheetUnreadable(f"{path.name}: empty, no header row")
    columns = [cell.strip().lower() for cell in table[0]]
    missing = [name for name in REQUIRED if name not in columns]
    if missing:
        raise SheetUnreadable(f"{path.name}: missing column(s) {', '.join(missing)} in row 1")
    rows = []
    for number, cells in enumerate(table[1:], start=2):
        values = {
            name: (cells[i].strip() if i < len(cells) else "") for i, name in enumerate(columns)
        }
        if any(values.values()):
            rows.append((number, values))
    return Sheet(columns, rows)


def _xlsx_rows(path: Path) -> Iterator[list[str]]:
    import openpyxl

    try:
        book = openpyxl.load_workbook(path, read_only=True, data_only=True)
    except Exception as error:  # openpyxl raises zipfile, KeyError, ValueError... by cause
        raise SheetUnreadable(f"{path.name}: not a readable XLSX workbook ({error})") from None
    try:
        for row in book.worksheets[0].iter_rows(values_only=True):
            yield [_cell_text(value) for value in row]
    finally:
        book.close()


def _cell_text(value: Any) -> str:
    """A cell as the text a CSV export would hold: date cells as `YYYY-MM-DD`."""
    if value is None:
        return ""
    if isinstance(value, dt.datetime):
        return value.date().isoformat() if value.time() == dt.time() else value.isoformat()
    if isinstance(value, dt.date):
        return value.isoformat()
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value)


class _Refused(Exception):
    """A row that cannot become events; the message says which column and why."""


@dataclass(frozen=True, slots=True)
class _Planned:
    row: int
    stream_id: str | None
    events: list[Proposed]
    refused: str | None = None


def plan(sheet: Sheet) -> list[_Planned]:
    """Each row's proposed events (or why it has none), without looking at the store."""
    first_rows: dict[str, tuple[int, dict[str, str]]] = {}
    refused_first: dict[str, int] = {}
    planned = []
    for number, cells in sheet.rows:
        key = cells.get("agreement_id", "")
        stream_id = f"agreement-{key}" if key else None
        try:
            if not key:
                raise _Refused("agreement_id: empty")
            if key in refused_first:
                raise _Refused(f"agreement {key} was refused at row {refused_first[key]}")
            first = first_rows.get(key)
            if first is None:
                events = _first_row_events(stream_id or "", cells)
            else:
                _check_same(cells, first)
                events = _follow_up_events(stream_id or "", cells, first[1])
        except _Refused as refusal:
            if key and key not in first_rows:
                refused_first.setdefault(key, number)
            planned.append(_Planned(number, stream_id, [], str(refusal)))
            continue
        first_rows.setdefault(key, (number, cells))
        planned.append(_Planned(number, stream_id, events))
    return planned


def _first_row_events(stream_id: str, cells: dict[str, str]) -> list[Proposed]:
    signed_on = _date(cells, "signed_on", required=True)
    assert signed_on is not None
    signed = {
        "kind": cells.get("kind", ""),
        "title": cells.get("title", ""),
        "parties": _parties(cells),
        "signed_on": signed_on,
        "place": cells.get("place") or None,
        "delegation_id": cells.get("delegation_id") or None,
        "sectors": [s.strip() for s in cells.get("sectors", "").split(";") if s.strip()],
        "expires_on": _date(cells, "expires_on"),
    }
    events = [_proposed(stream_id, AgreementSigned, signed, signed_on)]
    owner = _owner(cells)
    if owner is not None:
        assigned = {"owner": owner, "assigned_by": ASSIGNED_BY, "assigned_on": signed_on}
        events.append(_proposed(stream_id, ResponsibilityAssigned, assigned, signed_on))
    return events + _follow_up_events(stream_id, cells, cells)


def _follow_up_events(
    stream_id: str, cells: dict[str, str], first: dict[str, str]
) -> list[Proposed]:
    title, due_on = cells.get("follow_up", ""), _date(cells, "follow_up_due")
    if not title and due_on is None:
        return []
    if not title or due_on is None:
        raise _Refused("follow_up and follow_up_due: give both or neither")
    owner = _owner(cells)
    if owner is None:
        raise _Refused("owner_unit: a follow-up needs its owner")
    signed_on = _date(first, "signed_on", required=True)
    assert signed_on is not None
    follow_up_id = cells.get("follow_up_id") or _follow_up_id(stream_id, title)
    opened = {"follow_up_id": follow_up_id, "title": title, "owner": owner, "due_on": due_on}
    return [_proposed(stream_id, FollowUpOpened, opened, signed_on)]


def _check_same(cells: dict[str, str], first: tuple[int, dict[str, str]]) -> None:
    number, values = first
    columns = [*AGREEMENT_COLUMNS, *(c for c in values if _PARTY.match(c))]
    for column in columns:
        given = cells.get(column, "")
        if given and given != values.get(column, ""):
            raise _Refused(f"{column}: differs from row {number} of the same agreement")


def _parties(cells: dict[str, str]) -> list[dict[str, Any]]:
    numbers = sorted({int(m.group(1)) for c in cells if (m := _PARTY.match(c))})
    parties = []
    for n in numbers:
        organisation = cells.get(f"party_{n}", "")
        if not organisation:
            continue
        party: dict[str, Any] = {"organisation": organisation}
        if cells.get(f"party_{n}_country"):
            party["country"] = cells[f"party_{n}_country"]
        name = cells.get(f"party_{n}_signatory", "")
        if name:
            person = {"name": name}
            if cells.get(f"party_{n}_signatory_title"):
                person["title"] = cells[f"party_{n}_signatory_title"]
            if cells.get(f"party_{n}_signatory_latin"):
                person["name_latin"] = cells[f"party_{n}_signatory_latin"]
            party["signatory"] = person
        parties.append(party)
    if len(parties) < 2:
        raise _Refused("party_1, party_2: an agreement has two parties at least")
    return parties


def _owner(cells: dict[str, str]) -> dict[str, Any] | None:
    unit, person = cells.get("owner_unit", ""), cells.get("owner_person", "")
    if not unit:
        if person:
            raise _Refused("owner_unit: owner_person is given without the unit")
        return None
    return {"unit": unit, "person": {"name": person}} if person else {"unit": unit}


def _date(cells: dict[str, str], column: str, *, required: bool = False) -> dt.date | None:
    text = cells.get(column, "")
    if not text:
        if required:
            raise _Refused(f"{column}: empty")
        return None
    try:
        return dt.date.fromisoformat(text)
    except ValueError:
        raise _Refused(f"{column}: {text[:40]!r} is not a date (YYYY-MM-DD)") from None


def _follow_up_id(stream_id: str, title: str) -> str:
    return "import-" + uuid.uuid5(_NAMESPACE, f"{stream_id}\n{title}").hex[:16]


def _proposed(stream_id: str, cls: type[EventData], data: dict[str, Any], day: dt.date) -> Proposed:
    """The event as JSON (validated by the store as an API body is), with an id derived from
    what it records. `occurred_at` is the day's midnight in UTC until `_in_zone` sets it."""
    body = msgspec.json.encode({k: v for k, v in data.items() if v not in (None, [])})
    event_id = uuid.uuid5(_NAMESPACE, f"{stream_id}\n{cls.type_name}\n{body.decode()}")
    return Proposed(
        type=cls.type_name,
        data=body,
        occurred_at=dt.datetime.combine(day, dt.time(), dt.UTC),
        event_id=str(event_id),
    )


def _in_zone(event: Proposed, zone: ZoneInfo) -> Proposed:
    """The event happening at its day's midnight in the agency's time zone (the day is the
    sheet's business date, so the id does not depend on the zone)."""
    assert event.occurred_at is not None
    day = event.occurred_at.date()
    moment = dt.datetime.combine(day, dt.time(), zone)
    return msgspec.structs.replace(event, occurred_at=moment)


def _change(
    stream_id: str,
    state: AgreementState,
    cls: type[EventData],
    data: dict[str, Any],
    now: dt.datetime,
) -> Proposed:
    """A later event an import records for a changed row: it happens now, and its id is
    derived from the stream's length too (the same value set again later is a new event)."""
    body = msgspec.json.encode(data)
    length = state.recorded.length
    event_id = uuid.uuid5(
        _NAMESPACE, f"{stream_id}\n{cls.type_name}\n{body.decode()}\nafter {length}"
    )
    return Proposed(type=cls.type_name, data=body, occurred_at=now, event_id=str(event_id))


def _plain(value: Any) -> Any:
    """JSON-like data with the absent values (None, empty lists) left out, as `_proposed`
    writes it, so the recorded data and the sheet's compare field by field."""
    if isinstance(value, dict):
        return {k: _plain(v) for k, v in value.items() if v not in (None, [])}
    if isinstance(value, list):
        return [_plain(v) for v in value]
    return value


def _as_changes(
    stream_id: str,
    state: AgreementState,
    event: Proposed,
    *,
    row: int,
    columns: Sequence[str],
    now: dt.datetime,
    today: dt.date,
) -> list[Proposed]:
    """What a planned event records, given what the stream holds: the event itself where the
    stream has nothing it would replace, else the changes since the sheet last said otherwise
    (none when the sheet says what it said at the last import, or what the stream holds)."""
    assert isinstance(event.data, bytes)  # as `_proposed` writes it
    wanted = msgspec.json.decode(event.data)
    reason = CHANGED.format(row=row)
    sheet = _SheetSaid.of(state)
    if event.type == AgreementSigned.type_name:
        if sheet.signing is None:
            return [event]
        corrects, said, current = sheet.signing
        patch = {k: v for k, v in wanted.items() if said.get(k) != v and current.get(k) != v}
        for name in _OPTIONAL_SIGNED:
            if name in columns and name not in wanted and name in said and name in current:
                patch[name] = None
        if not patch:
            return []
        correction = {"corrects": corrects, "changes": patch, "reason": reason}
        return [_change(stream_id, state, EventCorrected, correction, now)]
    if event.type == ResponsibilityAssigned.type_name:
        owner = owner_key(msgspec.convert(wanted["owner"], Owner))
        if state.owner is None and sheet.owner is None:
            return [event]
        if owner in (sheet.owner, state.owner):
            return []
        assigned = {**wanted, "assigned_on": today.isoformat()}
        return [_change(stream_id, state, ResponsibilityAssigned, assigned, now)]
    if event.type == FollowUpOpened.type_name:
        fid = wanted["follow_up_id"]
        found = sheet.follow_ups.get(fid)
        if found is None:
            return [event]
        changes: list[Proposed] = []
        said, current = found.said, found.current
        if wanted["title"] not in (said["title"], current["title"]) and found.opened_by:
            patch = {"corrects": found.opened_by, "changes": {"title": wanted["title"]}}
            changes.append(
                _change(stream_id, state, EventCorrected, {**patch, "reason": reason}, now)
            )
        if wanted["due_on"] not in (said["due_on"], current["due_on"]):
            moved = {"follow_up_id": fid, "due_on": wanted["due_on"], "reason": reason}
            changes.append(_change(stream_id, state, FollowUpRescheduled, moved, now))
        owner = owner_key(msgspec.convert(wanted["owner"], Owner))
        if owner not in (said["owner"], current["owner"]):
            given = {"follow_up_id": fid, "owner": wanted["owner"], "reason": reason}
            changes.append(_change(stream_id, state, FollowUpReassigned, given, now))
        return changes
    return [event]


@dataclass(slots=True)
class _FollowUpSaid:
    opened_by: str | None
    said: dict[str, Any]
    """Title, due date (ISO) and owner key as the sheet last set them."""
    current: dict[str, Any]
    """The same as the stream holds them now (changed over the API too)."""


@dataclass(slots=True)
class _SheetSaid:
    """What the sheet said at the last import, read from the stream: the first signing and
    each follow-up's opening as recorded, with the changes imports made (reason `CHANGED`, or
    assigned by `ASSIGNED_BY`) applied, beside the same values as they stand now.

    A row is compared with what the sheet said, not only with the stream: a change made over
    the API since (a reschedule, a hand-over, a correction) stands until the sheet itself
    changes, and a value set back to an earlier one is recorded again."""

    signing: tuple[str, dict[str, Any], dict[str, Any]] | None = None
    """(the signing's event id, its data as the sheet last said, as it stands), as JSON."""
    owner: OwnerKey | None = None
    """The owner an import last assigned."""
    follow_ups: dict[str, _FollowUpSaid] = field(default_factory=dict)

    @classmethod
    def of(cls, state: AgreementState) -> _SheetSaid:
        recorded = state.recorded
        said = cls()
        signing_index: int | None = None
        openings: dict[str, int] = {}
        is_open: dict[str, bool] = {}
        for index in range(recorded.length):
            event = recorded.log.events[index]
            event_id = recorded.log.ids[index]
            match event:
                case AgreementSigned() if signing_index is None and event_id is not None:
                    signing_index = index
                    plain = _plain(msgspec.to_builtins(recorded.data(index)))
                    said.signing = (event_id, _plain(msgspec.to_builtins(event)), plain)
                case ResponsibilityAssigned(assigned_by=by) if by == ASSIGNED_BY:
                    said.owner = owner_key(event.owner)
                case FollowUpOpened(follow_up_id=fid) if fid not in said.follow_ups:
                    openings[fid] = index
                    is_open[fid] = True
                    current = recorded.data(index)
                    assert isinstance(current, FollowUpOpened)
                    said.follow_ups[fid] = _FollowUpSaid(event_id, _said(event), _said(current))
                case FollowUpRescheduled(follow_up_id=fid) if fid in said.follow_ups:
                    found = said.follow_ups[fid]
                    found.current["due_on"] = event.due_on.isoformat()
                    if _by_import(event.reason):
                        found.said["due_on"] = event.due_on.isoformat()
                case FollowUpReassigned(follow_up_id=fid) if fid in said.follow_ups:
                    found = said.follow_ups[fid]
                    found.current["owner"] = owner_key(event.owner)
                    if _by_import(event.reason):
                        found.said["owner"] = owner_key(event.owner)
                case ResponsibilityTransferred(move_open_follow_ups=True):
                    outgoing = owner_key(event.from_owner)
                    for fid, found in said.follow_ups.items():
                        if is_open[fid] and found.current["owner"] == outgoing:
                            found.current["owner"] = owner_key(event.to_owner)
                case FollowUpCompleted(follow_up_id=fid) | FollowUpCancelled(follow_up_id=fid):
                    is_open[fid] = False
                case FollowUpReopened(follow_up_id=fid):
                    is_open[fid] = True
                case EventCorrected(corrects=target, changes=changes, reason=why):
                    at = recorded.find(target)
                    if at is None or not _by_import(why):
                        continue
                    if at == signing_index and said.signing is not None:
                        corrects, before, now = said.signing
                        after = _plain(apply_merge_patch(before, changes))
                        said.signing = (corrects, after, now)
                    for fid, opening in openings.items():
                        if opening == at and "title" in changes:
                            said.follow_ups[fid].said["title"] = changes["title"]
                case _:
                    pass
        return said


def _said(opened: FollowUpOpened) -> dict[str, Any]:
    return {
        "title": opened.title,
        "due_on": opened.due_on.isoformat(),
        "owner": owner_key(opened.owner),
    }


def _by_import(reason: str | None) -> bool:
    return reason is not None and reason.startswith(CHANGED.split("(")[0])


async def import_sheet(
    store: EventStore,
    sheet: Sheet,
    *,
    metadata: Metadata,
    dry_run: bool = False,
    time_zone: str = "UTC",
    now: dt.datetime | None = None,
) -> list[RowOutcome]:
    """Record the sheet's rows (or, `dry_run`, check them) in order; one outcome per row.
    `time_zone` is the agency's: business days start at its midnight, and "today" (a new
    owner's assignment) is its date at `now` (default: the clock)."""
    zone = ZoneInfo(time_zone)
    moment = now or dt.datetime.now(dt.UTC)
    today = moment.astimezone(zone).date()
    known: dict[str, set[str]] = {}
    states: dict[str, Any] = {}
    outcomes = []
    for planned in plan(sheet):
        outcome = RowOutcome(planned.row, planned.stream_id, refused=planned.refused)
        outcomes.append(outcome)
        if planned.refused is not None or planned.stream_id is None:
            continue
        stream_id = planned.stream_id
        try:
            if stream_id not in known:
                known[stream_id], states[stream_id] = await _stream(store, stream_id)
            ids = known[stream_id]
            new: list[Proposed] = []
            for event in planned.events:
                changes = _as_changes(
                    stream_id,
                    states[stream_id],
                    _in_zone(event, zone),
                    row=planned.row,
                    columns=sheet.columns,
                    now=moment,
                    today=today,
                )
                outcome.already += not changes
                new.extend(change for change in changes if change.event_id not in ids)
            if not new:
                continue
            prepared = validate_batch(new, max_events=len(new))
            decider = decider_for(stream_id)
            checked = decider.check(
                states[stream_id], [p.data for p in prepared], [p.event_id for p in prepared]
            )
            if not dry_run:
                await store.append(stream_id, new, metadata=metadata)
            states[stream_id] = checked
            ids.update(p.event_id for p in prepared)
            outcome.recorded = [p.type for p in prepared]
        except ValidationFailed as failed:
            outcome.refused = "; ".join(_field(e.path, e.message) for e in failed.errors)
        except RuleViolation as violation:
            outcome.refused = f"rule {violation.rule}: {violation.detail}"
        except StoreError as error:
            outcome.refused = str(error)
    return outcomes


async def _stream(store: EventStore, stream_id: str) -> tuple[set[str], Any]:
    """The ids of the events already in the stream, and its decider's state."""
    decider = decider_for(stream_id)
    recorded = await store.read_stream(stream_id)
    pairs = [(decode_stored(e.type, e.schema_version, bytes(e.data)), e.event_id) for e in recorded]
    known = [(d, i) for d, i in pairs if d is not None]
    state = decider.fold(decider.initial(), (d for d, _ in known), (i for _, i in known))
    return {e.event_id for e in recorded}, state


def _field(path: str, message: str) -> str:
    """A validation error's JSON path as the sheet's column, where one is evident."""
    where = re.sub(r"^\$\.events\[\d+\]\.data\.?", "", path) or "row"
    return f"{where}: {message}"


def describe(outcomes: Sequence[RowOutcome], *, dry_run: bool) -> Iterable[str]:
    """The report's lines: one per row, then the totals."""
    verb = "would record" if dry_run else "recorded"
    for o in outcomes:
        if o.refused is not None:
            yield f"row {o.row}: refused: {o.refused}"
        elif o.recorded:
            yield f"row {o.row}: {verb} {', '.join(o.recorded)} in {o.stream_id}"
        else:
            yield f"row {o.row}: already recorded ({o.stream_id})"
    refused = sum(o.refused is not None for o in outcomes)
    events = sum(len(o.recorded) for o in outcomes)
    yield (
        f"{len(outcomes)} rows: {events} events {'to record' if dry_run else 'recorded'}, "
        f"{sum(not o.recorded and o.refused is None for o in outcomes)} rows already recorded, "
        f"{refused} rows refused"
    )
