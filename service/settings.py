"""The service's settings: environment first, command-line overrides on top.

Every limit the HTTP layer enforces lives here, so that it is documented once and a test can
set it at, and past, its value. "Today" (which follow-ups are overdue) is the date in the
agency's time zone, not the server's: for the Tokyo office a follow-up due today is not overdue
at 09:00 local time. `today` and `clock` let tests fix it.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import os
import zoneinfo
from collections.abc import Callable, Mapping
from typing import Any

from events.database import database_url as _resolve_database_url
from events.rules import DocumentLimits

MiB = 1024 * 1024


def utc_now() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


def date_in_zone(instant: dt.datetime, zone: str) -> dt.date:
    """The calendar date at `instant` in the IANA time zone `zone`."""
    return instant.astimezone(zoneinfo.ZoneInfo(zone)).date()


def time_zone(raw: str) -> str:
    """An IANA time zone name, checked now: a typo must stop the start, not skew "today"."""
    name = raw.strip()
    try:
        zoneinfo.ZoneInfo(name)
    except (zoneinfo.ZoneInfoNotFoundError, ValueError) as error:
        raise ValueError(f"AGREEMENTS_TIME_ZONE: unknown time zone {raw!r}") from error
    return name


def print_bootstrap_token(secret: str) -> None:
    """Shown once, on the first start of an empty register: there is no other way to get it."""
    print(
        "No API tokens exist yet: created an admin token. It is shown only this once:\n"
        f"    {secret}\n"
        "Create more with `agreements token create --role ROLE --name NAME`.",
        flush=True,
    )


@dataclasses.dataclass(frozen=True, kw_only=True)
class Settings:
    database_url: str
    max_body_bytes: int = MiB
    """Request bodies beyond this are refused with 413, whatever Content-Length says."""
    max_events_per_batch: int = 500
    """More events than this in one append is a 422."""
    max_wait_seconds: float = 10.0
    """Longest a projection read waits for `wait_for_position`."""
    max_log_limit: int = 1000
    """`GET /events` and `GET /streams/{id}/events` pages are capped at this many events."""
    max_history_limit: int = 1000
    """`GET /partnerships/{id}/history` pages are capped at this many changes."""
    max_witnesses: int = 200
    """Witnesses an agreement may hold; one more is refused (422 `too_many_witnesses`)."""
    max_endorsements: int = 200
    """Endorsements an agreement may hold (422 `too_many_endorsements`)."""
    max_follow_ups: int = 200
    """Follow-ups, open or closed, an agreement may hold (422 `too_many_follow_ups`)."""
    max_amendments: int = 200
    """Amendments an agreement may hold (422 `too_many_amendments`)."""
    token_refresh_seconds: float = 1.0
    """How often the token table looks for tokens issued or revoked by another process."""
    bootstrap_admin_token: bool = True
    """On first start with no tokens, create an admin token and hand it to `announce_token`."""
    announce_token: Callable[[str], None] = print_bootstrap_token
    time_zone: str = "UTC"
    """The agency's IANA time zone (e.g. `Asia/Tokyo`): "today" and overdue are judged in it."""
    today: Callable[[], dt.date] | None = None
    """Fixes "today" (tests, replays); None: the date in `time_zone` by `clock`."""
    clock: Callable[[], dt.datetime] = utc_now
    start_projections: bool = True
    """False for one-shot commands that must not run the projection runner."""
    pool_size: int = 10
    """Database connections each process keeps open (PostgreSQL and SQLite alike)."""
    pool_max_overflow: int = 10
    """Connections opened beyond `pool_size` under load, closed again when returned."""
    pool_timeout: float = 10.0
    """Seconds a request waits for a free connection (or for PostgreSQL to accept a new one)
    before it fails with 503."""
    statement_timeout_ms: int = 15_000
    """PostgreSQL cancels any statement running longer (a stuck lock or query becomes a 503,
    not a hung request). SQLite has no such limit."""
    projection_batch_size: int = 1000
    """Most events the projection runner applies in one transaction."""
    max_query_parameters: int = 100
    """More query parameters than this in one request is a 422, refused before any is read."""
    cache_entries: int = 10_000
    """Most documents, and most whole answers, the read cache holds (least recently used go
    first): lookups of ids that do not exist cannot grow it."""
    max_concurrent_replays: int = 2
    """As-of reads that replay the log at once in this process; more wait for a turn."""
    replay_wait_seconds: float = 10.0
    """Longest an as-of read waits for a turn to replay before it is answered 503."""
    replay_cache_entries: int = 4
    """As-of states kept in memory, by the log position they reflect."""
    max_header_bytes: int = 32 * 1024
    """Request line plus headers beyond this are answered 431 and the connection closed."""
    header_timeout_seconds: float = 10.0
    """A connection that has not sent a whole request head by then is closed."""
    keep_alive_timeout_seconds: float = 5.0
    """An idle keep-alive connection is closed after this long."""
    body_timeout_seconds: float = 30.0
    """A request body not received whole by then is answered 408 and the connection closed."""
    max_connections: int = 1000
    """Connections (or requests in progress) past this are answered 503 at once."""
    trusted_proxies: str = ""
    """Comma-separated addresses (or `*`) of reverse proxies whose `X-Forwarded-For` and
    `X-Forwarded-Proto` name the client; from anyone else they are ignored."""
    owner_follow_ups_shown: int = 100
    """Open (and overdue) follow-ups an owner's document lists; all are counted."""
    access_log: bool = False
    """Record every authenticated request (token, route, status, client) in the security
    log, not only the refused ones."""

    max_subscribers: int = 100
    """Open live subscriptions (`/events/live`, `/live`) per process; past it 503."""
    live_heartbeat_seconds: float = 15.0
    """A comment line goes to every live subscriber at least this often (proxies drop idle
    connections)."""
    live_max_lag: int = 5000
    """Events a live subscriber may fall behind the head before it is told `overflow` and
    closed (it reconnects from its last id and catches up from the log)."""
    live_send_timeout_seconds: float = 60.0
    """A live stream whose client takes no data for this long is closed."""

    def __post_init__(self) -> None:
        time_zone(self.time_zone)

    def current_date(self) -> dt.date:
        """Today in the agency's time zone: the date that decides which follow-ups are overdue."""
        if self.today is not None:
            return self.today()
        return date_in_zone(self.clock(), self.time_zone)

    def document_limits(self) -> DocumentLimits:
        """The caps on an agreement's lists, for `open_store`."""
        return DocumentLimits(
            witnesses=self.max_witnesses,
            endorsements=self.max_endorsements,
            follow_ups=self.max_follow_ups,
            amendments=self.max_amendments,
        )

    def engine_settings(self) -> dict[str, Any]:
        """Keyword arguments for `open_store` / `events.database.create_engine`."""
        return {
            "pool_size": self.pool_size,
            "max_overflow": self.pool_max_overflow,
            "pool_timeout": self.pool_timeout,
            "statement_timeout_ms": self.statement_timeout_ms,
        }

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None, **overrides: Any) -> Settings:
        """Settings from `AGREEMENTS_*` variables; keyword overrides (CLI flags) win.

        An override of None means "not given" and leaves the environment's value.
        """
        env = os.environ if env is None else env
        values: dict[str, Any] = {}
        for name, convert in _FROM_ENV.items():
            raw = env.get(f"AGREEMENTS_{name.upper()}")
            if raw is not None and raw != "":
                values[name] = convert(raw)
        values.update({k: v for k, v in overrides.items() if v is not None})
        explicit_url = values.pop("database_url", None) or env.get("AGREEMENTS_DATABASE_URL")
        return cls(database_url=_resolve_database_url(explicit_url or None), **values)


_FROM_ENV: dict[str, Callable[[str], Any]] = {
    "max_body_bytes": int,
    "max_events_per_batch": int,
    "max_wait_seconds": float,
    "max_log_limit": int,
    "max_history_limit": int,
    "max_witnesses": int,
    "max_endorsements": int,
    "max_follow_ups": int,
    "max_amendments": int,
    "token_refresh_seconds": float,
    "pool_size": int,
    "pool_max_overflow": int,
    "pool_timeout": float,
    "statement_timeout_ms": int,
    "projection_batch_size": int,
    "max_query_parameters": int,
    "cache_entries": int,
    "max_concurrent_replays": int,
    "replay_wait_seconds": float,
    "replay_cache_entries": int,
    "max_header_bytes": int,
    "header_timeout_seconds": float,
    "keep_alive_timeout_seconds": float,
    "body_timeout_seconds": float,
    "max_connections": int,
    "trusted_proxies": str,
    "access_log": lambda raw: raw.strip().lower() in ("1", "true", "yes", "on"),
    "owner_follow_ups_shown": int,
    "max_subscribers": int,
    "live_heartbeat_seconds": float,
    "live_max_lag": int,
    "live_send_timeout_seconds": float,
    "time_zone": time_zone,
}
