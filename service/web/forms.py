"""The forms staff record with: one per kind of fact, each posting one event.

Field names follow the event's data (`title`, `due_on`, `owner.unit`, `owner.person.name`):
dotted names build the nested object, and an empty optional field is left out (a person
without a name is left out whole). Each form also carries the stream version it was rendered
from (`expected_version`), an `event_id` and the business time (`occurred_at`) chosen when
it was rendered: a second submission of the same form is an idempotent retry (recorded once),
and a form rendered before someone else recorded something is refused as stale, then shown
again with what changed.
"""

from __future__ import annotations

import datetime as dt
import re
import uuid
from dataclasses import dataclass, field
from typing import Any, Literal

from events.errors import FieldError, RuleViolation

FieldKind = Literal["text", "date", "textarea", "url", "hidden", "select", "list", "number"]


@dataclass(frozen=True, slots=True)
class Field:
    name: str
    label: str
    kind: FieldKind = "text"
    required: bool = False
    hint: str = ""
    options: tuple[str, ...] = ()
    """The choices of a `select`."""


@dataclass(frozen=True, slots=True)
class FormSpec:
    name: str
    event_type: str
    title: str
    button: str
    fields: tuple[Field, ...]
    per_follow_up: bool = False
    """One form per open follow-up (complete, cancel); the follow-up id is a hidden field."""


_PERSON_NAME = "Name (in any script)"
PARTIES_SHOWN = 3


def _party_fields(index: int) -> tuple[Field, ...]:
    required = index < 2
    number = index + 1
    return (
        Field(f"parties[{index}].organisation", f"Party {number}: organisation", required=required),
        Field(f"parties[{index}].country", f"Party {number}: country"),
        Field(f"parties[{index}].signatory.name", f"Party {number}: signatory ({_PERSON_NAME})"),
        Field(f"parties[{index}].signatory.title", f"Party {number}: signatory's title"),
    )


AGREEMENT_FORM = FormSpec(
    name="agreement",
    event_type="AgreementSigned",
    title="Record a new agreement",
    button="Record agreement",
    fields=(
        Field("agreement_id", "Identifier", required=True, hint="e.g. imec-rapidus-2022"),
        Field(
            "kind", "Kind", "select", required=True, options=("MoC", "MoU", "partnership", "other")
        ),
        Field("title", "Title", required=True),
        Field("signed_on", "Signed on", "date", required=True),
        Field("place", "Place"),
        Field("sectors", "Sectors (comma-separated)", "list"),
        Field("summary", "Summary", "textarea"),
        *(field for index in range(PARTIES_SHOWN) for field in _party_fields(index)),
    ),
)
"""Not one of `FORMS` (those record on an existing agreement): it starts a stream. Its
`agreement_id` names the stream and is not part of the event's data."""

ANNOUNCEMENT_FORM = FormSpec(
    name="announcement",
    event_type="AgreementAnnounced",
    title="Record an announced agreement",
    button="Record announcement",
    fields=(
        AGREEMENT_FORM.fields[0],
        AGREEMENT_FORM.fields[1],
        AGREEMENT_FORM.fields[2],
        Field("announced_on", "Announced on", "date", required=True),
        Field("sectors", "Sectors (comma-separated)", "list"),
        Field("summary", "Summary", "textarea"),
        *(field for index in range(PARTIES_SHOWN) for field in _party_fields(index)),
    ),
)
"""Starts a stream, like `AGREEMENT_FORM`, for an agreement made public before its signing
(or whose signing date no source gives): the signing is recorded on it later."""

STARTING_FORMS = {spec.name: spec for spec in (AGREEMENT_FORM, ANNOUNCEMENT_FORM)}

FORMS: dict[str, FormSpec] = {
    spec.name: spec
    for spec in (
        FormSpec(
            name="follow-up",
            event_type="FollowUpOpened",
            title="Open a follow-up",
            button="Open follow-up",
            fields=(
                Field("title", "What is to be done", required=True),
                Field("due_on", "Due on", "date", required=True),
                Field("owner.unit", "Owner: unit", required=True, hint="e.g. FIT Tokyo office"),
                Field("owner.person.name", "Owner: person"),
                Field("owner.person.title", "Owner: person's title"),
                Field("follow_up_id", "Identifier (optional)", hint="letters, digits, - _ ."),
            ),
        ),
        FormSpec(
            name="complete",
            event_type="FollowUpCompleted",
            title="Complete",
            button="Mark completed",
            per_follow_up=True,
            fields=(
                Field("follow_up_id", "Follow-up", "hidden", required=True),
                Field("completed_on", "Completed on", "date", required=True),
                Field("outcome", "Outcome", "textarea"),
            ),
        ),
        FormSpec(
            name="cancel",
            event_type="FollowUpCancelled",
            title="Cancel",
            button="Cancel follow-up",
            per_follow_up=True,
            fields=(
                Field("follow_up_id", "Follow-up", "hidden", required=True),
                Field("cancelled_on", "Cancelled on", "date", required=True),
                Field("reason", "Reason", "textarea", required=True),
            ),
        ),
        FormSpec(
            name="reschedule",
            event_type="FollowUpRescheduled",
            title="Reschedule",
            button="Reschedule follow-up",
            per_follow_up=True,
            fields=(
                Field("follow_up_id", "Follow-up", "hidden", required=True),
                Field("due_on", "Now due on", "date", required=True),
                Field("reason", "Reason", "textarea"),
            ),
        ),
        FormSpec(
            name="reassign",
            event_type="FollowUpReassigned",
            title="Reassign",
            button="Reassign follow-up",
            per_follow_up=True,
            fields=(
                Field("follow_up_id", "Follow-up", "hidden", required=True),
                Field("owner.unit", "New owner: unit", required=True),
                Field("owner.person.name", "New owner: person"),
                Field("owner.person.title", "New owner: person's title"),
                Field("reason", "Reason", "textarea"),
            ),
        ),
        FormSpec(
            name="reopen",
            event_type="FollowUpReopened",
            title="Reopen",
            button="Reopen follow-up",
            per_follow_up=True,
            fields=(
                Field("follow_up_id", "Follow-up", "hidden", required=True),
                Field("reopened_on", "Reopened on", "date", required=True),
                Field("reason", "Reason", "textarea", required=True),
            ),
        ),
        FormSpec(
            name="endorse",
            event_type="AgreementEndorsed",
            title="Record an endorsement",
            button="Record endorsement",
            fields=(
                Field(
                    "endorser.name",
                    "Endorser: " + _PERSON_NAME,
                    hint="leave empty where the source does not name the endorser",
                ),
                Field("endorser.title", "Endorser: title"),
                Field("on_behalf_of", "On behalf of"),
                Field("endorsed_on", "Endorsed on", "date", required=True),
            ),
        ),
        FormSpec(
            name="witness",
            event_type="AgreementWitnessed",
            title="Record a witness",
            button="Record witness",
            fields=(
                Field("witness.name", "Witness: " + _PERSON_NAME, required=True),
                Field("witness.title", "Witness: title"),
                Field("witnessed_on", "Witnessed on", "date", required=True),
            ),
        ),
        FormSpec(
            name="assign",
            event_type="ResponsibilityAssigned",
            title="Assign responsibility",
            button="Assign",
            fields=(
                Field("owner.unit", "Owner: unit", required=True),
                Field("owner.person.name", "Owner: person"),
                Field("owner.person.title", "Owner: person's title"),
                Field("assigned_by", "Assigned by", required=True),
                Field("assigned_on", "Assigned on", "date", required=True),
                Field("scope", "Mandate (scope)", "textarea"),
            ),
        ),
        FormSpec(
            name="hand-over",
            event_type="ResponsibilityTransferred",
            title="Hand over responsibility",
            button="Hand over",
            fields=(
                Field("from_owner.unit", "From: unit", "hidden", required=True),
                Field("from_owner.person.name", "From: person", "hidden"),
                Field("from_owner.person.title", "From: title", "hidden"),
                Field("to_owner.unit", "To: unit", required=True),
                Field("to_owner.person.name", "To: person"),
                Field("to_owner.person.title", "To: person's title"),
                Field("transferred_on", "Handed over on", "date", required=True),
                Field("reason", "Reason", "textarea"),
            ),
        ),
        FormSpec(
            name="sign",
            event_type="AgreementSigned",
            title="Record the signing",
            button="Record signing",
            fields=tuple(f for f in AGREEMENT_FORM.fields if f.name != "agreement_id"),
        ),
        FormSpec(
            name="document",
            event_type="DocumentRecorded",
            title="Record a signed document",
            button="Record document",
            fields=(
                Field("document_id", "Identifier", required=True, hint="e.g. signed-instrument"),
                Field("name", "File name", required=True),
                Field("media_type", "Media type", required=True, hint="e.g. application/pdf"),
                Field("sha256", "SHA-256 (64 hexadecimal digits)", required=True),
                Field("size", "Size in bytes", "number", required=True),
                Field("location", "Where the file is kept (URL, optional)", "url"),
            ),
        ),
        FormSpec(
            name="note",
            event_type="NoteAttached",
            title="Add a note",
            button="Add note",
            fields=(
                Field("text", "Note", "textarea", required=True),
                Field("link", "Link (optional)", "url"),
            ),
        ),
    )
}

FOLLOW_UP_FORMS: dict[str, tuple[str, ...]] = {
    "open": ("complete", "cancel", "reschedule", "reassign"),
    "completed": ("reopen",),
    "cancelled": ("reopen",),
}
"""The per follow-up forms offered for a follow-up in each state (the rules refuse the rest)."""

RULE_FIELDS: dict[str, str] = {
    "witnessed_before_signing": "witnessed_on",
    "endorsed_before_signing": "endorsed_on",
    "assigned_before_signing": "assigned_on",
    "transferred_before_signing": "transferred_on",
    "follow_up_due_before_signing": "due_on",
    "transfer_to_same_owner": "to_owner.unit",
    "follow_up_already_exists": "follow_up_id",
    "follow_up_reopened_before_signing": "reopened_on",
    "endorsed_before_announcement": "endorsed_on",
}
"""Where a rule's refusal is shown: beside this field (others: at the top of the form)."""

FORM_LEVEL = ""

ANNOUNCED_FORMS = ("sign", "endorse", "document", "note")
"""What the partnership page offers for an agreement announced and not signed yet: the rules
refuse witnesses, owners and follow-ups until the signing."""

SIGNED_FORMS = ("follow-up", "note", "endorse", "witness", "assign", "hand-over", "document")


@dataclass
class FormState:
    """One form as rendered: its values, the hidden fields that make it safe to resubmit,
    and what went wrong last time (field name -> message; `FORM_LEVEL` for the form)."""

    spec: FormSpec
    values: dict[str, str]
    expected_version: int
    event_id: str
    occurred_at: str
    errors: dict[str, str] = field(default_factory=dict)
    changed: list[str] = field(default_factory=list)
    """What others recorded since the form was rendered (a stale form)."""

    @property
    def key(self) -> str:
        """Which form on the page this is (per follow-up forms: one per follow-up)."""
        if self.spec.per_follow_up:
            return f"{self.spec.name}:{self.values.get('follow_up_id', '')}"
        return self.spec.name


def fresh(spec: FormSpec, version: int, today: dt.date, **values: str) -> FormState:
    """A new form: today in its date fields, a new event id, business time now."""
    defaults = {f.name: today.isoformat() for f in spec.fields if f.kind == "date"}
    now = dt.datetime.now(dt.UTC).replace(microsecond=0)
    return FormState(
        spec=spec,
        values={**defaults, **values},
        expected_version=version,
        event_id=str(uuid.uuid4()),
        occurred_at=now.isoformat().replace("+00:00", "Z"),
    )


def posted(spec: FormSpec, form: dict[str, str]) -> FormState:
    """The form as submitted (hidden fields checked, to be refused as a whole if broken)."""
    values = {f.name: form.get(f.name, "").replace("\r\n", "\n") for f in spec.fields}
    version = form.get("expected_version", "")
    event_id = form.get("event_id", "")
    try:
        uuid.UUID(event_id)
    except ValueError:
        event_id = ""
    return FormState(
        spec=spec,
        values=values,
        expected_version=int(version) if version.isdigit() and len(version) < 10 else -1,
        event_id=event_id,
        occurred_at=form.get("occurred_at", ""),
    )


def event_data(state: FormState) -> dict[str, Any]:
    """The event's data from the form's values (dotted names nest; empty ones are left out)."""
    data: dict[str, Any] = {}
    for spec_field in state.spec.fields:
        value = state.values.get(spec_field.name, "")
        if spec_field.kind != "textarea":
            value = value.strip()
        if not value or spec_field.name == "agreement_id":
            continue
        target = data
        *parents, leaf = spec_field.name.split(".")
        for parent in parents:
            target = target.setdefault(parent, {})
        if spec_field.kind == "list":
            target[leaf] = [item.strip() for item in value.split(",") if item.strip()]
        elif spec_field.kind == "number" and re.fullmatch(r"[0-9]{1,18}", value):
            target[leaf] = int(value)
        else:
            target[leaf] = value
    _drop_nameless_people(data)
    _gather_lists(data)
    if state.spec.event_type == "FollowUpOpened" and "follow_up_id" not in data:
        data["follow_up_id"] = follow_up_id(data.get("title", ""), state.event_id)
    return data


def _drop_nameless_people(data: dict[str, Any]) -> None:
    for value in data.values():
        if isinstance(value, dict):
            for key in ("person", "signatory"):
                person = value.get(key)
                if isinstance(person, dict) and "name" not in person:
                    del value[key]


_INDEXED = re.compile(r"^(?P<name>\w+)\[(?P<index>\d+)\]$")


def _gather_lists(data: dict[str, Any]) -> None:
    """`parties[0]`, `parties[1]`, ... become the list `parties` (in index order; a row left
    empty is left out)."""
    gathered: dict[str, list[tuple[int, Any]]] = {}
    for key in list(data):
        found = _INDEXED.match(key)
        if found:
            gathered.setdefault(found["name"], []).append((int(found["index"]), data.pop(key)))
    for name, items in gathered.items():
        data[name] = [item for _, item in sorted(items, key=lambda pair: pair[0])]


def follow_up_id(title: str, event_id: str) -> str:
    """A readable id from the title, made unique (and stable for a resubmission) by the
    event id."""
    words = re.sub(r"[^a-z0-9]+", "-", title.lower()).strip("-")[:40].strip("-")
    return f"{words or 'follow-up'}-{event_id[:8]}"


_REQUIRED = re.compile(r"required field `(?P<name>[^`]+)`")


def field_errors(state: FormState, errors: list[FieldError]) -> dict[str, str]:
    """Schema errors by form field: `$.owner.unit` (or `$.events[0].data.owner.unit`) is
    the field `owner.unit`; a missing field names itself in the message."""
    names = {f.name for f in state.spec.fields}
    found: dict[str, str] = {}
    for error in errors:
        path = re.sub(r"^\$(\.events\[\d+\]\.data)?\.?", "", error.path)
        required = _REQUIRED.search(error.message)
        if required:
            path = f"{path}.{required['name']}" if path else required["name"]
            message = "This field is required."
        else:
            message = plain(error.message)
        if path not in names:
            path = re.sub(r"\[\d+\]", "", path)
        if path not in names:  # a missing object (`owner`): beside its first required field
            path = next(
                (
                    f.name
                    for f in state.spec.fields
                    if f.name.startswith(f"{path}.") and f.required and f.kind != "hidden"
                ),
                path,
            )
        where = path
        while path and path not in names:
            path = path.rpartition(".")[0]
        if not path and where:
            message = f"{where.split('.')[0]}: {message}"
        found.setdefault(path or FORM_LEVEL, message)
    return found


def plain(message: str) -> str:
    """msgspec's words, for people."""
    message = message.replace("Expected `str` of length >= 1", "This field is required")
    message = re.sub(r"Expected `str` of length <= (\d+)", r"At most \1 characters", message)
    message = re.sub(r"Expected `array` of length >= (\d+)", r"at least \1 are needed", message)
    message = message.replace("Invalid RFC3339 encoded date", "Not a date (YYYY-MM-DD)")
    message = message.replace("Expected `date`", "Not a date (YYYY-MM-DD)")
    return message


def rule_error(state: FormState, violation: RuleViolation) -> dict[str, str]:
    name = RULE_FIELDS.get(violation.rule, FORM_LEVEL)
    if violation.rule == "follow_up_closed_before_signing":
        name = next((f.name for f in state.spec.fields if f.kind == "date"), FORM_LEVEL)
    if name not in {f.name for f in state.spec.fields if f.kind != "hidden"}:
        name = FORM_LEVEL
    return {name: _sentence(_plain_rule(violation.detail))}


_BEFORE_SIGNING = re.compile(r"^[A-Z]\w+ dated (\S+) is before the signing on (\S+)$")


def _plain_rule(detail: str) -> str:
    """A rule's detail without the event's type name (`FollowUpRescheduled dated ...`)."""
    found = _BEFORE_SIGNING.match(detail)
    if found:
        return f"{found[1]} is before the signing on {found[2]}: choose a date on or after it."
    return detail


def _sentence(text: str) -> str:
    text = text.strip()
    return text[:1].upper() + text[1:] if text else text
