"""Rendering speed: the partnership page (HTML, for a signed-in person) against the same
partnership as JSON (`GET /partnerships/{id}`), in one run, in process (no network, no server:
what is measured is the app's own work per request).

    python -m benchmarks.page_render [--requests 200] [--events 60]

One agreement of `--events` events (witnesses, owners, follow-ups, notes: `benchmarks.data`)
on a fresh SQLite file; the page is read as a recorder (history and forms included). The two
reads alternate, so both see the same machine load; the report gives the median and the 90th
percentile of each, and their ratio.
"""

from __future__ import annotations

import argparse
import asyncio
import re
import statistics
import tempfile
import time
from pathlib import Path

import httpx
from starlette.types import Receive, Scope, Send

from benchmarks import data
from events.envelope import Metadata
from service.app import create_app
from service.settings import Settings


async def measure(requests: int, events: int) -> dict[str, tuple[float, float]]:
    with tempfile.TemporaryDirectory() as folder:
        announced: list[str] = []
        settings = Settings(
            database_url=f"sqlite+aiosqlite:///{Path(folder) / 'bench.db'}",
            announce_token=announced.append,
        )
        app = create_app(settings)
        async with app.router.lifespan_context(app) as state:
            assert state is not None
            services = state["services"]
            key = data.stream_id("render", 1)
            result = await services.store.append(
                key, data.proposed(1, 1, events), metadata=Metadata(actor="benchmark")
            )
            issued = await services.tokens.issue(
                name="benchmark", role="recorder", metadata=Metadata(actor="benchmark")
            )
            await services.projections.wait_for(result.to_position, 30)

            async def with_state(scope: Scope, receive: Receive, send: Send) -> None:
                scope["state"] = dict(state)
                await app(scope, receive, send)

            transport = httpx.ASGITransport(app=with_state)
            async with httpx.AsyncClient(transport=transport, base_url="http://bench") as client:
                form = await client.get("/login")
                csrf = re.search(r'name="csrf" value="([^"]+)"', form.text)
                assert csrf is not None
                signed_in = await client.post(
                    "/login", data={"token": issued.secret, "csrf": csrf[1]}
                )
                assert signed_in.status_code == 303
                bearer = {"authorization": f"Bearer {issued.secret}"}
                urls = {
                    "page (HTML)": (f"/web/partnerships/{key}", {}),
                    "JSON": (f"/partnerships/{key}", bearer),
                }
                times: dict[str, list[float]] = {name: [] for name in urls}
                for _ in range(requests):
                    for name, (url, headers) in urls.items():
                        started = time.perf_counter()
                        answer = await client.get(url, headers=headers)
                        times[name].append(time.perf_counter() - started)
                        assert answer.status_code == 200, answer.text
    return {
        name: (statistics.median(values) * 1000, statistics.quantiles(values, n=10)[-1] * 1000)
        for name, values in times.items()
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--requests", type=int, default=200)
    parser.add_argument("--events", type=int, default=60)
    args = parser.parse_args()
    found = asyncio.run(measure(args.requests, args.events))
    print(f"one partnership of {args.events} events, {args.requests} reads each")
    for name, (median, p90) in found.items():
        print(f"  {name:<12} median {median:7.2f} ms   p90 {p90:7.2f} ms")
    ratio = found["page (HTML)"][0] / found["JSON"][0]
    print(f"  the page takes {ratio:.1f}x the JSON's median time")


if __name__ == "__main__":
    main()
