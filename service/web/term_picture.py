"""A partnership's life on one line: an SVG drawn on the server (no script, no library).

Business dates only (when things happened or are due, not when they were recorded: the
history below the picture has both): the signing, endorsements and witnesses, the owner's
assignment, amendments, each follow-up at its due date (open, overdue or closed), the end of
the term or the termination, and today. The axis runs from the signing to the latest of
those dates, with a tick at the start of each year (at most `MAX_TICKS`).
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from projections.partnership_view import Partnership
from projections.term import next_expiry

WIDTH = 960
LEFT, RIGHT = 24, 24
TOP = 12
ROW_HEIGHT = 13
MIN_GAP = 13
MAX_ROWS = 6
MAX_TICKS = 12
KINDS = (
    "announced",
    "signed",
    "endorsed",
    "witnessed",
    "owner",
    "amended",
    "due",
    "overdue",
    "closed",
    "end",
    "today",
)


@dataclass(frozen=True, slots=True)
class Mark:
    day: dt.date
    kind: str
    """A CSS class: signed, endorsed, witnessed, owner, amended, due, overdue, closed, end,
    today."""
    label: str
    x: float = 0.0
    row: int = 0
    """How far above the line (marks close together are stacked)."""


@dataclass(frozen=True, slots=True)
class Picture:
    marks: list[Mark]
    ticks: list[tuple[float, str]]
    width: int
    height: int
    line_y: int
    summary: str
    """The picture in words (its text alternative)."""
    kinds: list[str]
    """The kinds of marks it shows, in the legend's order."""


def _marks(p: Partnership, today: dt.date) -> list[Mark]:
    marks: list[Mark] = []
    if p.signed_on is not None:
        marks.append(Mark(p.signed_on, "signed", f"signed {p.signed_on.isoformat()}"))
    elif p.announced_on is not None:
        marks.append(Mark(p.announced_on, "announced", f"announced {p.announced_on.isoformat()}"))
    marks += [
        Mark(
            e.endorsed_on,
            "endorsed",
            f"endorsed by {e.endorser.name} {e.endorsed_on}"
            if e.endorser is not None
            else f"endorsed {e.endorsed_on}",
        )
        for e in p.endorsements
    ]
    marks += [
        Mark(w.witnessed_on, "witnessed", f"witnessed by {w.person.name} {w.witnessed_on}")
        for w in p.witnesses
    ]
    if p.owner is not None:
        marks.append(Mark(p.owner.since, "owner", f"owner since {p.owner.since}: {p.owner.unit}"))
    marks += [Mark(a.amended_on, "amended", f"amended {a.amended_on}") for a in p.amendments]
    for f in p.follow_ups:
        kind = "closed" if f.state != "open" else ("overdue" if f.due_on < today else "due")
        marks.append(Mark(f.due_on, kind, f"follow-up “{f.title}” due {f.due_on} ({f.state})"))
    if p.terminated_on is not None:
        marks.append(Mark(p.terminated_on, "end", f"terminated {p.terminated_on}"))
    else:
        ends = next_expiry(p, today)
        if ends is not None:
            marks.append(Mark(ends, "end", f"term ends {ends}"))
    marks.append(Mark(today, "today", f"today {today}"))
    return marks


def draw(p: Partnership, today: dt.date) -> Picture:
    marks = sorted(_marks(p, today), key=lambda m: m.day)
    start, end = marks[0].day, marks[-1].day
    span = max(1, (end - start).days)
    usable = WIDTH - LEFT - RIGHT

    def x_of(day: dt.date) -> float:
        return round(LEFT + usable * (day - start).days / span, 1)

    # Marks closer than MIN_GAP stack upwards (a signing, its endorsements and the owner's
    # assignment often share a day), at most MAX_ROWS high.
    placed: list[Mark] = []
    for mark in marks:
        x = x_of(mark.day)
        near = sum(1 for other in placed if x - other.x < MIN_GAP)
        placed.append(Mark(mark.day, mark.kind, mark.label, x, min(near, MAX_ROWS - 1)))
    line_y = TOP + ROW_HEIGHT * max(m.row for m in placed)
    years = range(start.year + 1, end.year + 1)
    step = max(1, len(years) // MAX_TICKS + (1 if len(years) % MAX_TICKS else 0))
    ticks = [(x_of(dt.date(year, 1, 1)), str(year)) for year in years[::step]]
    counts: dict[str, int] = {}
    for mark in marks:
        counts[mark.kind] = counts.get(mark.kind, 0) + 1
    due = counts.get("due", 0) + counts.get("overdue", 0)
    summary = (
        f"From the signing on {start.isoformat()} to {end.isoformat()}: "
        f"{due} open follow-up{'s' if due != 1 else ''} ahead or overdue "
        f"({counts.get('overdue', 0)} overdue), {counts.get('closed', 0)} closed"
    )
    kinds = list(dict.fromkeys(m.kind for m in sorted(placed, key=lambda m: KINDS.index(m.kind))))
    return Picture(placed, ticks, WIDTH, line_y + 28, line_y, summary, kinds)
