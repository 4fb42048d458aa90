"""The log as JSON Lines: one event a line, in position order, in the API's event shape.

`data` and `metadata` are written as the exact stored bytes and read back as the exact bytes
of the file, so an export verifies offline with `verify_chain(read_jsonl(f))` and nothing
else. The file must therefore be kept byte for byte: re-indenting or re-encoding a line's
`data` changes its hash, which is the point.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from typing import IO

import msgspec

from events.envelope import RecordedEvent

_encoder = msgspec.json.Encoder()
_decoder = msgspec.json.Decoder(RecordedEvent)


class ExportFormatError(ValueError):
    """A line of an export is not an event; `line` is 1-based."""

    def __init__(self, line: int, detail: str) -> None:
        self.line = line
        self.detail = detail
        super().__init__(f"line {line}: {detail}")


def write_jsonl(events: Iterable[RecordedEvent], fileobj: IO[bytes]) -> int:
    """Write events one a line; returns how many were written."""
    count = 0
    buffer = bytearray()
    for event in events:
        _encoder.encode_into(event, buffer, -1)
        buffer += b"\n"
        count += 1
        if len(buffer) >= 1 << 20:
            fileobj.write(buffer)
            buffer.clear()
    fileobj.write(buffer)
    return count


def read_jsonl(fileobj: Iterable[bytes]) -> Iterator[RecordedEvent]:
    """Yield the events of an export (a binary file or any iterable of lines).

    Blank lines are skipped; anything else that is not an event raises ExportFormatError.
    """
    for number, line in enumerate(fileobj, start=1):
        if not line.strip():
            continue
        try:
            yield _decoder.decode(line)
        except msgspec.ValidationError as error:
            raise ExportFormatError(number, f"not an event: {error}") from None
        except msgspec.DecodeError as error:
            raise ExportFormatError(number, f"not valid JSON: {error}") from None
