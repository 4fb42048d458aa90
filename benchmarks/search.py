"""Partnership search (`q=`) at 20,000 partnerships: the first page of matches, as a ratio of
the unfiltered first page measured in the same run.

The read-model tables are filled directly (documents folded from one signing each, written by
the read models' own `save` and `replace_rows`), not through the log: the figure is about the
query. The statement is the one `GET /partnerships?q=` runs for a first page: documents whose
id is among the text table's matches, in id order, 50 of them. Three queries: a word of the
Latin alphabet that 1 partnership in 100 has (answered by the trigram index), a two-character
kanji surname that 1 in 10 has (too short for a trigram: the scan fallback), and both
together (the index narrows, the short word filters what is left; 1 in 100 has both).
"""

from __future__ import annotations

import datetime as dt
import statistics
import time
from collections.abc import Awaitable, Callable
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncEngine, create_async_engine

from benchmarks import baselines
from benchmarks.context import Context
from benchmarks.postgres import scratch_database, unreachable
from benchmarks.results import Check, Row
from events.catalogue import AgreementSigned, Party, Person
from projections import partnership_search, partnerships
from projections.partnership_view import Partnership, apply
from projections.schema import LIVE

PARTNERSHIPS = 20_000
PAGE = 50
REPEATS = 20
_SURNAMES = ["佐藤", "鈴木", "高橋", "田中", "伊藤", "渡辺", "山本", "中村", "小林", "加藤"]
_GIVEN = ["花子", "太郎", "美咲", "健一", "陽菜"]
QUERIES = {"latin_ms": "rapidus", "kanji_ms": "佐藤", "mixed_ms": "rapidus 佐藤"}


async def figures(ctx: Context) -> list[Row]:
    sqlite = _row("sqlite", "SQLite FTS5 trigram")
    engine = create_async_engine(baselines.sqlite_url(ctx.path("search.db")))
    try:
        await _measure(ctx, engine, sqlite)
    finally:
        await engine.dispose()
    pg = _row("pg", "PostgreSQL pg_trgm")
    problem = await unreachable(ctx.postgres_dsn)
    if problem is not None:
        pg.skipped = problem
        return [sqlite, pg]
    async with scratch_database(ctx.postgres_dsn) as scratch:
        engine = create_async_engine(scratch.url)
        try:
            await _measure(ctx, engine, pg)
        finally:
            await engine.dispose()
    return [sqlite, pg]


def _row(suffix: str, what: str) -> Row:
    return Row(
        key=f"search_q_{suffix}",
        title=f"q=rapidus, first page, {PARTNERSHIPS:,} partnerships, {what}",
        unit="ms",
        baseline="the unfiltered first page",
        checks=[Check("≤ 10x the unfiltered page", "ratio", 10.0, at_most=True)],
        notes=[
            f"median of {REPEATS} queries per run; extras: the same page for "
            + ", ".join(f"{name}={q!r}" for name, q in QUERIES.items())
        ],
    )


async def _measure(ctx: Context, engine: AsyncEngine, row: Row) -> None:
    ctx.say(f"{row.title} x {ctx.runs} runs")
    await _fill(engine)
    docs = LIVE.partnerships.docs

    def page(q: str | None) -> Callable[[], Awaitable[int]]:
        search = None if q is None else partnership_search.Search(q=q)
        condition = partnership_search.condition(docs, LIVE.search, search)
        query = (
            select(docs.c.agreement_id, docs.c.doc)
            .where(condition)
            .order_by(docs.c.agreement_id)
            .limit(PAGE)
        )

        async def run() -> int:
            async with engine.connect() as connection:
                return len((await connection.execute(query)).all())

        return run

    assert await page("rapidus")() == PAGE  # warm up, and the index answers
    for _ in range(ctx.runs):
        row.baseline_samples.append(await _latency(page(None)))
        row.samples.append(await _latency(page("rapidus")))
        for name, q in QUERIES.items():
            row.add_extra(name, await _latency(page(q)))


async def _latency(run: Callable[[], Awaitable[int]]) -> float:
    times = []
    for _ in range(REPEATS):
        started = time.perf_counter()
        await run()
        times.append((time.perf_counter() - started) * 1000)
    return statistics.median(times)


async def _fill(engine: AsyncEngine) -> None:
    views = {view.agreement_id: view for view in map(_partnership, range(PARTNERSHIPS))}
    encoded = {key: partnerships.encode(view) for key, view in views.items()}

    def write(connection: Any) -> None:
        LIVE.metadata.create_all(connection)
        partnerships.save(
            connection,
            LIVE.partnerships,
            partnerships.doc_rows(views, encoded),
            partnerships.sector_rows(views.values()),
        )
        partnership_search.replace_rows(
            connection,
            LIVE.search,
            [],
            partnership_search.term_rows(views.values()),
            partnership_search.text_rows(views.values()),
        )

    async with engine.begin() as connection:
        await connection.run_sync(write)
    # What autovacuum does after a bulk load: statistics for the planner and, on PostgreSQL,
    # the GIN index's pending list merged (until then the planner prices the index too high).
    async with engine.connect() as connection:
        autocommit = await connection.execution_options(isolation_level="AUTOCOMMIT")
        vacuum = "VACUUM ANALYZE" if engine.dialect.name == "postgresql" else "ANALYZE"
        await autocommit.exec_driver_sql(vacuum)
    async with engine.connect() as connection:
        count = select(func.count()).select_from(LIVE.partnerships.docs)
        assert (await connection.execute(count)).scalar_one() == PARTNERSHIPS


def _partnership(number: int) -> Partnership:
    name = _SURNAMES[number % len(_SURNAMES)] + _GIVEN[number % len(_GIVEN)]
    company = "Rapidus" if number % 100 == 10 else f"Manufacturing Corporation {number}"
    signed = AgreementSigned(
        kind="MoU",
        title=f"Memorandum of Understanding on research cooperation no. {number}",
        parties=[
            Party(
                organisation=f"Research Institute {number}",
                country="Belgium",
                signatory=Person(name=f"Director {number}", title="CEO"),
            ),
            Party(
                organisation=company,
                country="Japan",
                signatory=Person(name=name, title="President"),
            ),
        ],
        signed_on=dt.date(2020, 1, 1) + dt.timedelta(days=number % 1500),
    )
    view = apply(None, signed, f"agreement-search-{number:05d}", 1, number + 1, "2020-01-01")
    assert view is not None
    return view
