"""Lists as CSV for spreadsheets and BI tools: RFC 4180, streamed, safe to open.

A list is written a page at a time as its pages are read from the database, so a 20,000-row
export never holds the whole file (nor the whole list) in memory. The file starts with a
UTF-8 byte-order mark: without it spreadsheet programs guess a legacy code page and show
佐藤花子 as mojibake. Rows end with CRLF and cells are quoted by the standard library's
`csv` as RFC 4180 asks (commas, quotes, line breaks).

A text cell that a spreadsheet would run as a formula (one starting with `=`, `+`, `-`, `@`,
tab or carriage return: OWASP's "CSV injection") gets a leading apostrophe, so that a
title recorded as `=HYPERLINK(...)` is shown as text instead of being evaluated.
"""

from __future__ import annotations

import csv
import io
from collections.abc import AsyncIterator, Callable, Sequence
from typing import Generic, TypeVar

from starlette.requests import Request
from starlette.responses import StreamingResponse

T = TypeVar("T")

MEDIA_TYPE = "text/csv; charset=utf-8"
BOM = "\ufeff"
_FORMULA_START = ("=", "+", "-", "@", "\t", "\r")

Cell = str | int | bool | None


class Columns(Generic[T]):
    """A list's columns: a header and, per item, the cells in the same order."""

    def __init__(self, *columns: tuple[str, Callable[[T], Cell]]) -> None:
        self.header = [name for name, _ in columns]
        self._cells = [cell for _, cell in columns]

    def row(self, item: T) -> list[str]:
        return [neutralised(cell(item)) for cell in self._cells]


def neutralised(value: Cell) -> str:
    """A cell's text, with a leading apostrophe when a spreadsheet would read a formula."""
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return str(value)
    return "'" + value if value.startswith(_FORMULA_START) else value


def wants_csv(request: Request, format_: str | None) -> bool:
    """`format=csv`, or no `format` and an Accept header naming text/csv."""
    if format_ is not None:
        return format_ == "csv"
    accept = request.headers.get("accept", "")
    return any(part.split(";")[0].strip() == "text/csv" for part in accept.split(","))


def response(
    columns: Columns[T], pages: AsyncIterator[Sequence[T]], filename: str
) -> StreamingResponse:
    async def body() -> AsyncIterator[bytes]:
        buffer = io.StringIO()
        writer = csv.writer(buffer, lineterminator="\r\n")
        buffer.write(BOM)
        writer.writerow(columns.header)
        yield _take(buffer)
        async for page in pages:
            writer.writerows(columns.row(item) for item in page)
            yield _take(buffer)

    return StreamingResponse(
        body(),
        media_type=MEDIA_TYPE,
        headers={
            "content-disposition": f'attachment; filename="{filename}"',
            "cache-control": "no-store",
        },
    )


def _take(buffer: io.StringIO) -> bytes:
    text = buffer.getvalue()
    buffer.seek(0)
    buffer.truncate()
    return text.encode("utf-8")
