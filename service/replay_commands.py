"""`agreements replay`: the state of the register as it was, printed or written as JSON.

Three ways to cut the past (they combine):
- `--position P`: right after log position P;
- `--known-at T`: what the system knew at record time T (RFC 3339);
- `--in-force-on D`: what had happened by business date D, as far as the log knows now.
"""

from __future__ import annotations

import argparse
import asyncio
import datetime as dt
import sys
from pathlib import Path
from typing import Any

import msgspec

from events.store import open_store
from projections import partnership_view
from projections.as_of import Cut, picture_at
from projections.owner_view import owner_rows, summarize_owners
from projections.reader import stream_id
from service.settings import Settings

_encode = msgspec.json.Encoder().encode


def add_replay_command(commands: Any, common: argparse.ArgumentParser) -> None:
    replay = commands.add_parser(
        "replay", parents=[common], help="the register as it was at a position, time or date"
    )
    replay.add_argument("--position", type=int, help="state right after this log position")
    replay.add_argument("--known-at", type=_instant, help="record time (RFC 3339, UTC)")
    replay.add_argument("--in-force-on", type=dt.date.fromisoformat, help="business date")
    replay.add_argument("--partnership", help="only this agreement (id, with or without prefix)")
    replay.add_argument("--today", type=dt.date.fromisoformat, help="judge overdue against this")
    replay.add_argument("--output", "-o", help="file to write (default: standard output)")
    replay.set_defaults(run=replay_command)


async def replay_command(args: argparse.Namespace, settings: Settings) -> int:
    cut = Cut(position=args.position, recorded_at=args.known_at, in_force_on=args.in_force_on)
    store = await open_store(settings.database_url, read_only=True)
    try:
        picture = await picture_at(store, cut)
    finally:
        await store.close()
    today = args.today or settings.current_date()
    document: dict[str, Any] = {"position": picture.position}
    if args.partnership:
        found = picture.partnerships.get(stream_id(partnership_view.CATEGORY, args.partnership))
        if found is None:
            print(f"no partnership {args.partnership!r} at that point", file=sys.stderr)
            return 1
        document["partnership"] = found
    else:
        partnerships = sorted(picture.partnerships.values(), key=lambda p: p.agreement_id)
        rows = [row for p in partnerships for row in owner_rows(p)]
        document["partnerships"] = partnerships
        document["owners"] = summarize_owners(rows, today)
        document["delegations"] = sorted(
            picture.delegations.values(), key=lambda d: d.delegation_id
        )
    encoded = _encode(document) + b"\n"
    if args.output:
        await asyncio.to_thread(Path(args.output).write_bytes, encoded)
    else:
        sys.stdout.buffer.write(encoded)
    return 0


def _instant(text: str) -> dt.datetime:
    moment = dt.datetime.fromisoformat(text.replace("Z", "+00:00"))
    return moment if moment.tzinfo else moment.replace(tzinfo=dt.UTC)
