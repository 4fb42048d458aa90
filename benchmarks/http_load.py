"""The HTTP figures: the service under uvicorn next to bare Starlette, driven by wrk.

Both servers run as subprocesses with the same uvicorn settings (see `benchmarks.serve`) on
127.0.0.1, on a SQLite file seeded beforehand through the store: 64 signed agreements to
append notes to, 100 agreements of 20 events to read, and a recorder token. The runs of the
two servers alternate. After each run of appends, the next waits until the projections have
caught up (how long that took is reported), so runs start from the same state.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import socket
import sys
import time
import urllib.error
import urllib.request
import uuid
from collections.abc import AsyncIterator
from pathlib import Path

import msgspec

from benchmarks import baselines, data, wrk
from benchmarks.context import Context
from benchmarks.results import Check, Row, skipped
from events.store import open_store

POST_STREAMS, READ_STREAMS, READ_EVENTS = 64, 100, 20
POST_CONNECTIONS, GET_CONNECTIONS = 64, 50
_ROOT = Path(__file__).resolve().parent.parent
_NOTE = (
    '","type":"NoteAttached","occurred_at":"2023-01-05T09:00:00Z","data":{"text":"Minutes of '
    "the steering committee: milestones reviewed, researchers exchanged, next meeting in Tokyo "
    'in spring.","link":"https://example.org/minutes/steering"}}],"expected_version":"any"}'
)


def _rows() -> tuple[Row, Row]:
    get = Row(
        key="http_get_partnership",
        title=f"GET /partnerships/{{id}}, {GET_CONNECTIONS} connections",
        unit="req/s",
        baseline="bare Starlette GET, msgspec encode of the same JSON",
        checks=[
            Check("≥ 0.6x baseline", "ratio", 0.6),
            Check("p99 < 10 ms", "p99_ms", 10.0, at_most=True),
        ],
        notes=[f"{READ_STREAMS} partnerships of {READ_EVENTS} events, rotating"],
    )
    post = Row(
        key="http_append_single",
        title=f"single-event HTTP appends, {POST_CONNECTIONS} connections, durable",
        unit="req/s",
        baseline="bare Starlette POST, msgspec decode, no I/O",
        checks=[Check("≥ 0.35x baseline", "ratio", 0.35)],
        notes=[
            f"unique event ids over {POST_STREAMS} streams; synchronous=FULL; projections running"
        ],
    )
    return get, post


async def figures(ctx: Context) -> list[Row]:
    get, post = _rows()
    problem = wrk.missing() or _service_missing()
    if problem is not None:
        return [skipped(r.key, r.title, r.unit, problem, r.checks) for r in (get, post)]
    db = ctx.path("http.db")
    url = baselines.sqlite_url(db)
    token = await _seed(url)
    scripts = _scripts(ctx, token)
    seconds = ctx.scale.http_seconds
    async with _server(ctx, "service", url) as service:
        last = f"{service}/partnerships/{data.stream_id('read', READ_STREAMS - 1)}"
        await _until_ok(last, token, what="the projections to catch up with the seed")
        doc = ctx.path("partnership.json")
        doc.write_bytes(
            (await _request("GET", f"{service}/partnerships/{data.stream_id('read', 0)}", token))[1]
        )
        async with _server(ctx, "bare", None, {"AGREEMENTS_BENCH_DOC": str(doc)}) as bare:
            ctx.say(f"{get.title}: {seconds:.0f} s x {ctx.runs} runs per server")
            for _ in range(ctx.runs):
                base = await wrk.run(
                    bare, scripts["get"], connections=GET_CONNECTIONS, seconds=seconds
                )
                real = await wrk.run(
                    service, scripts["get"], connections=GET_CONNECTIONS, seconds=seconds
                )
                _record(get, base, real)
            ctx.say(f"{post.title}: {seconds:.0f} s x {ctx.runs} runs per server")
            for run in range(ctx.runs):
                base = await wrk.run(
                    bare, scripts["post-bare"], connections=POST_CONNECTIONS, seconds=seconds
                )
                real = await wrk.run(
                    service, scripts[f"post-{run}"], connections=POST_CONNECTIONS, seconds=seconds
                )
                _record(post, base, real)
                post.add_extra("catch_up_s", await _settle(service, token))
    return [get, post]


def _service_missing() -> str | None:
    try:
        import service.app  # noqa: F401
    except ImportError as error:
        return f"service.app is not importable yet ({error})"
    return None


def _record(row: Row, base: wrk.WrkResult, real: wrk.WrkResult) -> None:
    row.baseline_samples.append(base.requests_per_s)
    row.samples.append(real.requests_per_s)
    row.add_extra("p50_ms", real.p50_ms)
    row.add_extra("p99_ms", real.p99_ms)
    row.add_extra("baseline_p99_ms", base.p99_ms)
    row.add_extra("errors", real.non_2xx + real.socket_errors)


def _scripts(ctx: Context, token: str) -> dict[str, Path]:
    texts = {
        "get": wrk.get_script(token, f"/partnerships/{data.stream_id('read', '')}", READ_STREAMS),
        "post-bare": wrk.post_script(
            token, POST_STREAMS, 0xFFFF, '{"events":[{"event_id":"', _NOTE
        ),
    }
    for run in range(ctx.runs):
        texts[f"post-{run}"] = wrk.post_script(
            token, POST_STREAMS, run, '{"events":[{"event_id":"', _NOTE
        )
    paths = {}
    for name, text in texts.items():
        paths[name] = ctx.path(f"{name}.lua")
        paths[name].write_text(text)
    return paths


async def _seed(url: str) -> str:
    """Agreements to append to and to read, and a recorder token; returns the token."""
    from service.tokens import TokenTable

    store = await open_store(url)
    try:
        await asyncio.gather(
            *(
                store.append(
                    data.stream_id("post", n), data.proposed(n, 1, 1), metadata=data.METADATA
                )
                for n in range(POST_STREAMS)
            ),
            *(
                store.append(
                    data.stream_id("read", n),
                    data.proposed(n, 1, READ_EVENTS),
                    metadata=data.METADATA,
                )
                for n in range(READ_STREAMS)
            ),
        )
        issued = await TokenTable(store).issue(
            name="bench", role="recorder", metadata=data.METADATA
        )
        return issued.secret
    finally:
        await store.close()


async def _settle(service: str, token: str) -> float:
    """Seconds until the projections reflect the last append (read-your-writes)."""
    started = time.perf_counter()
    body = ('{"events":[{"event_id":"' + str(uuid.uuid4()) + _NOTE).encode()
    status, answer = await _request(
        "POST", f"{service}/streams/{data.stream_id('post', 0)}/events", token, body
    )
    if status not in (200, 201):
        raise RuntimeError(f"append after the run failed: {status} {answer[:300]!r}")
    position = msgspec.json.decode(answer)["to_position"]
    wanted = f"{service}/partnerships/{data.stream_id('post', 0)}?wait_for_position={position}"
    while time.perf_counter() - started < 300:
        status, answer = await _request("GET", wanted, token)
        if status == 200 and msgspec.json.decode(answer)["position"] >= position:
            return time.perf_counter() - started
    raise RuntimeError("the projections did not catch up within 300 s")


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@contextlib.asynccontextmanager
async def _server(
    ctx: Context, kind: str, url: str | None, env: dict[str, str] | None = None
) -> AsyncIterator[str]:
    """A server subprocess; yields its base URL once /health answers."""
    port = _free_port()
    log_path = ctx.path(f"{kind}-server.log")
    args = [sys.executable, "-m", "benchmarks.serve", kind, str(port)] + ([url] if url else [])
    environment = {**os.environ, **(env or {})}
    environment["PYTHONPATH"] = os.pathsep.join(
        p for p in (str(_ROOT), environment.get("PYTHONPATH", "")) if p
    )
    with log_path.open("wb") as log_file:
        process = await asyncio.create_subprocess_exec(
            *args, stdout=log_file, stderr=log_file, cwd=str(ctx.workdir), env=environment
        )
    base = f"http://127.0.0.1:{port}"
    try:
        await _until_ok(
            f"{base}/health",
            None,
            what=f"the {kind} server to start",
            process=process,
            log_path=log_path,
        )
        yield base
    finally:
        if process.returncode is None:
            process.terminate()
            try:
                await asyncio.wait_for(process.wait(), 15)
            except TimeoutError:
                process.kill()
                await process.wait()


async def _until_ok(
    url: str,
    token: str | None,
    *,
    what: str,
    process: asyncio.subprocess.Process | None = None,
    log_path: Path | None = None,
    patience: float = 60.0,
) -> None:
    deadline = time.perf_counter() + patience
    while time.perf_counter() < deadline:
        if process is not None and process.returncode is not None:
            raise RuntimeError(f"waiting for {what}: the process exited\n{_tail(log_path)}")
        status, _ = await _request("GET", url, token)
        if status == 200:
            return
        await asyncio.sleep(0.1)
    raise RuntimeError(f"gave up waiting for {what} after {patience:.0f} s")


def _tail(path: Path | None) -> str:
    return path.read_text(errors="replace")[-2000:] if path is not None else ""


async def _request(
    method: str, url: str, token: str | None, body: bytes | None = None
) -> tuple[int, bytes]:
    """One request with the standard library, off the event loop; (0, b"") if unreachable."""

    def call() -> tuple[int, bytes]:
        headers = {"Content-Type": "application/json"}
        if token:
            headers["Authorization"] = f"Bearer {token}"
        request = urllib.request.Request(url, data=body, method=method, headers=headers)
        try:
            with urllib.request.urlopen(request, timeout=30) as response:
                return response.status, response.read()
        except urllib.error.HTTPError as error:
            return error.code, error.read()
        except OSError:
            return 0, b""

    return await asyncio.to_thread(call)
