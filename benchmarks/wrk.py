"""Drive a server with `wrk` (a real load generator, in C, on its own threads) and read back
throughput, latency percentiles and errors."""

from __future__ import annotations

import asyncio
import re
import shutil
from dataclasses import dataclass
from pathlib import Path

INSTALL_HINT = "wrk not found: install it with `apt-get install -y wrk` (Debian/Ubuntu)"

_UNITS = {"us": 0.001, "ms": 1.0, "s": 1000.0, "m": 60_000.0}


def missing() -> str | None:
    return None if shutil.which("wrk") else INSTALL_HINT


@dataclass(frozen=True, slots=True)
class WrkResult:
    requests_per_s: float
    requests: int
    p50_ms: float
    p99_ms: float
    non_2xx: int
    socket_errors: int
    output: str


async def run(
    url: str, script: Path, *, connections: int, seconds: float, threads: int = 2
) -> WrkResult:
    process = await asyncio.create_subprocess_exec(
        "wrk",
        f"-t{threads}",
        f"-c{connections}",
        f"-d{max(1, round(seconds))}s",
        "--timeout",
        "10s",
        "--latency",
        "-s",
        str(script),
        url,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.STDOUT,
    )
    out, _ = await process.communicate()
    text = out.decode(errors="replace")
    if process.returncode != 0:
        raise RuntimeError(f"wrk failed ({process.returncode}):\n{text}")
    return parse(text)


def parse(text: str) -> WrkResult:
    rate = re.search(r"Requests/sec:\s+([\d.]+)", text)
    total = re.search(r"(\d+) requests in", text)
    if rate is None or total is None:
        raise RuntimeError(f"cannot read wrk's output:\n{text}")
    non_2xx = re.search(r"Non-2xx or 3xx responses:\s+(\d+)", text)
    sockets = re.search(
        r"Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)", text
    )
    return WrkResult(
        requests_per_s=float(rate[1]),
        requests=int(total[1]),
        p50_ms=_percentile(text, "50"),
        p99_ms=_percentile(text, "99"),
        non_2xx=int(non_2xx[1]) if non_2xx else 0,
        socket_errors=sum(int(n) for n in sockets.groups()) if sockets else 0,
        output=text,
    )


def _percentile(text: str, which: str) -> float:
    found = re.search(rf"^\s+{which}%\s+([\d.]+)(us|ms|s|m)\s*$", text, re.MULTILINE)
    if found is None:
        raise RuntimeError(f"no {which}th percentile in wrk's output:\n{text}")
    return float(found[1]) * _UNITS[found[2]]


def post_script(token: str, streams: int, salt: int, body_prefix: str, body_suffix: str) -> str:
    """Lua for wrk: single-event appends spread over `streams` streams, each with a unique
    event id (salt, wrk thread, counter), so every request is a new event."""
    return f"""
wrk.method = "POST"
wrk.headers["Content-Type"] = "application/json"
wrk.headers["Authorization"] = "Bearer {token}"
local prefix = [==[{body_prefix}]==]
local suffix = [==[{body_suffix}]==]
local counter = 0
local threads = 0
function setup(thread)
  threads = threads + 1
  thread:set("tid", threads)
end
function request()
  counter = counter + 1
  local stream = (counter * 131 + tid * 17) % {streams}
  local id = string.format("%08x-%04x-4000-8000-%012x", {salt}, tid, counter)
  return wrk.format(nil, "/streams/agreement-post-" .. stream .. "/events", nil,
                    prefix .. id .. suffix)
end
"""


def get_script(token: str, path_prefix: str, ids: int) -> str:
    """Lua for wrk: GETs rotating over `ids` documents."""
    return f"""
wrk.headers["Authorization"] = "Bearer {token}"
local counter = 0
function request()
  counter = counter + 1
  return wrk.format("GET", "{path_prefix}" .. (counter % {ids}))
end
"""
