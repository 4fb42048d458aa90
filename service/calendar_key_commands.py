"""`agreements calendar-key`: issue, revoke and list the read-only keys of owners' calendar
feeds from the command line, as `POST`/`DELETE /owners/{owner_id}/calendar-keys` do over HTTP.

    agreements calendar-key issue OWNER_ID
    agreements calendar-key revoke OWNER_ID KEY_ID
    agreements calendar-key list [--owner OWNER_ID]

`issue` prints the key and the feed's path with it, once (only its sha256 is recorded); the
owner must be one the read models know (as `/owners/{owner_id}` answers: start the service, or
run `agreements rebuild`, after recording a new owner). `list` prints key ids, owners and
whether each is revoked, never a key. Exit status: 0 done, 1 no such owner or active key.
"""

from __future__ import annotations

import argparse
import sys
from typing import Any
from urllib.parse import quote

from events.store import EventStore, open_store
from service import calendar_keys
from service.cli_actor import cli_metadata
from service.settings import Settings


def add_calendar_key_commands(commands: Any, common: argparse.ArgumentParser) -> None:
    """Register `calendar-key issue|revoke|list` on the CLI's subparsers."""
    parser = commands.add_parser(
        "calendar-key", help="issue, revoke and list read-only keys of owners' calendar feeds"
    )
    actions = parser.add_subparsers(dest="calendar_key_command", required=True, metavar="ACTION")
    issue = actions.add_parser(
        "issue", parents=[common], help="a new key for one owner's feed, shown once"
    )
    issue.add_argument("owner_id", help="as in /owners/{owner_id}")
    issue.set_defaults(run=_issue)
    revoke = actions.add_parser("revoke", parents=[common], help="revoke a key at once")
    revoke.add_argument("owner_id")
    revoke.add_argument("key_id", help="the key's id (the 16 hex digits after `cal_`)")
    revoke.set_defaults(run=_revoke)
    listing = actions.add_parser(
        "list", parents=[common], help="key ids and owners (never the keys)"
    )
    listing.add_argument("--owner", help="only this owner's keys")
    listing.set_defaults(run=_list)


async def _issue(args: argparse.Namespace, settings: Settings) -> int:
    store = await open_store(settings.database_url)
    try:
        if not await _owner_known(store, settings, args.owner_id):
            print(
                f"agreements: no follow-up owner {args.owner_id!r} (as the read models know: "
                "start the service or run `agreements rebuild` after recording one)",
                file=sys.stderr,
            )
            return 1
        key_id, key = await calendar_keys.issue(
            store, args.owner_id, cli_metadata("agreements-cli calendar-key")
        )
    finally:
        await store.close()
    print(f"calendar key {key_id} for {args.owner_id}; it is shown only once:")
    print(key)
    print(f"feed: /owners/{quote(args.owner_id, safe='')}/calendar.ics?key={key}")
    return 0


async def _owner_known(store: EventStore, settings: Settings, owner_id: str) -> bool:
    from projections.setup import prepare_tables
    from service.app import default_projections

    await prepare_tables(store.engine)  # the tables exist even if no server ever ran here
    summary, _ = await default_projections(store, settings).get_owner(
        owner_id, today=settings.current_date()
    )
    return summary is not None


async def _revoke(args: argparse.Namespace, settings: Settings) -> int:
    store = await open_store(settings.database_url)
    try:
        revoked = await calendar_keys.revoke(
            store, args.owner_id, args.key_id, cli_metadata("agreements-cli calendar-key")
        )
    finally:
        await store.close()
    if not revoked:
        print(
            f"agreements: no active calendar key {args.key_id!r} for {args.owner_id!r}",
            file=sys.stderr,
        )
        return 1
    print(f"calendar key {args.key_id} revoked")
    return 0


async def _list(args: argparse.Namespace, settings: Settings) -> int:
    store = await open_store(settings.database_url)
    try:
        known = await calendar_keys.keys(store)
    finally:
        await store.close()
    for key in known.values():
        if args.owner is None or key.owner_id == args.owner:
            state = "revoked" if key.revoked else "active"
            print(f"{key.key_id}  {key.owner_id}  {state}")
    return 0
