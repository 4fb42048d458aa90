"""Every PostgreSQL advisory-lock key and NOTIFY channel the application uses, in one place.

Advisory-lock keys share one key space per database (and with any other application on it),
so they are listed together to keep them distinct; channels likewise. SQLite needs none of
these: its single writer lock and in-process listeners do the same work.
"""

from __future__ import annotations

LOG_LOCK = 0x61677230
"""Serializes appends to the log across instances (`events._writer`, per transaction)."""
MIGRATION_LOCK = 0x61677231
"""Serializes the log's schema migrations when several instances start at once."""

PROJECTION_APPLY_LOCK = 0x61677265_656D0001
"""Held (per session) by the one instance applying the log to the projections
(`projections._lease`)."""
PROJECTION_REBUILD_LOCK = 0x61677265_656D0002
"""One projection rebuild at a time per database (`projections.rebuild`)."""
PROJECTION_SCHEMA_LOCK = 0x61677265_656D0003
"""Creating the projection tables when several instances start at once (`projections.setup`)."""

LOG_CHANNEL = "agreements_log"
"""NOTIFY with the new head after each committed append (`events._notifications`)."""
PROJECTIONS_CHANNEL = "agreements_projections"
"""NOTIFY with the new checkpoint after each applied projection batch (`projections._lease`)."""
