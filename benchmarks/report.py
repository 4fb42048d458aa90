"""The table of medians (rich) and the JSON record of a run."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.table import Table

from benchmarks.results import Row

_EXTRA_LABELS = {
    "events_per_commit": "{:,.0f} events/commit",
    "p50_ms": "p50 {:.2f} ms",
    "p99_ms": "p99 {:.2f} ms",
    "peak_mb": "peak {:,.0f} MB",
    "errors": "{:,.0f} non-2xx",
    "middle_ms": "cut mid-stream {:.2f} ms",
    "baseline_p99_ms": "baseline p99 {:.2f} ms",
    "catch_up_s": "projections caught up {:.1f} s after",
    "seconds": "{:.1f} s a pass",
    "baseline_peak_mb": "baseline peak {:,.0f} MB",
}


def render(rows: list[Row], machine: dict[str, str], *, quick: bool, runs: int) -> Table:
    mode = "quick smoke run: numbers are not a verdict" if quick else f"medians of {runs} runs"
    table = Table(
        title=f"Benchmarks ({mode})",
        caption=(
            f"{machine['cpus']} x {machine['cpu_model']} · Python {machine['python']} · "
            f"SQLite {machine['sqlite']}"
        ),
        show_lines=False,
    )
    table.add_column("figure")
    table.add_column("median", justify="right")
    table.add_column("baseline (same run)", justify="right")
    table.add_column("ratio", justify="right")
    table.add_column("target")
    table.add_column("verdict")
    table.add_column("details")
    for row in rows:
        table.add_row(*_cells(row, quick))
    return table


def _cells(row: Row, quick: bool) -> list[str]:
    if row.skipped is not None:
        targets = ", ".join(c.label for c in row.checks) or "—"
        return [_figure(row), "—", "—", "—", targets, "[yellow]not measured[/]", row.skipped]
    base = row.baseline_median
    baseline = "—" if base is None else f"{_number(base)} {row.unit}\n{row.baseline}"
    ratio = "—" if row.ratio is None else f"{row.ratio:.2f}x"
    verdicts = row.verdicts()
    if not verdicts:
        verdict = "—"
    elif quick:
        verdict = "(quick)"
    else:
        verdict = " ".join(
            "[green]met[/]" if met else "[yellow]?[/]" if met is None else "[red]MISSED[/]"
            for _, met in verdicts
        )
    details = [_EXTRA_LABELS.get(k, k + " {:.2f}").format(row.extra(k)) for k in row.extras]
    details += row.notes
    return [
        _figure(row),
        "—" if row.median is None else f"{_number(row.median)} {row.unit}",
        baseline,
        ratio,
        ", ".join(c.label for c in row.checks) or "—",
        verdict,
        "; ".join(details),
    ]


def _figure(row: Row) -> str:
    """The title, and the key that names the figure in the JSON."""
    return f"{row.title}\n[dim]{row.key}[/]"


def _number(value: float) -> str:
    return f"{value:,.0f}" if value >= 100 else f"{value:,.2f}"


def print_table(rows: list[Row], machine: dict[str, str], *, quick: bool, runs: int) -> None:
    Console(width=200).print(render(rows, machine, quick=quick, runs=runs))


def write_json(
    path: Path,
    rows: list[Row],
    machine: dict[str, str],
    *,
    quick: bool,
    runs: int,
    seconds: float,
) -> None:
    document: dict[str, Any] = {
        "mode": "quick" if quick else "full",
        "runs": runs,
        "seconds": round(seconds, 1),
        "machine": machine,
        "figures": [row.to_json() for row in rows],
    }
    path.write_text(json.dumps(document, indent=2) + "\n")
