"""`python -m benchmarks [--quick] [--only NAME[,NAME]] [--runs N] [--json FILE] [--keep]
[--log-events N]`."""

from __future__ import annotations

import argparse
import dataclasses
import shutil
import sys
import tempfile
import time
import traceback
from collections.abc import Awaitable, Callable
from pathlib import Path

import uvloop

from benchmarks import (
    as_of,
    http_load,
    live,
    machine,
    merkle,
    peer,
    proofs,
    rebuild,
    report,
    scale,
    search,
    store_appends,
    verify,
)
from benchmarks.context import FULL, QUICK, Context
from benchmarks.results import Row

Family = Callable[[Context], Awaitable[list[Row]]]

FAMILIES: dict[str, Family] = {
    "store": store_appends.sqlite_figures,
    "postgres": store_appends.postgres_figures,
    "http": http_load.figures,
    "live": live.figures,
    "rebuild": rebuild.figures,
    "as_of": as_of.figures,
    "verify": verify.figures,
    "proofs": proofs.figures,
    "scale": scale.figures,
    "merkle": merkle.figures,
    "peer": peer.figures,
    "search": search.figures,
}


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    names = _selected(args.only)
    scale = QUICK if args.quick else FULL
    if args.log_events is not None:
        scale = dataclasses.replace(scale, log_events=args.log_events)
    runs = args.runs or scale.runs
    workdir = Path(tempfile.mkdtemp(prefix="agreements-bench-"))
    ctx = Context(scale=scale, runs=runs, workdir=workdir, quick=args.quick)
    started = time.perf_counter()
    try:
        rows, failed = uvloop.run(_run(ctx, names))
    finally:
        if args.keep:
            print(f"kept the data in {workdir}", file=sys.stderr)
        else:
            shutil.rmtree(workdir, ignore_errors=True)
    seconds = time.perf_counter() - started
    described = machine.describe()
    report.print_table(rows, described, quick=args.quick, runs=runs)
    print(f"total {seconds:.0f} s", file=sys.stderr)
    if args.json:
        report.write_json(args.json, rows, described, quick=args.quick, runs=runs, seconds=seconds)
    return 1 if failed else 0


async def _run(ctx: Context, names: list[str]) -> tuple[list[Row], bool]:
    rows: list[Row] = []
    failed = False
    for name in names:
        ctx.say(f"== {name}")
        try:
            rows.extend(await FAMILIES[name](ctx))
        except Exception as error:
            traceback.print_exc()
            failed = True
            rows.append(
                Row(
                    key=f"{name}_failed",
                    title=f"{name} figures",
                    unit="",
                    skipped=f"failed: {type(error).__name__}: {error}",
                )
            )
    return rows, failed


def _selected(only: list[str] | None) -> list[str]:
    if not only:
        return list(FAMILIES)
    names = [name.strip() for item in only for name in item.split(",") if name.strip()]
    unknown = sorted(set(names) - set(FAMILIES))
    if unknown:
        raise SystemExit(f"unknown figure family {unknown}; choose from {sorted(FAMILIES)}")
    return names


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m benchmarks",
        description="Measure the store, the HTTP API and the projections against baselines "
        "measured in the same run; print a table of medians.",
    )
    parser.add_argument(
        "--quick", action="store_true", help="small smoke run (under a minute); no verdicts"
    )
    parser.add_argument(
        "--only",
        action="append",
        metavar="NAME",
        help=f"run only these families: {', '.join(FAMILIES)} (repeatable)",
    )
    parser.add_argument("--runs", type=int, help="runs per figure (default 5, quick 2)")
    parser.add_argument("--json", type=Path, metavar="FILE", help="also write results here")
    parser.add_argument("--keep", action="store_true", help="keep the temporary data")
    parser.add_argument(
        "--log-events",
        type=int,
        metavar="N",
        help="size of the big log (default 1,000,000; quick 20,000); the small log is a tenth",
    )
    return parser


if __name__ == "__main__":
    sys.exit(main())
