"""Reading the projections: current state from their tables, past state by replay.

Every answer comes with the position it reflects: the checkpoint read in the same statement
as the rows (one SQL statement is one consistent snapshot on SQLite and PostgreSQL alike), or
the cache's position for an answer it holds (see `projections.cache`), or, for the past, the
position the cut reaches (at most the log's head). Ids are stream ids
(`agreement-imec-rapidus-2022`); the id without its category prefix is accepted too.

The past is asked for with a `Cut` (`as_of_position=P` is `Cut(position=P)`): a record time
is turned into the last position recorded by then, so every past answer names a position.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Hashable
from typing import Any

from msgspec.structs import replace
from sqlalchemy import select, true
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from events.schema import events as events_table
from events.store import EventStore
from projections import as_of, delegations, follow_ups, owners, partnership_search, partnerships
from projections._sql import read_snapshot
from projections.as_of import Cut
from projections.cache import ReadCache
from projections.delegation_view import Delegation
from projections.owner_view import (
    FollowUpCounts,
    OwnerRow,
    OwnerSummary,
    owner_rows,
    summarize_owner,
    summarize_owners,
)
from projections.pages import Keyset, Page, keyset_page, page_of
from projections.partnership_view import Partnership, listed_on
from projections.read_model import ReadModel, V
from projections.replays import Replays
from projections.schema import LIVE, checkpoints
from projections.summaries import (
    DelegationSummary,
    OwnerDocument,
    OwnerListItem,
    PartnershipSummary,
    delegation_summary,
    owner_document,
    owner_list_item,
    partnership_summary,
)

AGREEMENT_PREFIX = "agreement-"
"""How a partnership's stream id begins."""
MAX_REFOLDED = 500
"""Most partnerships an owner page folds back to its walk's position; past that (a walk much
slower than the writes, or a cut far back) replaying the log to it is the cheaper way."""


def stream_id(category: str, identifier: str) -> str:
    """`identifier` as a stream id of `category`, accepting it with or without the prefix."""
    prefix = f"{category}-"
    return identifier if identifier.startswith(prefix) else prefix + identifier


def _cut(as_of_position: int | None, cut: Cut | None) -> Cut | None:
    if cut is None:
        return None if as_of_position is None else Cut(position=as_of_position)
    return cut.until(as_of_position)


class ProjectionReader:
    def __init__(
        self, store: EventStore, cache: ReadCache | None = None, replays: Replays | None = None
    ) -> None:
        """`cache`: stored bytes kept true by this process's runner; without one (or while
        the runner is not running) every read goes to the tables. `replays`: how many
        whole-log replays (as-of lists) may run at once, and which are kept."""
        self._store = store
        self._engine: AsyncEngine = store.engine
        self.cache = cache if cache is not None else ReadCache()
        self.replays = replays if replays is not None else Replays()

    # -- one document, of any read model -------------------------------------------------

    async def document(
        self, model: ReadModel[Any], identifier: str, *, cut: Cut | None = None
    ) -> tuple[bytes | None, int]:
        """One stream's JSON document in `model`, and the position it reflects: as stored
        (the fastest read: the cache's bytes when it holds them, else the table's), or as of
        `cut` when given, replayed. `identifier`: the stream id, with or without its category
        prefix (`model.category`)."""
        key = stream_id(model.category, identifier)
        if cut is not None:
            resolved = await self.resolve(cut)
            view = await as_of.view_at(self._store, model, key, resolved)
            return (None if view is None else model.encode(view)), _position(resolved)
        position = self.cache.position
        doc = self.cache.doc(key)
        if doc is not None and position is not None:
            return doc, position
        table = model.documents(LIVE.of[model.name])
        (id_column,) = table.primary_key.columns
        rows, position = await self._docs_at(model.name, table, id_column == key, table.c.doc)
        if not rows:
            return None, position
        self.cache.offer_doc(key, rows[0], position)
        return rows[0], position

    async def view(
        self, model: ReadModel[V], identifier: str, *, cut: Cut | None = None
    ) -> tuple[V | None, int]:
        """`document`, decoded. A replayed view is decoded from its encoding too: replays
        fold trusted copies of the catalogue's shapes (`projections._trusted`), which encode
        the same but compare unequal to the catalogue's own."""
        doc, position = await self.document(model, identifier, cut=cut)
        return (None if doc is None else model.decode(doc)), position

    # -- partnerships --------------------------------------------------------------------

    async def get_partnership_json(
        self, agreement_id: str, *, as_of_position: int | None = None, cut: Cut | None = None
    ) -> tuple[bytes | None, int]:
        """One partnership's stored JSON document (the fastest read), and its position."""
        return await self.document(partnerships.MODEL, agreement_id, cut=_cut(as_of_position, cut))

    async def get_partnership(
        self, agreement_id: str, *, as_of_position: int | None = None, cut: Cut | None = None
    ) -> tuple[Partnership | None, int]:
        return await self.view(partnerships.MODEL, agreement_id, cut=_cut(as_of_position, cut))

    async def list_partnerships_json(
        self,
        *,
        status: str | None = None,
        owner: str | None = None,
        sector: str | None = None,
        expiring_within_days: int | None = None,
        today: dt.date | None = None,
        as_of_position: int | None = None,
        cut: Cut | None = None,
    ) -> tuple[list[bytes], int]:
        """The stored JSON documents matching the filters, by signing date then id (their
        status as stored: see `projections.term` for the status on a day)."""
        filters = _filters(status, owner, sector, expiring_within_days, today)
        past = _cut(as_of_position, cut)
        if past is not None:
            views, position = await self._partnerships_at(past, filters)
            return [partnerships.encode(view) for view in views], position
        docs = LIVE.partnerships.docs
        condition = partnerships.filter_condition(LIVE.partnerships, filters)
        return await self._docs_at(
            partnerships.NAME,
            docs,
            condition,
            docs.c.doc,
            order_by=(docs.c.signed_on, docs.c.agreement_id),
            answer=("partnerships", *filters.key()),
        )

    async def list_partnerships(
        self,
        *,
        status: str | None = None,
        owner: str | None = None,
        sector: str | None = None,
        expiring_within_days: int | None = None,
        today: dt.date | None = None,
        as_of_position: int | None = None,
        cut: Cut | None = None,
    ) -> tuple[list[Partnership], int]:
        """`list_partnerships_json`, decoded."""
        docs, position = await self.list_partnerships_json(
            status=status,
            owner=owner,
            sector=sector,
            expiring_within_days=expiring_within_days,
            today=today,
            as_of_position=as_of_position,
            cut=cut,
        )
        return [partnerships.decode(doc) for doc in docs], position

    async def partnership_page(
        self,
        keyset: Keyset,
        *,
        status: str | None = None,
        owner: str | None = None,
        sector: str | None = None,
        expiring_within_days: int | None = None,
        today: dt.date | None = None,
        search: partnership_search.Search | None = None,
    ) -> Page[PartnershipSummary]:
        """A page of partnership summaries by id (see `projections.pages`). The first page
        of a walk over the current state is one statement, and the one dashboards poll:
        the cache may hold it. Statuses are those on `today`."""
        filters = _filters(status, owner, sector, expiring_within_days, today)
        day = filters.today
        answer = None
        if keyset.at is None and keyset.after is None:
            answer = ("partnership-page", *filters.key(), search, keyset.limit)
            held = self.cache.answer(answer)
            position = self.cache.position
            if held is not None and position is not None:
                items, more = held
                return Page(items, position, more)
        tables = LIVE.partnerships
        docs = tables.docs

        def keep(view: Partnership) -> bool:
            return partnerships.matches(view, filters) and partnership_search.matches(view, search)

        async def fold(key: str) -> Partnership | None:
            cut = Cut(position=keyset.at, in_force_on=keyset.in_force_on)
            return await as_of.partnership_at(self._store, key, cut)

        found = await keyset_page(
            self._engine,
            name=partnerships.NAME,
            table=docs,
            id_column=docs.c.agreement_id,
            condition=partnerships.filter_condition(tables, filters)
            & partnership_search.condition(docs, LIVE.search, search),
            keyset=keyset,
            decode=partnerships.decode,
            fold=fold,
            keep=keep,
        )
        if found is None:
            assert keyset.at is not None
            cut = Cut(position=keyset.at, in_force_on=keyset.in_force_on)
            views, position = await self._partnerships_at(cut, filters, search)
            views.sort(key=lambda view: view.agreement_id)
            chosen, more = page_of(views, lambda v: v.agreement_id, keyset.after, keyset.limit)
            return Page([partnership_summary(v, day) for v in chosen], position, more)
        views, position, more = found
        items = [partnership_summary(view, day) for view in views]
        if answer is not None:
            self.cache.offer_answer(answer, (items, more), position, 400 * (len(items) + 1))
        return Page(items, position, more)

    # -- owners --------------------------------------------------------------------------

    async def list_owners(
        self, *, today: dt.date, as_of_position: int | None = None, cut: Cut | None = None
    ) -> tuple[list[OwnerSummary], int]:
        """Every follow-up owner with agreements and follow-ups; overdue as of `today`."""
        past = _cut(as_of_position, cut)
        if past is not None:
            picture = await self._picture(past)
            views = [_plain(view) for view in picture.partnerships.values()]
            rows = [row for view in views for row in owner_rows(view)]
            return summarize_owners(rows, today), picture.position
        key = ("owners", today)
        position = self.cache.position
        held = self.cache.answer(key)
        if held is not None and position is not None:
            return held, position
        items = LIVE.owner_items
        docs, position = await self._docs_at(
            owners.NAME, items, true(), items.c.doc, order_by=(items.c.owner_id,)
        )
        summaries = summarize_owners(owners.decode_rows(docs), today)
        self.cache.offer_answer(key, summaries, position, sum(map(len, docs)))
        return summaries, position

    async def owner_page(self, keyset: Keyset, *, today: dt.date) -> Page[OwnerListItem]:
        """A page of owner summaries by owner id, as of `keyset.at` when set (the later pages
        of a walk, or a past cut), else as of the position the tables are at. An owner is
        summed up from rows of many partnerships; at a position P the stored rows of every
        partnership unchanged since P are counted in SQL as they are, and the few changed
        since are folded back to P (`_owner_page_at`). With a business date, or when too many
        partnerships changed since P, the page replays the log to P instead."""
        if keyset.at is not None and keyset.in_force_on is None:
            page = await self._owner_page_at(keyset, keyset.at, today)
            if page is not None:
                return page
        if keyset.at is not None:
            cut = Cut(position=keyset.at, in_force_on=keyset.in_force_on)
            picture = await self._picture(cut)
            views = [_plain(view) for view in picture.partnerships.values()]
            summaries = summarize_owners([row for v in views for row in owner_rows(v)], today)
            chosen, more = page_of(summaries, lambda s: s.owner_id, keyset.after, keyset.limit)
            return Page([owner_list_item(s) for s in chosen], picture.position, more)
        answer = None
        if keyset.after is None:
            answer = ("owner-page", today, keyset.limit)
            held = self.cache.answer(answer)
            position = self.cache.position
            if held is not None and position is not None:
                items, more = held
                return Page(items, position, more)
        items_table = LIVE.owner_items
        # The page's owners from their counts' rows, one an owner: a DISTINCT over the
        # owners' rows would read every row of the page's owners, a number that grows with
        # the log.
        counted = owners.counts_table(items_table).c
        chosen_ids = (
            select(counted.owner_id)
            .where(true() if keyset.after is None else counted.owner_id > keyset.after)
            .order_by(counted.owner_id)
            .limit(keyset.limit + 1)
        )
        tally = owners.tally_query(items_table, chosen_ids, today.isoformat()).subquery()
        query = (
            select(checkpoints.c.position, tally)
            .select_from(checkpoints.outerjoin(tally, true()))
            .where(checkpoints.c.name == owners.NAME)
            .order_by(tally.c.owner_id)
        )
        async with self._engine.connect() as connection:
            rows = (await connection.execute(query)).all()
        position = rows[0][0] if rows else 0
        tallied = [_owner_item(row[1:], today) for row in rows if row[1] is not None]
        more = len(tallied) > keyset.limit
        listed = tallied[: keyset.limit]
        if answer is not None:
            self.cache.offer_answer(answer, (listed, more), position, 300 * (len(listed) + 1))
        return Page(listed, position, more)

    async def _owner_page_at(
        self, keyset: Keyset, at: int, today: dt.date
    ) -> Page[OwnerListItem] | None:
        """The owner page as of position `at` from the tables, or None if more than
        `MAX_REFOLDED` partnerships changed since (or the tables have no owners yet)."""
        items_table = LIVE.owner_items
        async with read_snapshot(self._engine) as connection:
            changed = await _few_changed_since(connection, owners.NAME, at)
            if changed is None:
                return None
            # The owners with a row of an unchanged partnership, from the counts' one row an
            # owner (see `owner_page`): an owner's rows are looked into only until one of an
            # unchanged partnership is found, at most `MAX_REFOLDED` + 1 of them.
            counted = owners.counts_table(items_table).c
            after = true() if keyset.after is None else counted.owner_id > keyset.after
            unchanged: Any = true()
            if changed:
                inner = items_table.alias("chosen")
                unchanged = (
                    select(inner.c.owner_id)
                    .where(inner.c.owner_id == counted.owner_id)
                    .where(inner.c.agreement_id.not_in(changed))
                    .exists()
                )
            chosen_ids = (
                select(counted.owner_id)
                .where(after, unchanged)
                .order_by(counted.owner_id)
                .limit(keyset.limit + 1)
            )
            query = owners.tally_query(items_table, chosen_ids, today.isoformat(), changed)
            stored = {row[0]: row for row in (await connection.execute(query)).all()}
        folded: dict[str, list[OwnerRow]] = {}
        for key in changed:
            view = await as_of.partnership_at(self._store, key, Cut(position=at))
            for row in [] if view is None else owner_rows(_plain(view)):
                if keyset.after is None or row.owner_id > keyset.after:
                    folded.setdefault(row.owner_id, []).append(row)
        chosen = sorted(stored.keys() | folded.keys())[: keyset.limit + 1]
        listed = [_merged_owner_item(stored.get(o), folded.get(o, []), today) for o in chosen]
        return Page(listed[: keyset.limit], at, len(listed) > keyset.limit)

    async def get_owner(
        self,
        owner_id: str,
        *,
        today: dt.date,
        as_of_position: int | None = None,
        cut: Cut | None = None,
    ) -> tuple[OwnerSummary | None, int]:
        past = _cut(as_of_position, cut)
        if past is not None:
            picture = await self._picture(past)
            rows = [
                row
                for view in picture.partnerships.values()
                for row in owner_rows(_plain(view))
                if row.owner_id == owner_id
            ]
            return (summarize_owner(rows, today) if rows else None), picture.position
        items = LIVE.owner_items
        docs, position = await self._docs_at(
            owners.NAME,
            items,
            items.c.owner_id == owner_id,
            items.c.doc,
            answer=("owner", owner_id),
        )
        rows = owners.decode_rows(docs)
        return (summarize_owner(rows, today) if rows else None), position

    async def owner_document(
        self, owner_id: str, *, today: dt.date, shown: int, cut: Cut | None = None
    ) -> tuple[OwnerDocument | None, int]:
        """One owner's bounded document: every count, the first `shown` agreements by id and
        open follow-ups by due date (the overdue ones are the earliest of them). Read from
        the tables without the rest of the owner's rows, however many."""
        if cut is not None:
            summary, at = await self.get_owner(owner_id, today=today, cut=cut)
            return (None if summary is None else owner_document(summary, shown)), at
        answer = ("owner-document", owner_id, today, shown)
        held = self.cache.answer(answer)
        if held is not None and self.cache.position is not None:
            return held, self.cache.position
        items = LIVE.owner_items
        mine = items.c.owner_id == owner_id
        counted = owners.counts_table(items).c
        chosen = select(counted.owner_id).where(counted.owner_id == owner_id)
        async with read_snapshot(self._engine) as connection:
            position = (
                await connection.execute(
                    select(checkpoints.c.position).where(checkpoints.c.name == owners.NAME)
                )
            ).scalar()
            tallies = (
                await connection.execute(owners.tally_query(items, chosen, today.isoformat()))
            ).all()
            if not tallies:
                return None, int(position or 0)
            agreement_docs = (
                (
                    await connection.execute(
                        select(items.c.doc)
                        .where(mine & items.c.state.is_(None))
                        # By id: an agreement's row has no due date. Ordered as the state
                        # index is, so the first `shown` are read, not all of them sorted.
                        .order_by(items.c.due_on, items.c.agreement_id)
                        .limit(shown)
                    )
                )
                .scalars()
                .all()
            )
            open_docs = (
                (
                    await connection.execute(
                        select(items.c.doc)
                        .where(mine & (items.c.state == "open"))
                        .order_by(items.c.due_on, items.c.agreement_id, items.c.item)
                        .limit(shown)
                    )
                )
                .scalars()
                .all()
            )
        item = _owner_item(tallies[0], today)
        latest = tallies[0][-1]
        rows = owners.decode_rows({latest, *agreement_docs, *open_docs})
        summary = replace(summarize_owner(rows, today), counts=item.counts)
        document = replace(owner_document(summary, shown), agreement_count=item.agreement_count)
        at = int(position or 0)
        size = sum(map(len, agreement_docs)) + sum(map(len, open_docs))
        self.cache.offer_answer(answer, document, at, size)
        return document, at

    # -- follow-ups ----------------------------------------------------------------------

    async def follow_up_page(
        self, keyset: Keyset, filters: follow_ups.Filters
    ) -> Page[follow_ups.ListedFollowUp]:
        """A page of the work list by (due date, agreement, follow-up); `keyset.after` is a
        key as `follow_ups.encode_key` wrote it. A walk answers every page as of the position
        its first page reflected (`keyset.at`), as partnership and owner walks do: the rows
        of agreements unchanged since are read as stored, the few changed since folded back
        to it (`_follow_up_page_at`); with a business date, or too many changed, the page
        replays the log to the cut instead."""
        today = filters.today
        after = None if keyset.after is None else follow_ups.decode_key(keyset.after)
        if keyset.at is not None and keyset.in_force_on is None:
            page = await self._follow_up_page_at(keyset, keyset.at, filters, after)
            if page is not None:
                return page
        if keyset.at is not None:
            cut = Cut(position=keyset.at, in_force_on=keyset.in_force_on)
            picture = await self._picture(cut)
            found = sorted(
                (
                    item
                    for view in picture.partnerships.values()
                    for item in follow_ups.items(_plain(view))
                    if follow_ups.matches(item, filters)
                ),
                key=follow_ups.key_of,
            )
            rest = [i for i in found if after is None or follow_ups.key_of(i) > after]
            chosen = rest[: keyset.limit]
            listed = [follow_ups.listed(item, today) for item in chosen]
            return Page(listed, picture.position, len(rest) > keyset.limit)
        table = LIVE.follow_ups
        condition = follow_ups.condition(table, filters)
        if after is not None:
            condition = condition & follow_ups.after(table, after)
        chosen_rows = (
            select(table.c.doc, table.c.due_on, table.c.agreement_id, table.c.follow_up_id)
            .where(condition)
            .order_by(table.c.due_on, table.c.agreement_id, table.c.follow_up_id)
            .limit(keyset.limit + 1)
            .subquery()
        )
        query = (
            select(checkpoints.c.position, chosen_rows.c.doc)
            .select_from(checkpoints.outerjoin(chosen_rows, true()))
            .where(checkpoints.c.name == follow_ups.NAME)
            .order_by(chosen_rows.c.due_on, chosen_rows.c.agreement_id, chosen_rows.c.follow_up_id)
        )
        async with self._engine.connect() as connection:
            rows = (await connection.execute(query)).all()
        position = rows[0][0] if rows else 0
        docs = [row[1] for row in rows if row[1] is not None]
        items = [follow_ups.listed(follow_ups.decode(doc), today) for doc in docs]
        return Page(items[: keyset.limit], position, len(items) > keyset.limit)

    async def _follow_up_page_at(
        self,
        keyset: Keyset,
        at: int,
        filters: follow_ups.Filters,
        after: follow_ups.Key | None,
    ) -> Page[follow_ups.ListedFollowUp] | None:
        """The work-list page as of position `at` from the table, or None if more than
        `MAX_REFOLDED` partnerships changed since (or the table has no checkpoint yet).

        A follow-up's key can change after `at` (rescheduled), so the rows of a changed
        partnership are not read at all: its follow-ups at `at` are folded from its stream
        and merged into the page by their key then."""
        table = LIVE.follow_ups
        async with read_snapshot(self._engine) as connection:
            changed = await _few_changed_since(connection, follow_ups.NAME, at)
            if changed is None:
                return None
            condition = follow_ups.condition(table, filters)
            if after is not None:
                condition = condition & follow_ups.after(table, after)
            if changed:
                condition = condition & table.c.agreement_id.not_in(changed)
            docs = (
                (
                    await connection.execute(
                        select(table.c.doc)
                        .where(condition)
                        .order_by(table.c.due_on, table.c.agreement_id, table.c.follow_up_id)
                        .limit(keyset.limit + 1)
                    )
                )
                .scalars()
                .all()
            )
        found = [follow_ups.decode(doc) for doc in docs]
        for key in changed:
            view = await as_of.partnership_at(self._store, key, Cut(position=at))
            for item in [] if view is None else follow_ups.items(_plain(view)):
                if follow_ups.matches(item, filters) and (
                    after is None or follow_ups.key_of(item) > after
                ):
                    found.append(item)
        found.sort(key=follow_ups.key_of)
        listed = [follow_ups.listed(item, filters.today) for item in found[: keyset.limit]]
        return Page(listed, at, len(found) > keyset.limit)

    # -- delegations ---------------------------------------------------------------------

    async def list_delegations_json(
        self, *, as_of_position: int | None = None, cut: Cut | None = None
    ) -> tuple[list[bytes], int]:
        past = _cut(as_of_position, cut)
        if past is not None:
            views, position = await self._delegations_at(past)
            return [delegations.encode(view) for view in views], position
        docs = LIVE.delegations
        return await self._docs_at(
            delegations.NAME,
            docs,
            true(),
            docs.c.doc,
            order_by=(docs.c.starts_on, docs.c.delegation_id),
            answer=("delegations",),
        )

    async def list_delegations(
        self, *, as_of_position: int | None = None, cut: Cut | None = None
    ) -> tuple[list[Delegation], int]:
        """`list_delegations_json`, decoded."""
        docs, position = await self.list_delegations_json(as_of_position=as_of_position, cut=cut)
        return [delegations.decode(doc) for doc in docs], position

    async def delegation_page(self, keyset: Keyset) -> Page[DelegationSummary]:
        """A page of delegation summaries by id (see `projections.pages`)."""
        docs = LIVE.delegations

        async def fold(key: str) -> Delegation | None:
            cut = Cut(position=keyset.at, in_force_on=keyset.in_force_on)
            return await as_of.delegation_at(self._store, key, cut)

        found = await keyset_page(
            self._engine,
            name=delegations.NAME,
            table=docs,
            id_column=docs.c.delegation_id,
            condition=true(),
            keyset=keyset,
            decode=delegations.decode,
            fold=fold,
            keep=lambda _: True,
        )
        if found is None:
            assert keyset.at is not None
            cut = Cut(position=keyset.at, in_force_on=keyset.in_force_on)
            views, position = await self._delegations_at(cut)
            views.sort(key=lambda view: view.delegation_id)
            chosen, more = page_of(views, lambda v: v.delegation_id, keyset.after, keyset.limit)
            return Page([delegation_summary(v) for v in chosen], position, more)
        views, position, more = found
        return Page([delegation_summary(view) for view in views], position, more)

    async def get_delegation_json(
        self, delegation_id: str, *, as_of_position: int | None = None, cut: Cut | None = None
    ) -> tuple[bytes | None, int]:
        """One delegation's stored JSON document, and its position."""
        return await self.document(delegations.MODEL, delegation_id, cut=_cut(as_of_position, cut))

    async def get_delegation(
        self, delegation_id: str, *, as_of_position: int | None = None, cut: Cut | None = None
    ) -> tuple[Delegation | None, int]:
        return await self.view(delegations.MODEL, delegation_id, cut=_cut(as_of_position, cut))

    # -- the past ------------------------------------------------------------------------

    async def resolve(self, cut: Cut) -> Cut:
        """`cut` with an explicit position: at most the head, and no later than the last
        event recorded by its record time (which it then replaces: record times never
        decrease along positions). The position is what an answer at this cut reflects."""
        return await as_of.resolve(self._engine, cut)

    # -- helpers -------------------------------------------------------------------------

    async def _docs_at(
        self,
        name: str,
        table: Any,
        condition: Any,
        column: Any,
        *,
        order_by: tuple[Any, ...] = (),
        answer: Hashable | None = None,
    ) -> tuple[list[bytes], int]:
        """The matching documents and the checkpoint of `name`, in one statement: the
        checkpoint row left-joined to the matching rows (so no match still gives the position).
        `answer`: a key under which the cache may hold this very answer."""
        if answer is not None:
            position = self.cache.position
            held = self.cache.answer(answer)
            if held is not None and position is not None:
                return held, position
        query = (
            select(checkpoints.c.position, column)
            .select_from(checkpoints.outerjoin(table, condition))
            .where(checkpoints.c.name == name)
            .order_by(*order_by)
        )
        async with self._engine.connect() as connection:
            rows = (await connection.execute(query)).all()
        position = rows[0][0] if rows else 0
        docs = [row[1] for row in rows if row[1] is not None]
        if answer is not None:
            self.cache.offer_answer(answer, docs, position, sum(map(len, docs)))
        return docs, position

    async def _partnerships_at(
        self,
        cut: Cut,
        filters: partnerships.Filters,
        search: partnership_search.Search | None = None,
    ) -> tuple[list[Partnership], int]:
        picture = await self._picture(cut)
        views = [
            view
            for view in picture.partnerships.values()
            if partnerships.matches(view, filters) and partnership_search.matches(view, search)
        ]
        views.sort(key=lambda view: (listed_on(view), view.agreement_id))
        return views, picture.position

    async def _delegations_at(self, cut: Cut) -> tuple[list[Delegation], int]:
        picture = await self._picture(cut)
        views = sorted(
            picture.delegations.values(), key=lambda view: (view.starts_on, view.delegation_id)
        )
        return views, picture.position

    async def _picture(self, cut: Cut) -> as_of.Picture:
        resolved = await self.resolve(cut)

        async def replay() -> as_of.Picture:
            picture = await as_of.picture_at(self._store, resolved)
            picture.position = _position(resolved)
            return picture

        return await self.replays.picture((resolved.position, resolved.in_force_on), replay)


async def _few_changed_since(connection: AsyncConnection, model: str, at: int) -> list[str] | None:
    """The partnerships changed since position `at` (or since where read model `model`'s
    tables reached, if that is earlier): what a page as of `at` must fold back rather than
    read as stored. None when the tables have no checkpoint yet, or more than
    `MAX_REFOLDED` changed (the page is replayed then)."""
    reached = (
        await connection.execute(select(checkpoints.c.position).where(checkpoints.c.name == model))
    ).scalar()
    if reached is None:
        return None
    changed = await _changed_since(connection, min(at, reached))
    return None if len(changed) > MAX_REFOLDED else changed


async def _changed_since(connection: AsyncConnection, position: int) -> list[str]:
    """The partnerships with an event after `position`, at most `MAX_REFOLDED` + 1 of them:
    the rows of every other one are, as stored, its state at any position from `position`
    up to what the tables reached."""
    log = events_table.c
    found = await connection.execute(
        select(log.stream_id)
        .where(
            log.position > position,
            log.stream_id.startswith(AGREEMENT_PREFIX, autoescape=True),
        )
        .distinct()
        .limit(MAX_REFOLDED + 1)
    )
    return list(found.scalars().all())


def _plain(view: Partnership) -> Partnership:
    """A replayed view as the tables would give it back: replays fold trusted copies of the
    catalogue's shapes (`projections._trusted`), which encode the same but compare unequal
    to the catalogue's own."""
    return partnerships.decode(partnerships.encode(view))


def _owner_item(row: Any, today: dt.date) -> OwnerListItem:
    """A list item from a row of `owners.tally_query`."""
    owner_id, agreements, open_, overdue, completed, cancelled, next_due_on, latest = row
    named = latest if isinstance(latest, OwnerRow) else owners.decode_row(latest)
    return OwnerListItem(
        owner_id=owner_id,
        unit=named.unit,
        person=named.person,
        agreement_count=int(agreements),
        counts=FollowUpCounts(
            open=int(open_),
            overdue=int(overdue),
            completed=int(completed),
            cancelled=int(cancelled),
        ),
        next_due_on=None if next_due_on is None else dt.date.fromisoformat(next_due_on),
        today=today,
    )


def _merged_owner_item(stored: Any, rows: list[OwnerRow], today: dt.date) -> OwnerListItem:
    """An owner's list item from its `owners.tally_query` row over the unchanged partnerships
    (None if it has none) and its rows from the partnerships folded back (`rows`)."""
    agreements = open_ = overdue = completed = cancelled = 0
    next_due: str | None = None
    latest: OwnerRow | None = None
    if stored is not None:
        _, agreements, open_, overdue, completed, cancelled, next_due, doc = stored
        latest = owners.decode_row(doc)
    for row in rows:
        if latest is None or _recency(row) > _recency(latest):
            latest = row
        follow_up = row.follow_up
        if follow_up is None:
            agreements += 1
        elif follow_up.state == "open":
            open_ += 1
            overdue += follow_up.due_on < today
            due = follow_up.due_on.isoformat()
            next_due = due if next_due is None else min(next_due, due)
        elif follow_up.state == "completed":
            completed += 1
        elif follow_up.state == "cancelled":
            cancelled += 1
    assert latest is not None, "an owner on a page has a row"
    return _owner_item(
        (latest.owner_id, agreements, open_, overdue, completed, cancelled, next_due, latest),
        today,
    )


def _recency(row: OwnerRow) -> tuple[int, str, str]:
    """How `owners.tally_query` picks an owner's latest row (its unit and person)."""
    return row.position, row.agreement_id, row.item


def _position(resolved: Cut) -> int:
    assert resolved.position is not None, "resolve() gives every cut a position"
    return resolved.position


def _filters(
    status: str | None,
    owner: str | None,
    sector: str | None,
    expiring_within_days: int | None,
    today: dt.date | None,
) -> partnerships.Filters:
    """The filters of a partnership list, judged on `today` (the UTC date when not given:
    the service always gives the agency's)."""
    day = dt.datetime.now(dt.UTC).date() if today is None else today
    return partnerships.Filters(day, status, owner, sector, expiring_within_days)
