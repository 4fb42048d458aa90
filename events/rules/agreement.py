"""The decider for `agreement-…` streams: what may be appended to an agreement's history.

Schema constraints (field types, lengths, two parties at least) are the catalogue's job; the
rules here need the stream's past. Each refusal names a stable rule (the 422's `rule`):

| rule | refused when |
| --- | --- |
| `event_type_not_allowed_in_category` | a type with no place here (DelegationFormed) |
| `stream_must_start_with_signing` | the first event is neither a signing nor an announcement |
| `already_signed` | a second AgreementSigned |
| `already_announced` | a second AgreementAnnounced |
| `announcement_after_signing` | an AgreementAnnounced on a signed agreement |
| `not_yet_signed` | announced, not signed: anything but endorse, sign, terminate, note, correct |
| `endorsed_before_announcement` | not yet signed: `endorsed_on` is before `announced_on` |
| `terminated_before_announcement` | not yet signed: `terminated_on` is before `announced_on` |
| `duplicate_party` | the same organisation appears twice among the parties (case-insensitive) |
| `expiry_not_after_start` | `expires_on` is not after `effective_on` (or `signed_on` without it) |
| `renewal_without_expiry` | `renewal` is `automatic` or `by_decision` without `expires_on` |
| `renewal_term_missing` | `renewal` is `automatic` without `renewal_term_months` |
| `no_expiry_to_renew` | an AgreementRenewed on an agreement that has no expiry |
| `renewal_expiry_not_later` | a renewal's `expires_on` is not after the current expiry |
| `renewed_before_signing` | `renewed_on` is before `signed_on` |
| `agreement_ended` | anything but closing follow-ups or notes after AgreementTerminated |
| `witnessed_before_signing` | `witnessed_on` is before `signed_on` |
| `endorsed_before_signing` | `endorsed_on` is before `signed_on` (the same day is fine) |
| `assigned_before_signing` | `assigned_on` is before `signed_on` |
| `transferred_before_signing` | `transferred_on` is before `signed_on` |
| `follow_up_due_before_signing` | a follow-up's `due_on` is before `signed_on` |
| `follow_up_closed_before_signing` | `completed_on` / `cancelled_on` is before `signed_on` |
| `amended_before_signing` | `amended_on` is before `signed_on` |
| `terminated_before_signing` | `terminated_on` is before `signed_on` |
| `no_current_owner` | a transfer while nobody is responsible (assign first) |
| `transfer_from_not_current_owner` | `from_owner` is not the current owner (as recorded) |
| `transfer_to_same_owner` | a transfer whose `to_owner` is the current owner |
| `follow_up_already_exists` | opening a follow-up id already used in this agreement |
| `follow_up_unknown` | closing, rescheduling, reassigning or reopening an id never opened |
| `follow_up_already_closed` | completing or cancelling a follow-up already closed |
| `follow_up_not_open` | rescheduling or reassigning a completed or cancelled follow-up |
| `follow_up_already_open` | reopening a follow-up that is open |
| `follow_up_reopened_before_signing` | `reopened_on` is before `signed_on` |
| `too_many_witnesses` | a witness past `DocumentLimits.witnesses` |
| `too_many_endorsements` | an endorsement past `DocumentLimits.endorsements` |
| `too_many_follow_ups` | a follow-up opened past `DocumentLimits.follow_ups` (all count) |
| `too_many_amendments` | an amendment past `DocumentLimits.amendments` |
| `document_already_recorded` | a DocumentRecorded whose `document_id` this agreement has |
| `too_many_documents` | a document recorded past `DocumentLimits.documents` |

Corrections (EventCorrected) follow the rules of `events.rules.corrections`
(`correction_target_unknown`, `correction_of_correction`, `correction_invalid_for_type`,
`correction_changes_nothing`, `correction_breaks_rule`); they remain possible after
termination. The state folds the corrected data: after a correction of the owner's name, the
next transfer's `from_owner` must name the owner as corrected.

An agreement stream starts with its signing or its announcement. On an empty stream anything
else is `stream_must_start_with_signing`; on an announced one, witnessing, assigning, opening
follow-ups, amending or renewing wait for the signing (`not_yet_signed`): an announced
agreement may be endorsed (the release's SettleMint and Fujitsu partnership), signed, or called
off (terminated). A signing after an announcement may date from before it (announced later).

After termination, witness, endorse, assign, transfer, open a follow-up, amend and a second
termination are `agreement_ended`; completing or cancelling the follow-ups still open (and
rescheduling or reassigning them), notes and corrections remain possible; reopening one is
`agreement_ended`. Renewing a terminated agreement is `agreement_ended` too: expiry is not
termination, so an expired agreement may be renewed.
The date rules allow the signing day itself.

A ResponsibilityAssigned on an agreement that already has an owner is a new mandate and
replaces the owner; a hand-over between owners is a ResponsibilityTransferred.

Owners are compared by what was recorded: the unit and the person's name exactly as written, up
to Unicode NFC (the same text typed on two keyboards), titles aside. Not by `owner_id`: that id
folds the unit's ASCII case and punctuation ("Ministry of Finance" and "MINISTRY-of-finance!"
are one id), and a rule that compared it would let a transfer name the wrong owner as the one
handing over.

The `too_many_…` rules keep an agreement's document (and each state in its history) bounded:
every witness, endorsement, follow-up and amendment stays in it for good. The caps are the
deployment's settings; events recorded under higher caps still replay.

`evolve` never refuses: it folds whatever the log holds, so events recorded under older rules
still replay.
"""

from __future__ import annotations

import datetime as dt
import itertools
from collections.abc import Iterable, Sequence
from collections.abc import Set as AbstractSet
from dataclasses import dataclass, field
from typing import cast
from unicodedata import normalize

from events.catalogue import (
    AgreementAmended,
    AgreementAnnounced,
    AgreementEndorsed,
    AgreementRenewed,
    AgreementSigned,
    AgreementTerminated,
    AgreementWitnessed,
    DocumentRecorded,
    EventCorrected,
    EventData,
    FollowUpCancelled,
    FollowUpCompleted,
    FollowUpOpened,
    FollowUpReassigned,
    FollowUpReopened,
    FollowUpRescheduled,
    NoteAttached,
    Owner,
    ResponsibilityAssigned,
    ResponsibilityTransferred,
)
from events.errors import RuleViolation
from events.rules import corrections
from events.rules.corrections import Appending, Recorded

_ALLOWED: frozenset[type[EventData]] = frozenset(
    {
        AgreementAnnounced,
        AgreementSigned,
        AgreementRenewed,
        AgreementWitnessed,
        AgreementEndorsed,
        ResponsibilityAssigned,
        ResponsibilityTransferred,
        FollowUpOpened,
        FollowUpCompleted,
        FollowUpCancelled,
        FollowUpRescheduled,
        FollowUpReassigned,
        FollowUpReopened,
        AgreementAmended,
        AgreementTerminated,
        NoteAttached,
        EventCorrected,
        DocumentRecorded,
    }
)

_ALLOWED_BEFORE_SIGNING: frozenset[type[EventData]] = frozenset(
    {
        AgreementSigned,
        AgreementEndorsed,
        AgreementTerminated,
        NoteAttached,
        EventCorrected,
        DocumentRecorded,
    }
)
"""What an announced, not yet signed, agreement may record."""

_ALLOWED_AFTER_END: frozenset[type[EventData]] = frozenset(
    {
        FollowUpCompleted,
        FollowUpCancelled,
        FollowUpRescheduled,
        FollowUpReassigned,
        NoteAttached,
        EventCorrected,
        DocumentRecorded,
    }
)


OwnerKey = tuple[str, str | None]
"""An owner as recorded: (unit, person's name or None), each in Unicode NFC."""


def owner_key(owner: Owner) -> OwnerKey:
    person = owner.person.name if owner.person is not None else None
    return normalize("NFC", owner.unit), None if person is None else normalize("NFC", person)


def _describe_owner(key: OwnerKey) -> str:
    unit, person = key
    return repr(unit) if person is None else f"{person!r} of {unit!r}"


@dataclass(frozen=True, slots=True)
class DocumentLimits:
    """How many of each list an agreement's document may hold."""

    witnesses: int = 200
    endorsements: int = 200
    follow_ups: int = 200
    amendments: int = 200
    documents: int = 200


@dataclass(frozen=True, slots=True)
class AgreementState:
    """What the rules need to know about one agreement's past."""

    signed_on: dt.date | None = None
    announced_on: dt.date | None = None
    terminated: bool = False
    owner: OwnerKey | None = None
    """The current follow-up owner as recorded, if any."""
    open_follow_ups: frozenset[str] = frozenset()
    closed_follow_ups: frozenset[str] = frozenset()
    witnesses: int = 0
    endorsements: int = 0
    amendments: int = 0
    expires_on: dt.date | None = None
    """The recorded expiry (signing, then each decided renewal); None: until terminated."""
    documents: frozenset[str] = frozenset()
    """The `document_id`s recorded (documents stay recorded for good)."""
    recorded: Recorded = field(default_factory=Recorded, compare=False, repr=False)
    """The stream's events with their ids, as corrected: what a correction patches."""


class AgreementDecider:
    """Pure rules for agreement streams (see the module docstring for the table)."""

    def __init__(self, limits: DocumentLimits | None = None) -> None:
        self.limits = limits or DocumentLimits()

    def initial(self) -> AgreementState:
        return AgreementState()

    def evolve(self, state: AgreementState, event: EventData) -> AgreementState:
        return self.fold(state, (event,))

    def fold(
        self,
        state: AgreementState,
        events: Iterable[EventData],
        ids: Iterable[str | None] | None = None,
    ) -> AgreementState:
        draft = _Draft(state)
        for event, event_id in zip(events, _ids(ids), strict=False):
            draft.apply(event, event_id)
        return draft.frozen()

    def check(
        self,
        state: AgreementState,
        new: Sequence[EventData],
        ids: Sequence[str | None] | None = None,
    ) -> AgreementState:
        draft = _Draft(state)
        for index, (event, event_id) in enumerate(zip(new, _ids(ids), strict=False)):
            _check_one(draft, event, index)
            _check_limits(draft, event, index, self.limits)
            if isinstance(event, EventCorrected):
                self._check_correction(draft, event, index)
            elif isinstance(event, DocumentRecorded) and event.document_id in draft.documents:
                raise RuleViolation(
                    "document_already_recorded",
                    f"the agreement already has a document {event.document_id!r}",
                    index,
                )
            draft.apply(event, event_id)
        return draft.frozen()

    def _check_correction(self, draft: _Draft, event: EventCorrected, index: int) -> None:
        target, data = corrections.patched(draft.recorded, event, index)
        corrections.rechecked(
            lambda facts: self.check(self.initial(), facts),
            lambda facts: self.fold(self.initial(), facts),
            draft.recorded,
            draft.recorded.with_correction(target, data),
            index,
        )


def _ids(ids: Iterable[str | None] | None) -> Iterable[str | None]:
    return itertools.repeat(None) if ids is None else itertools.chain(ids, itertools.repeat(None))


class _Draft:
    """A state being folded, event by event, in place. Its follow-up sets are copied once,
    on the first change, and frozen again at the end: folding by copying frozen sets at
    every event made a batch quadratic in the agreement's follow-ups."""

    __slots__ = (
        "_own",
        "amendments",
        "announced_on",
        "appending",
        "closed_follow_ups",
        "documents",
        "endorsements",
        "expires_on",
        "open_follow_ups",
        "owner",
        "signed_on",
        "terminated",
        "witnesses",
    )

    def __init__(self, state: AgreementState) -> None:
        self.signed_on = state.signed_on
        self.announced_on = state.announced_on
        self.terminated = state.terminated
        self.owner = state.owner
        self.open_follow_ups: AbstractSet[str] = state.open_follow_ups
        self.closed_follow_ups: AbstractSet[str] = state.closed_follow_ups
        self.witnesses = state.witnesses
        self.endorsements = state.endorsements
        self.amendments = state.amendments
        self.expires_on = state.expires_on
        self.documents = state.documents
        self.appending = Appending(state.recorded)
        self._own = False

    @property
    def recorded(self) -> Recorded:
        return self.appending.frozen()

    def apply(self, event: EventData, event_id: str | None = None) -> None:
        """Fold one recorded event (`event_id` is how a later correction may name it)."""
        if isinstance(event, EventCorrected):
            before = self.appending.frozen()
            self.appending.append(event_id, event)
            self._correct(before, event)
        else:
            self.appending.append(event_id, event)
            self._fold(event)

    def _correct(self, before: Recorded, event: EventCorrected) -> None:
        """Refold the stream's facts with the corrected data (a correction the rules would
        refuse today is folded as nothing, as the log holds it)."""
        try:
            target, data = corrections.patched(before, event, 0)
        except RuleViolation:
            return
        after = self.appending.frozen().with_correction(target, data)
        self.appending = Appending(after)
        fresh = _Draft(AgreementState())
        for fact in after.facts():
            fresh._fold(fact)
        for name in _Draft.__slots__:
            if name != "appending":
                setattr(self, name, getattr(fresh, name))

    def _fold(self, event: EventData) -> None:
        match event:
            case AgreementSigned(signed_on=signed_on, expires_on=expires_on):
                self.signed_on = signed_on
                self.expires_on = expires_on
            case AgreementAnnounced(announced_on=announced_on):
                self.announced_on = announced_on
            case AgreementRenewed(expires_on=expires_on):
                self.expires_on = expires_on
            case ResponsibilityAssigned(owner=owner):
                self.owner = owner_key(owner)
            case ResponsibilityTransferred(to_owner=to_owner):
                self.owner = owner_key(to_owner)
            case FollowUpOpened(follow_up_id=fid):
                self._sets()[0].add(fid)
            case FollowUpCompleted(follow_up_id=fid) | FollowUpCancelled(follow_up_id=fid):
                opened, closed = self._sets()
                opened.discard(fid)
                closed.add(fid)
            case FollowUpReopened(follow_up_id=fid):
                opened, closed = self._sets()
                closed.discard(fid)
                opened.add(fid)
            case AgreementTerminated():
                self.terminated = True
            case AgreementWitnessed():
                self.witnesses += 1
            case AgreementEndorsed():
                self.endorsements += 1
            case AgreementAmended():
                self.amendments += 1
            case DocumentRecorded(document_id=document_id):
                self.documents = self.documents | {document_id}
            case _:
                pass

    def _sets(self) -> tuple[set[str], set[str]]:
        if not self._own:
            self.open_follow_ups = set(self.open_follow_ups)
            self.closed_follow_ups = set(self.closed_follow_ups)
            self._own = True
        return cast(set[str], self.open_follow_ups), cast(set[str], self.closed_follow_ups)

    def frozen(self) -> AgreementState:
        # frozenset() of a frozenset is that very set: nothing is copied unless it changed.
        return AgreementState(
            self.signed_on,
            self.announced_on,
            self.terminated,
            self.owner,
            frozenset(self.open_follow_ups),
            frozenset(self.closed_follow_ups),
            self.witnesses,
            self.endorsements,
            self.amendments,
            self.expires_on,
            self.documents,
            self.appending.frozen(),
        )


def _check_one(state: _Draft, event: EventData, index: int) -> None:
    kind = type(event)
    if kind not in _ALLOWED:
        raise RuleViolation(
            "event_type_not_allowed_in_category",
            f"{kind.type_name} cannot be recorded in an agreement stream",
            index,
        )
    if state.signed_on is None and state.announced_on is None:
        if not isinstance(event, AgreementSigned | AgreementAnnounced):
            raise RuleViolation(
                "stream_must_start_with_signing",
                f"an agreement stream starts with AgreementSigned or AgreementAnnounced, not "
                f"{kind.type_name}",
                index,
            )
        _check_parties(event, index)
        if isinstance(event, AgreementSigned):
            _check_term(event, index)
        return
    if isinstance(event, AgreementAnnounced):
        if state.signed_on is not None:
            raise RuleViolation(
                "announcement_after_signing",
                f"the agreement was signed on {state.signed_on}: an announcement comes before",
                index,
            )
        raise RuleViolation(
            "already_announced",
            f"the agreement was already announced on {state.announced_on}",
            index,
        )
    if state.signed_on is None:
        _check_announced(state, event, index)
        return
    if isinstance(event, AgreementSigned):
        raise RuleViolation(
            "already_signed", f"the agreement was already signed on {state.signed_on}", index
        )
    if state.terminated and kind not in _ALLOWED_AFTER_END:
        raise RuleViolation(
            "agreement_ended",
            f"the agreement was terminated; {kind.type_name} is no longer possible",
            index,
        )
    _check_not_before_signing(state.signed_on, event, index)
    match event:
        case ResponsibilityTransferred():
            _check_transfer(state, event, index)
        case AgreementRenewed():
            _check_renewal(state, event, index)
        case FollowUpOpened(follow_up_id=fid):
            if fid in state.open_follow_ups or fid in state.closed_follow_ups:
                raise RuleViolation(
                    "follow_up_already_exists", f"follow-up {fid!r} was already opened", index
                )
        case FollowUpCompleted(follow_up_id=fid) | FollowUpCancelled(follow_up_id=fid):
            if fid in state.closed_follow_ups:
                raise RuleViolation(
                    "follow_up_already_closed",
                    f"follow-up {fid!r} was already completed or cancelled",
                    index,
                )
            if fid not in state.open_follow_ups:
                raise RuleViolation("follow_up_unknown", f"no follow-up {fid!r} was opened", index)
        case FollowUpRescheduled(follow_up_id=fid) | FollowUpReassigned(follow_up_id=fid):
            _check_known(state, fid, index)
            if fid not in state.open_follow_ups:
                raise RuleViolation(
                    "follow_up_not_open",
                    f"follow-up {fid!r} was completed or cancelled: reopen it first",
                    index,
                )
        case FollowUpReopened(follow_up_id=fid):
            _check_known(state, fid, index)
            if fid in state.open_follow_ups:
                raise RuleViolation("follow_up_already_open", f"follow-up {fid!r} is open", index)
        case _:
            pass


def _check_announced(state: _Draft, event: EventData, index: int) -> None:
    """An event on an agreement announced (on `state.announced_on`) and not yet signed."""
    kind = type(event)
    if state.terminated and kind not in _ALLOWED_AFTER_END:
        raise RuleViolation(
            "agreement_ended",
            f"the agreement was called off; {kind.type_name} is no longer possible",
            index,
        )
    if kind not in _ALLOWED_BEFORE_SIGNING:
        raise RuleViolation(
            "not_yet_signed",
            f"the agreement was announced on {state.announced_on} and is not signed yet: "
            f"record its signing before {kind.type_name}",
            index,
        )
    announced_on = state.announced_on
    assert announced_on is not None
    match event:
        case AgreementSigned():
            _check_parties(event, index)
            _check_term(event, index)
        case AgreementEndorsed(endorsed_on=day) if day < announced_on:
            raise RuleViolation(
                "endorsed_before_announcement",
                f"endorsed_on {day} is before the announcement on {announced_on}",
                index,
            )
        case AgreementTerminated(terminated_on=day) if day < announced_on:
            raise RuleViolation(
                "terminated_before_announcement",
                f"terminated_on {day} is before the announcement on {announced_on}",
                index,
            )
        case _:
            pass


def _check_known(state: _Draft, fid: str, index: int) -> None:
    if fid not in state.open_follow_ups and fid not in state.closed_follow_ups:
        raise RuleViolation("follow_up_unknown", f"no follow-up {fid!r} was opened", index)


def _check_limits(state: _Draft, event: EventData, index: int, limits: DocumentLimits) -> None:
    match event:
        case AgreementWitnessed():
            count, cap, rule, what = state.witnesses, limits.witnesses, "witnesses", "witnesses"
        case AgreementEndorsed():
            count, cap, rule, what = (
                state.endorsements,
                limits.endorsements,
                "endorsements",
                "endorsements",
            )
        case FollowUpOpened():
            count = len(state.open_follow_ups) + len(state.closed_follow_ups)
            cap, rule, what = limits.follow_ups, "follow_ups", "follow-ups"
        case AgreementAmended():
            count, cap, rule, what = state.amendments, limits.amendments, "amendments", "amendments"
        case DocumentRecorded():
            count, cap = len(state.documents), limits.documents
            rule, what = "documents", "documents"
        case _:
            return
    if count >= cap:
        raise RuleViolation(
            f"too_many_{rule}",
            f"the agreement already has {count} {what}; it may hold at most {cap}",
            index,
        )


def _check_parties(event: AgreementSigned | AgreementAnnounced, index: int) -> None:
    seen: set[str] = set()
    for party in event.parties:
        key = " ".join(party.organisation.casefold().split())
        if key in seen:
            raise RuleViolation(
                "duplicate_party",
                f"{party.organisation!r} appears more than once among the parties",
                index,
            )
        seen.add(key)


def _check_term(event: AgreementSigned, index: int) -> None:
    start = event.effective_on or event.signed_on
    if event.expires_on is not None and event.expires_on <= start:
        raise RuleViolation(
            "expiry_not_after_start",
            f"expires_on {event.expires_on} is not after the start of the term on {start}",
            index,
        )
    if event.renewal in ("automatic", "by_decision") and event.expires_on is None:
        raise RuleViolation(
            "renewal_without_expiry",
            f"renewal {event.renewal!r} needs an expires_on to renew at",
            index,
        )
    if event.renewal == "automatic" and event.renewal_term_months is None:
        raise RuleViolation(
            "renewal_term_missing",
            "an automatic renewal needs renewal_term_months (the term it adds)",
            index,
        )


def _check_renewal(state: _Draft, event: AgreementRenewed, index: int) -> None:
    if state.expires_on is None:
        raise RuleViolation(
            "no_expiry_to_renew", "the agreement has no expiry: it runs until terminated", index
        )
    if event.expires_on <= state.expires_on:
        raise RuleViolation(
            "renewal_expiry_not_later",
            f"expires_on {event.expires_on} is not after the current expiry {state.expires_on}",
            index,
        )


def _dated(event: EventData) -> tuple[str, dt.date] | None:
    """The rule name and date of an event that cannot predate the signing."""
    match event:
        case AgreementWitnessed(witnessed_on=day):
            return "witnessed_before_signing", day
        case AgreementEndorsed(endorsed_on=day):
            return "endorsed_before_signing", day
        case ResponsibilityAssigned(assigned_on=day):
            return "assigned_before_signing", day
        case ResponsibilityTransferred(transferred_on=day):
            return "transferred_before_signing", day
        case FollowUpOpened(due_on=day) | FollowUpRescheduled(due_on=day):
            return "follow_up_due_before_signing", day
        case FollowUpReopened(reopened_on=day):
            return "follow_up_reopened_before_signing", day
        case FollowUpCompleted(completed_on=day) | FollowUpCancelled(cancelled_on=day):
            return "follow_up_closed_before_signing", day
        case AgreementAmended(amended_on=day):
            return "amended_before_signing", day
        case AgreementTerminated(terminated_on=day):
            return "terminated_before_signing", day
        case AgreementRenewed(renewed_on=day):
            return "renewed_before_signing", day
        case _:
            return None


def _check_not_before_signing(signed_on: dt.date, event: EventData, index: int) -> None:
    dated = _dated(event)
    if dated is not None and dated[1] < signed_on:
        rule, day = dated
        raise RuleViolation(
            rule, f"{event.type_name} dated {day} is before the signing on {signed_on}", index
        )


def _check_transfer(state: _Draft, event: ResponsibilityTransferred, index: int) -> None:
    if state.owner is None:
        raise RuleViolation(
            "no_current_owner", "nobody is responsible yet: assign an owner first", index
        )
    current = _describe_owner(state.owner)
    if owner_key(event.from_owner) != state.owner:
        raise RuleViolation(
            "transfer_from_not_current_owner",
            f"from_owner {_describe_owner(owner_key(event.from_owner))} is not the current "
            f"owner {current} (compared as recorded, titles aside)",
            index,
        )
    if owner_key(event.to_owner) == state.owner:
        raise RuleViolation("transfer_to_same_owner", f"{current} is already the owner", index)


AGREEMENT = AgreementDecider()
