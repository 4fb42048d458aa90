"""An erasure made by one PostgreSQL instance reaches the writer of another: its decider
states, folded from the rows before the erasure, are not used after it."""

from __future__ import annotations

import datetime as dt

import pytest

from events.catalogue import Owner, Person, ResponsibilityTransferred
from events.envelope import Metadata, Proposed
from events.erasure import erase
from events.errors import RuleViolation
from events.store import open_store
from tests._databases import fresh_postgres
from tests.test_erasure import ERASED_NAME, id_of, record_history

DAY = dt.date(2025, 3, 2)


def _hand_over(from_name: str) -> Proposed:
    data = ResponsibilityTransferred(
        from_owner=Owner(unit="Fisheries desk", person=Person(name=from_name)),
        to_owner=Owner(unit="Fisheries desk"),
        transferred_on=DAY,
    )
    return Proposed(type="ResponsibilityTransferred", data=data)


@pytest.mark.postgres
async def test_another_instance_writer_decides_on_the_rewritten_rows() -> None:
    async with fresh_postgres() as url:
        first, second = await open_store(url), await open_store(url)
        try:
            await record_history(first)  # first's writer now holds agreement-b's owner
            helene = await id_of(first, ERASED_NAME)
            await erase(
                second,
                helene,
                legal_basis="Art. 17",
                reason="asked",
                metadata=Metadata(actor="dpo"),
            )
            with pytest.raises(RuleViolation) as refused:
                await first.append(
                    "agreement-b", [_hand_over(ERASED_NAME)], metadata=Metadata(actor="clerk")
                )
            assert refused.value.rule == "transfer_from_not_current_owner"
            done = await first.append(
                "agreement-b",
                [_hand_over(f"[erased {helene}]")],
                metadata=Metadata(actor="clerk"),
            )
            assert done.created
        finally:
            await first.close()
            await second.close()
