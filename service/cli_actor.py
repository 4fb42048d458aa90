"""Who a command-line tool records as the actor of what it appends: the operating-system user,
so the log says which operator ran `agreements erase` or `token create`, and which tool."""

from __future__ import annotations

import getpass

from events.envelope import Metadata


def cli_metadata(tool: str = "agreements-cli") -> Metadata:
    """`cli:<user>` as the actor, `tool` as the user agent."""
    try:
        user = getpass.getuser()
    except (KeyError, OSError):  # no name for this uid (a container's bare user)
        user = "unknown"
    return Metadata(actor=f"cli:{user}", user_agent=tool)
