"""Noticing, on a request's own path, that another process changed the token stream (SQLite).

Several processes may serve one SQLite file (`serve --workers N`, the `agreements token` CLI
beside a running server), and none of them hears the others' commits. Asking the database on
every request would put a query on the path every request takes; instead `PRAGMA
data_version`, which SQLite answers from shared memory, says whether any other connection
has committed since it was last asked. Only then is the token stream's version read (one
indexed row), and only if that moved does the token table re-read the stream. Both run on
the caller's thread: a few microseconds, less than a hop to a driver's worker thread.

PostgreSQL needs none of this: every instance hears every commit through LISTEN/NOTIFY.
"""

from __future__ import annotations

import logging
import sqlite3

log = logging.getLogger(__name__)

_BUSY_TIMEOUT = 0.05
"""Seconds to wait for a lock: a WAL reader only waits during a recovery, which is rare."""


class SqliteStreamVersion:
    """The version of one stream as the file holds it now, re-read only after another
    connection's commit. Used from one thread (the event loop's)."""

    def __init__(self, database: str, stream_id: str) -> None:
        self._connection = sqlite3.connect(database, timeout=_BUSY_TIMEOUT, isolation_level=None)
        self._stream_id = stream_id
        self._data_version: int | None = None

    def moved_from(self, version: int) -> bool:
        """Whether the stream's version may differ from `version` (True when unsure)."""
        try:
            (data_version,) = self._connection.execute("PRAGMA data_version").fetchone()
            if data_version == self._data_version:
                return False
            row = self._connection.execute(
                "SELECT version FROM streams WHERE stream_id = ?", (self._stream_id,)
            ).fetchone()
        except sqlite3.Error as error:
            log.warning("could not check the token stream's version: %s", error)
            return True
        self._data_version = data_version
        return (row[0] if row is not None else 0) != version

    def close(self) -> None:
        self._connection.close()
