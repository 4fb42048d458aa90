"""The past, replayed in memory through the live projections' own fold pipeline.

A `Cut` says which events count: those at or before a position (`position`), those recorded
at or before a time (`recorded_at`, what the system knew then), and/or those whose business
time falls on or before a date (`in_force_on`, what had happened by then as far as we know
now). `Cut.kept` is the one place that applies a cut to log rows: events are filtered first,
then folded in position order by `projections.fold` (corrections included: a cut before a
correction replays none), so the state at position P equals a rebuild of the log cut at P.

Position and record time cut the log at a prefix (record time never decreases along
positions), so a replay stops early; a business date filters the whole log (or stream).
Replays read plain rows at the driver (`events.log_reads`), only the columns a fold needs,
and fold in place into views they own.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy.ext.asyncio import AsyncEngine

from events.envelope import format_timestamp
from events.log_reads import Row, last_recorded_by, log_head, log_rows, stream_log_rows
from events.personal import folding, log_secret
from events.store import EventStore
from projections import delegations, partnerships, registry
from projections.delegation_view import Delegation
from projections.fold import Fold, read_histories
from projections.partnership_view import Partnership
from projections.read_model import Apply, ReadModel


@dataclass(frozen=True)
class Cut:
    position: int | None = None
    """Events at positions <= this."""
    recorded_at: dt.datetime | None = None
    """Events recorded at or before this instant (record time, `recorded_at`)."""
    in_force_on: dt.date | None = None
    """Events whose business time (`occurred_at`, UTC) falls on or before this date."""

    @property
    def recorded_limit(self) -> str | None:
        """`recorded_at` as stored timestamps are written (text order is time order)."""
        return None if self.recorded_at is None else format_timestamp(self.recorded_at)

    @property
    def day_limit(self) -> str | None:
        return None if self.in_force_on is None else self.in_force_on.isoformat()

    def until(self, position: int | None) -> Cut:
        """This cut, and no later than `position` (itself when None)."""
        if position is None:
            return self
        last = position if self.position is None else min(self.position, position)
        return Cut(position=last, recorded_at=self.recorded_at, in_force_on=self.in_force_on)

    def within(self, rows: Sequence[Row]) -> Sequence[Row]:
        """The leading rows (log rows, in position order) not beyond the cut's position
        and record time: every row after the first one beyond is beyond too."""
        last, recorded = self.position, self.recorded_limit
        if last is None and recorded is None:
            return rows
        for index, row in enumerate(rows):
            if (last is not None and row[0] > last) or (recorded is not None and row[6] > recorded):
                return rows[:index]
        return rows

    def kept(self, rows: Sequence[Row]) -> Sequence[Row]:
        """The rows (log rows, in position order) this cut keeps."""
        return self.on_day(self.within(rows))

    def on_day(self, rows: Sequence[Row]) -> Sequence[Row]:
        """The rows whose business date is on or before `in_force_on` (all without one)."""
        day = self.day_limit
        if day is None:
            return rows
        return [row for row in rows if row[5][:10] <= day]


@dataclass
class Picture:
    """Every read model's documents as of a cut, and the last position the cut took in."""

    views: dict[str, dict[str, Any]] = field(default_factory=dict)
    """Each read model's documents by id, by model name."""
    position: int = 0

    @property
    def partnerships(self) -> dict[str, Partnership]:
        return self.views.setdefault(partnerships.NAME, {})

    @property
    def delegations(self) -> dict[str, Delegation]:
        return self.views.setdefault(delegations.NAME, {})


async def resolve(engine: AsyncEngine, cut: Cut) -> Cut:
    """`cut` with an explicit position: at most the head, and no later than the last event
    recorded by its record time (which it then replaces: record times never decrease along
    positions). The position is what an answer at this cut reflects."""
    head = await log_head(engine)
    position = head if cut.position is None else max(0, min(cut.position, head))
    limit = cut.recorded_limit
    if limit is not None:
        position = min(position, await last_recorded_by(engine, limit))
    return Cut(position=position, in_force_on=cut.in_force_on)


class Held:
    """A replay's views of one read model (`projections.fold.Views`), in a dict it owns."""

    def __init__(self, apply: Apply[Any], views: dict[str, Any]) -> None:
        self.apply = apply
        self.views = views

    def fold(self, key: str, data: Any, version: int, position: int, occurred_at: str) -> None:
        held = self.views.get(key)
        view = self.apply(held, data, key, version, position, occurred_at)
        if view is not None and view is not held:
            self.views[key] = view

    def replace(self, key: str, view: Any) -> None:
        self.views[key] = view


async def fold_kept(engine: AsyncEngine, fold: Fold, rows: Sequence[Row], cut: Cut) -> None:
    """Fold rows a cut kept, reading first the streams they fold again (as the cut keeps
    them)."""
    wanted = fold.wanted(rows)
    histories = await read_histories(engine, wanted, cut.on_day) if wanted else None
    with folding(await log_secret(engine)):
        fold.apply(rows, histories)


async def view_at(store: EventStore, model: ReadModel[Any], stream_id: str, cut: Cut) -> Any:
    """One stream's view in `model` as of `cut` (None if it has none then)."""
    views: dict[str, Any] = {}
    fold = Fold({model.name: Held(model.apply, views)})
    rows = await stream_log_rows(store.engine, stream_id, until=cut.position)
    await fold_kept(store.engine, fold, cut.kept(rows), cut)
    return views.get(stream_id)


async def partnership_at(store: EventStore, agreement_id: str, cut: Cut) -> Partnership | None:
    view: Partnership | None = await view_at(store, partnerships.MODEL, agreement_id, cut)
    return view


async def delegation_at(store: EventStore, delegation_id: str, cut: Cut) -> Delegation | None:
    view: Delegation | None = await view_at(store, delegations.MODEL, delegation_id, cut)
    return view


async def picture_at(store: EventStore, cut: Cut, *, batch_size: int = 5000) -> Picture:
    """Replay the log up to `cut` into memory. `position` is the last position the cut
    reaches (at most the head), whatever the business-date filter kept."""
    picture = Picture({model.name: {} for model in registry.READ_MODELS})
    fold = Fold(
        {model.name: Held(model.apply, picture.views[model.name]) for model in registry.READ_MODELS}
    )
    after = 0
    while True:
        rows = await log_rows(store.engine, after=after, limit=batch_size, until=cut.position)
        within = cut.within(rows)
        if within:
            picture.position = within[-1][0]
        await fold_kept(store.engine, fold, cut.on_day(within), cut)
        if len(within) < len(rows) or len(rows) < batch_size:
            return picture
        after = rows[-1][0]
