"""The one fold pipeline: log rows → category → trusted decode → each read model's `apply`.

The runner, a rebuild, an as-of replay and the history route all fold through `Fold`, so
they agree by construction. A `Fold` routes each row to the read models (of the registry)
that fold its stream's category, decoding the event once (`projections._trusted`), and
hands it to where each model keeps its views (`Views`: the working set's documents, or a
replay's dictionary).

Some events ask for whole streams to be folded again (`refolds`): a correction
(`EventCorrected`) changes what an earlier event of its stream said, so at the correction's
position c every read model's view of the stream is folded again from the stream's events up
to c, each corrected event's data merge-patched (`events.merge_patch`) by every correction
at or before c. Before c, views show the original; from c on, the corrected value; a cut
before c replays no correction. The hook (`_REFOLD_HOOKS`: an event type to the streams it
names) is general: erasing personal data names the streams whose stored rows it changed. A
fold is synchronous, so the streams a batch will refold are read beforehand (`Fold.wanted`,
then `read_histories`).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import Any, Protocol

import msgspec
from sqlalchemy.ext.asyncio import AsyncEngine

from events.catalogue import (
    EVENT_TYPES,
    EventCorrected,
    EventData,
    NoteErased,
    PersonalDataErased,
)
from events.envelope import RecordedEvent
from events.log_reads import Row, stream_log_rows
from events.merge_patch import apply_merge_patch
from events.upcasting import decode_stored
from projections import registry
from projections._trusted import decode_trusted, trusted_kinds
from projections.read_model import ReadModel

History = Sequence[Row]
"""A stream's log rows up to some position, each ending with its event id."""


class Views(Protocol):
    """Where one read model's views are kept while folding."""

    def fold(self, key: str, data: Any, version: int, position: int, occurred_at: str) -> None: ...

    def replace(self, key: str, view: Any) -> None:
        """`view` (folded again from its stream) stands for `key` from now on."""


def _own_stream(_data: Any, stream_id: str) -> Iterable[str]:
    return (stream_id,)


def _rewritten_streams(data: Any, _stream_id: str) -> Iterable[str]:
    """An erasure names the streams whose stored rows it rewrote (computed in its
    transaction): a view folded before it copied the erased values."""
    streams: Iterable[str] = data.streams
    return streams


_REFOLD_HOOKS: dict[type[EventData], Callable[[Any, str], Iterable[str]]] = {
    EventCorrected: _own_stream,
    PersonalDataErased: _rewritten_streams,
    NoteErased: _rewritten_streams,
}
"""Event types that ask for streams to be folded again: `hook(data, stream_id)` names them."""
_HOOKS = {kind: hook for cls, hook in _REFOLD_HOOKS.items() for kind in trusted_kinds(cls)}
_REFOLDING_TYPES = frozenset(cls.type_name for cls in _REFOLD_HOOKS)


def refolds(data: Any, stream_id: str) -> Iterable[str]:
    """The streams that folding `data` (an event of `stream_id`) asks to fold again."""
    hook = _HOOKS.get(type(data))
    return () if hook is None else hook(data, stream_id)


class Fold:
    def __init__(self, views: Mapping[str, Views]) -> None:
        """`views`: by read model name, where each model's views are kept; only the models
        named fold (all of them, in the registry's order)."""
        self.models: list[tuple[ReadModel[Any], Views]] = [
            (model, views[model.name]) for model in registry.READ_MODELS if model.name in views
        ]
        self._routes: dict[str, list[Callable[[str, Any, int, int, str], None]]] = {}
        for model, held in self.models:
            for category in model.categories:
                self._routes.setdefault(category, []).append(held.fold)

    def wanted(self, rows: Sequence[Row]) -> dict[str, int]:
        """The streams that folding `rows` will fold again, each with the last position it
        is needed up to (read them with `read_histories`)."""
        wanted: dict[str, int] = {}
        for row in rows:
            if row[3] in _REFOLDING_TYPES:
                data = decode_trusted(row[3], row[4], row[7])
                for stream in refolds(data, row[1]):
                    wanted[stream] = max(wanted.get(stream, 0), row[0])
        return wanted

    def apply(self, rows: Sequence[Row], histories: Mapping[str, History] | None = None) -> None:
        """Fold log rows, in position order. `histories`: the streams `wanted(rows)` named."""
        routes, refolding_types = self._routes, _REFOLDING_TYPES
        last: str | None = None
        targets: list[Callable[[str, Any, int, int, str], None]] | None = None
        for position, stream_id, version, type_, schema_version, occurred_at, _, data in rows:
            if stream_id != last:  # runs of one stream's rows are common: route once per run
                last, targets = stream_id, routes.get(stream_id.partition("-")[0])
            refolding = type_ in refolding_types
            if targets is None and not refolding:
                continue
            event = decode_trusted(type_, schema_version, data)
            if targets is not None:
                for fold in targets:
                    fold(stream_id, event, version, position, occurred_at)
            if refolding:
                for stream in refolds(event, stream_id):
                    found = () if histories is None else histories.get(stream, ())
                    self.refold(stream, [row for row in found if row[0] <= position])

    def refold(self, stream_id: str, history: History) -> None:
        """Fold `stream_id` again from `history` (its rows up to some position, with event
        ids), with its corrections applied, into every view of it."""
        targets = [
            (model, held)
            for model, held in self.models
            if registry.category(stream_id) in model.categories
        ]
        if not targets or not history:
            return
        events = corrected(history)
        for model, held in targets:
            view: Any = None
            for position, version, occurred_at, event in events:
                view = model.apply(view, event, stream_id, version, position, occurred_at)
            if view is not None:
                held.replace(stream_id, view)


def corrected(history: History) -> list[tuple[int, int, str, Any]]:
    """(position, version, occurred_at, data) of each row, every event's data corrected by
    the corrections among the rows (in position order)."""
    patches: dict[str, list[Any]] = {}
    decoded: list[tuple[Row, Any]] = []
    for row in history:
        data = decode_trusted(row[3], row[4], row[7])
        decoded.append((row, data))
        if type(data) in _CORRECTIONS:
            patches.setdefault(data.corrects, []).append(data.changes)
    events: list[tuple[int, int, str, Any]] = []
    for row, data in decoded:
        changes = patches.get(row[8])
        if changes is not None:
            data = _patched(row[3], row[4], row[7], changes, data)
        events.append((row[0], row[2], row[5], data))
    return events


_CORRECTIONS = frozenset(trusted_kinds(EventCorrected))


def _patched(type_: str, schema_version: int, stored: bytes, patches: list[Any], data: Any) -> Any:
    """The stored data (upcast to today's shape) with `patches` merged in, decoded as its
    type; the uncorrected `data` if the result is not a valid event (a fold never refuses:
    the decider guards what a correction may say)."""
    current = decode_stored(type_, schema_version, stored)
    if current is None:
        return data
    document = msgspec.json.decode(msgspec.json.encode(current))
    for patch in patches:
        document = apply_merge_patch(document, patch)
    try:
        return msgspec.json.decode(msgspec.json.encode(document), type=EVENT_TYPES[type_])
    except msgspec.ValidationError:
        return data


async def read_histories(
    engine: AsyncEngine,
    wanted: Mapping[str, int],
    keep: Callable[[Sequence[Row]], Sequence[Row]] | None = None,
) -> dict[str, History]:
    """The rows of each wanted stream up to its position, with event ids. `keep`: the rows
    a cut keeps (an as-of replay folds again only what it folds)."""
    found: dict[str, History] = {}
    for stream, until in wanted.items():
        rows = await stream_log_rows(engine, stream, until=until, event_ids=True)
        found[stream] = rows if keep is None else keep(rows)
    return found


def log_row(event: RecordedEvent) -> Row:
    """A recorded event as the log row a fold takes."""
    return (
        event.position,
        event.stream_id,
        event.version,
        event.type,
        event.schema_version,
        event.occurred_at,
        event.recorded_at,
        bytes(event.data),
    )
