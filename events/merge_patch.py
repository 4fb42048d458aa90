"""JSON Merge Patch (RFC 7396): how `EventCorrected.changes` applies to the data it corrects.

A patch is a JSON object; each member replaces the target's member of that name, `null`
removes it, and an object value is merged into the target's member recursively. Arrays and
scalars are replaced whole. The corrected event's stored bytes never change: the patch is
applied when the event is read for folding, from the correction's position on.
"""

from __future__ import annotations

from typing import Any


def apply_merge_patch(target: Any, patch: Any) -> Any:
    """The result of applying `patch` to `target` (neither is modified)."""
    if not isinstance(patch, dict):
        return patch
    result: dict[str, Any] = dict(target) if isinstance(target, dict) else {}
    for name, value in patch.items():
        if value is None:
            result.pop(name, None)
        else:
            result[name] = apply_merge_patch(result.get(name), value)
    return result
