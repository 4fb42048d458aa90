"""Reading the projections: current state from their tables, past state by replay.

Every answer comes with the position it reflects: the checkpoint read in the same statement
as the rows (one SQL statement is one consistent snapshot on SQLite and PostgreSQL alike),
or, with `as_of_position`, the cut position (at most the log's head). Ids are stream ids
(`agreement-imec-rapidus-2022`); the id without its category prefix is accepted too.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from sqlalchemy import select, true
from sqlalchemy.ext.asyncio import AsyncEngine

from events.store import EventStore
from projections import as_of, delegations, owners, partnerships
from projections.as_of import Cut
from projections.delegation_view import Delegation
from projections.owner_view import OwnerSummary, owner_rows, summarize_owner, summarize_owners
from projections.partnership_view import Partnership
from projections.schema import LIVE, checkpoints


def stream_id(category: str, identifier: str) -> str:
    """`identifier` as a stream id of `category`, accepting it with or without the prefix."""
    prefix = f"{category}-"
    return identifier if identifier.startswith(prefix) else prefix + identifier


class ProjectionReader:
    def __init__(self, store: EventStore) -> None:
        self._store = store
        self._engine: AsyncEngine = store.engine

    # -- partnerships --------------------------------------------------------------------

    async def get_partnership_json(
        self, agreement_id: str, *, as_of_position: int | None = None
    ) -> tuple[bytes | None, int]:
        """The stored JSON document of one partnership (the fastest read), and its position."""
        key = stream_id("agreement", agreement_id)
        if as_of_position is not None:
            view, position = await self._partnership_as_of(key, as_of_position)
            return (None if view is None else partnerships.encode(view)), position
        docs = LIVE.partnerships.docs
        docs_rows, position = await self._docs_at(
            partnerships.NAME, docs, docs.c.agreement_id == key, docs.c.doc
        )
        return (docs_rows[0] if docs_rows else None), position

    async def get_partnership(
        self, agreement_id: str, *, as_of_position: int | None = None
    ) -> tuple[Partnership | None, int]:
        key = stream_id("agreement", agreement_id)
        if as_of_position is not None:
            return await self._partnership_as_of(key, as_of_position)
        doc, position = await self.get_partnership_json(key)
        return (None if doc is None else partnerships.decode(doc)), position

    async def list_partnerships_json(
        self,
        *,
        status: str | None = None,
        owner: str | None = None,
        sector: str | None = None,
        as_of_position: int | None = None,
    ) -> tuple[list[bytes], int]:
        """The stored JSON documents matching the filters, by signing date then id."""
        if as_of_position is not None:
            views, position = await self.list_partnerships(
                status=status, owner=owner, sector=sector, as_of_position=as_of_position
            )
            return [partnerships.encode(view) for view in views], position
        docs = LIVE.partnerships.docs
        condition = partnerships.filter_condition(
            LIVE.partnerships, status=status, owner=owner, sector=sector
        )
        return await self._docs_at(
            partnerships.NAME,
            docs,
            condition,
            docs.c.doc,
            order_by=(docs.c.signed_on, docs.c.agreement_id),
        )

    async def list_partnerships(
        self,
        *,
        status: str | None = None,
        owner: str | None = None,
        sector: str | None = None,
        as_of_position: int | None = None,
    ) -> tuple[list[Partnership], int]:
        if as_of_position is None:
            docs, position = await self.list_partnerships_json(
                status=status, owner=owner, sector=sector
            )
            return [partnerships.decode(doc) for doc in docs], position
        picture = await self._picture(as_of_position)
        views = [
            view
            for view in picture.partnerships.values()
            if partnerships.matches(view, status=status, owner=owner, sector=sector)
        ]
        views.sort(key=lambda view: (view.signed_on, view.agreement_id))
        return views, picture.position

    # -- owners --------------------------------------------------------------------------

    async def list_owners(
        self, *, today: dt.date, as_of_position: int | None = None
    ) -> tuple[list[OwnerSummary], int]:
        """Every follow-up owner with agreements and follow-ups; overdue as of `today`."""
        if as_of_position is not None:
            picture = await self._picture(as_of_position)
            rows = [row for view in picture.partnerships.values() for row in owner_rows(view)]
            return summarize_owners(rows, today), picture.position
        items = LIVE.owner_items
        docs, position = await self._docs_at(
            owners.NAME, items, true(), items.c.doc, order_by=(items.c.owner_id,)
        )
        return summarize_owners(owners.decode_rows(docs), today), position

    async def get_owner(
        self, owner_id: str, *, today: dt.date, as_of_position: int | None = None
    ) -> tuple[OwnerSummary | None, int]:
        if as_of_position is not None:
            picture = await self._picture(as_of_position)
            rows = [
                row
                for view in picture.partnerships.values()
                for row in owner_rows(view)
                if row.owner_id == owner_id
            ]
            return (summarize_owner(rows, today) if rows else None), picture.position
        items = LIVE.owner_items
        docs, position = await self._docs_at(
            owners.NAME, items, items.c.owner_id == owner_id, items.c.doc
        )
        rows = owners.decode_rows(docs)
        return (summarize_owner(rows, today) if rows else None), position

    # -- delegations ---------------------------------------------------------------------

    async def list_delegations_json(
        self, *, as_of_position: int | None = None
    ) -> tuple[list[bytes], int]:
        if as_of_position is not None:
            views, position = await self.list_delegations(as_of_position=as_of_position)
            return [delegations.encode(view) for view in views], position
        docs = LIVE.delegations
        return await self._docs_at(
            delegations.NAME,
            docs,
            true(),
            docs.c.doc,
            order_by=(docs.c.starts_on, docs.c.delegation_id),
        )

    async def list_delegations(
        self, *, as_of_position: int | None = None
    ) -> tuple[list[Delegation], int]:
        if as_of_position is None:
            docs, position = await self.list_delegations_json()
            return [delegations.decode(doc) for doc in docs], position
        picture = await self._picture(as_of_position)
        views = sorted(
            picture.delegations.values(), key=lambda view: (view.starts_on, view.delegation_id)
        )
        return views, picture.position

    async def get_delegation_json(
        self, delegation_id: str, *, as_of_position: int | None = None
    ) -> tuple[bytes | None, int]:
        view: Delegation | None
        key = stream_id("delegation", delegation_id)
        if as_of_position is not None:
            view, position = await self.get_delegation(key, as_of_position=as_of_position)
            return (None if view is None else delegations.encode(view)), position
        docs = LIVE.delegations
        rows, position = await self._docs_at(
            delegations.NAME, docs, docs.c.delegation_id == key, docs.c.doc
        )
        return (rows[0] if rows else None), position

    async def get_delegation(
        self, delegation_id: str, *, as_of_position: int | None = None
    ) -> tuple[Delegation | None, int]:
        key = stream_id("delegation", delegation_id)
        if as_of_position is not None:
            position = await self._clamp(as_of_position)
            view = await as_of.delegation_at(self._store, key, Cut(position=position))
            return view, position
        doc, position = await self.get_delegation_json(key)
        return (None if doc is None else delegations.decode(doc)), position

    # -- helpers -------------------------------------------------------------------------

    async def _docs_at(
        self,
        name: str,
        table: Any,
        condition: Any,
        column: Any,
        *,
        order_by: tuple[Any, ...] = (),
    ) -> tuple[list[bytes], int]:
        """The matching documents and the checkpoint of `name`, in one statement: the
        checkpoint row left-joined to the matching rows (so no match still gives the position)."""
        query = (
            select(checkpoints.c.position, column)
            .select_from(checkpoints.outerjoin(table, condition))
            .where(checkpoints.c.name == name)
            .order_by(*order_by)
        )
        async with self._engine.connect() as connection:
            rows = (await connection.execute(query)).all()
        position = rows[0][0] if rows else 0
        return [row[1] for row in rows if row[1] is not None], position

    async def _clamp(self, position: int) -> int:
        return max(0, min(position, await self._store.head()))

    async def _partnership_as_of(self, key: str, position: int) -> tuple[Partnership | None, int]:
        position = await self._clamp(position)
        return await as_of.partnership_at(self._store, key, Cut(position=position)), position

    async def _picture(self, position: int) -> as_of.Picture:
        picture = await as_of.picture_at(self._store, Cut(position=position))
        picture.position = await self._clamp(position)
        return picture
