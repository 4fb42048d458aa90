"""What a figure produces: samples of one run each, the baseline's, and the targets to check."""

from __future__ import annotations

import statistics
from dataclasses import dataclass, field
from typing import Any


@dataclass(frozen=True, slots=True)
class Check:
    """A target: `metric` ("ratio", "median" or an extra's name) at least, or at most, `limit`."""

    label: str
    metric: str
    limit: float
    at_most: bool = False


@dataclass(slots=True)
class Row:
    key: str
    title: str
    unit: str
    samples: list[float] = field(default_factory=list)
    baseline: str | None = None
    baseline_samples: list[float] = field(default_factory=list)
    checks: list[Check] = field(default_factory=list)
    extras: dict[str, list[float]] = field(default_factory=dict)
    """Secondary metrics per run (e.g. `p99_ms`, `peak_mb`), reported as medians."""
    notes: list[str] = field(default_factory=list)
    skipped: str | None = None
    """Why the figure was not measured (a missing tool, an unreachable database...)."""

    def add_extra(self, name: str, value: float) -> None:
        self.extras.setdefault(name, []).append(value)

    @property
    def median(self) -> float | None:
        return statistics.median(self.samples) if self.samples else None

    @property
    def baseline_median(self) -> float | None:
        return statistics.median(self.baseline_samples) if self.baseline_samples else None

    @property
    def ratio(self) -> float | None:
        value, base = self.median, self.baseline_median
        if value is None or not base:
            return None
        return value / base

    def extra(self, name: str) -> float | None:
        values = self.extras.get(name)
        return statistics.median(values) if values else None

    def metric(self, name: str) -> float | None:
        if name == "ratio":
            return self.ratio
        if name == "median":
            return self.median
        return self.extra(name)

    def verdicts(self) -> list[tuple[Check, bool | None]]:
        """Each check with True (met), False (missed) or None (not measured)."""
        out: list[tuple[Check, bool | None]] = []
        for check in self.checks:
            value = self.metric(check.metric)
            met = (
                None
                if value is None
                else (value <= check.limit if check.at_most else value >= check.limit)
            )
            out.append((check, met))
        return out

    def to_json(self) -> dict[str, Any]:
        return {
            "key": self.key,
            "title": self.title,
            "unit": self.unit,
            "median": self.median,
            "samples": self.samples,
            "baseline": self.baseline,
            "baseline_median": self.baseline_median,
            "baseline_samples": self.baseline_samples,
            "ratio": self.ratio,
            "extras": {name: self.extra(name) for name in self.extras},
            "extra_samples": self.extras,
            "checks": [
                {
                    "label": c.label,
                    "metric": c.metric,
                    "limit": c.limit,
                    "at_most": c.at_most,
                    "met": met,
                }
                for c, met in self.verdicts()
            ],
            "notes": self.notes,
            "skipped": self.skipped,
        }


def skipped(key: str, title: str, unit: str, reason: str, checks: list[Check] | None = None) -> Row:
    return Row(key=key, title=title, unit=unit, skipped=reason, checks=checks or [])
