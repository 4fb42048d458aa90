"""The past, replayed in memory with the live projections' own pure folds.

A `Cut` says which events count: those at or before a position (`position`), those recorded
at or before a time (`recorded_at`, what the system knew then), and/or those whose business
time falls on or before a date (`in_force_on`, what had happened by then as far as we know
now). Events are filtered first, then folded in position order; nothing else differs from
the live projection, so the state at position P equals a rebuild of the log cut at P.

Position and record time cut the log at a prefix (record time never decreases along
positions), so a replay stops early; a business date filters the whole log (or stream).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable
from dataclasses import dataclass, field

from events.envelope import RecordedEvent, format_timestamp
from events.store import EventStore
from projections import delegation_view, partnership_view
from projections.delegation_view import Delegation
from projections.partnership_view import Partnership


@dataclass(frozen=True)
class Cut:
    position: int | None = None
    """Events at positions <= this."""
    recorded_at: dt.datetime | None = None
    """Events recorded at or before this instant (record time, `recorded_at`)."""
    in_force_on: dt.date | None = None
    """Events whose business time (`occurred_at`, UTC) falls on or before this date."""

    @property
    def _recorded_limit(self) -> str | None:
        return None if self.recorded_at is None else format_timestamp(self.recorded_at)

    def past_end(self, event: RecordedEvent) -> bool:
        """True once the log has gone beyond this cut (every later event is beyond it too)."""
        limit = self._recorded_limit
        if self.position is not None and event.position > self.position:
            return True
        return limit is not None and event.recorded_at > limit

    def keeps(self, event: RecordedEvent) -> bool:
        if self.past_end(event):
            return False
        return self.in_force_on is None or event.occurred_at[:10] <= self.in_force_on.isoformat()


@dataclass
class Picture:
    """Every read model's documents as of a cut, and the last position the cut took in."""

    partnerships: dict[str, Partnership] = field(default_factory=dict)
    delegations: dict[str, Delegation] = field(default_factory=dict)
    position: int = 0


def fold_partnership(events: Iterable[RecordedEvent]) -> Partnership | None:
    view: Partnership | None = None
    for event in events:
        view = partnership_view.evolve(view, event)
    return view


def fold_delegation(events: Iterable[RecordedEvent]) -> Delegation | None:
    view: Delegation | None = None
    for event in events:
        view = delegation_view.evolve(view, event)
    return view


async def stream_at(store: EventStore, stream_id: str, cut: Cut) -> list[RecordedEvent]:
    """The events of one stream that `cut` keeps, in order."""
    events = await store.read_stream(stream_id, until_position=cut.position)
    return [event for event in events if cut.keeps(event)]


async def partnership_at(store: EventStore, agreement_id: str, cut: Cut) -> Partnership | None:
    return fold_partnership(await stream_at(store, agreement_id, cut))


async def delegation_at(store: EventStore, delegation_id: str, cut: Cut) -> Delegation | None:
    return fold_delegation(await stream_at(store, delegation_id, cut))


async def picture_at(store: EventStore, cut: Cut, *, batch_size: int = 5000) -> Picture:
    """Replay the log up to `cut` into memory. `position` is the last position the cut
    reaches (at most the head), whatever the business-date filter kept."""
    picture = Picture()
    after = 0
    while True:
        events = await store.read_all(after=after, limit=batch_size, until=cut.position)
        for event in events:
            if cut.past_end(event):
                return picture
            picture.position = event.position
            if cut.keeps(event):
                _fold_into(picture, event)
        if len(events) < batch_size:
            return picture
        after = events[-1].position


def _fold_into(picture: Picture, event: RecordedEvent) -> None:
    category = event.category
    if category == partnership_view.CATEGORY:
        key = event.stream_id
        view = partnership_view.evolve(picture.partnerships.get(key), event)
        if view is not None:
            picture.partnerships[key] = view
    elif category == delegation_view.CATEGORY:
        key = event.stream_id
        delegation = delegation_view.evolve(picture.delegations.get(key), event)
        if delegation is not None:
            picture.delegations[key] = delegation
