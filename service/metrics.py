"""Prometheus metrics, one registry per app (so two apps in one process never mix counts).

Requests are labelled by route *template* (`/streams/{stream_id}/events`), never by the raw
path, so label cardinality stays bounded whatever clients send. They are counted in plain
dicts (`RequestCounts`), a few hundred nanoseconds a request, and turned into Prometheus
families only when scraped: prometheus_client's labelled children validate labels and take
a lock on every call, which cost more than some whole requests.
"""

from __future__ import annotations

import bisect
import time
from collections.abc import Iterator

from prometheus_client import CollectorRegistry, Counter, Gauge, generate_latest
from prometheus_client.core import CounterMetricFamily, HistogramMetricFamily, Metric
from prometheus_client.registry import Collector
from starlette.routing import Route
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from events.envelope import AppendResult

CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"
_UNMATCHED = "<unmatched>"
_METHODS = frozenset({"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"})
BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10)
"""Upper bounds (seconds) of the request duration histogram."""


class RequestCounts(Collector):
    """Requests by method, route template and status, and their durations by method and
    route template."""

    def __init__(self) -> None:
        self.counts: dict[tuple[str, str, int], float] = {}
        self.durations: dict[tuple[str, str], list[float]] = {}
        """Per (method, route): one count per bucket, then +Inf's, then the sum."""

    def observe(self, method: str, route: str, status: int, seconds: float) -> None:
        key = (method, route, status)
        self.counts[key] = self.counts.get(key, 0) + 1
        cells = self.durations.get((method, route))
        if cells is None:
            cells = self.durations[(method, route)] = [0.0] * (len(BUCKETS) + 2)
        cells[bisect.bisect_left(BUCKETS, seconds)] += 1
        cells[-1] += seconds

    def collect(self) -> Iterator[Metric]:
        requests = CounterMetricFamily(
            "agreements_http_requests",
            "HTTP requests answered, by method, route template and status.",
            labels=["method", "route", "status"],
        )
        for (method, route, status), count in sorted(self.counts.items()):
            requests.add_metric([method, route, str(status)], count)
        yield requests
        durations = HistogramMetricFamily(
            "agreements_http_request_duration_seconds",
            "Time to answer an HTTP request, by method and route template.",
            labels=["method", "route"],
        )
        for (method, route), cells in sorted(self.durations.items()):
            cumulative, buckets = 0.0, []
            for bound, count in zip((*map(str, BUCKETS), "+Inf"), cells[:-1], strict=True):
                cumulative += count
                buckets.append((bound, cumulative))
            durations.add_metric([method, route], buckets, sum_value=cells[-1])
        yield durations


class Metrics:
    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        self.requests = RequestCounts()
        self.registry.register(self.requests)
        self.appends = Counter(
            "agreements_appends",
            "Append requests that succeeded: created, or an idempotent retry of a stored batch.",
            ["outcome"],
            registry=self.registry,
        )
        # Bound once: `labels()` validates and locks on every call.
        self._created = self.appends.labels("created")
        self._retried = self.appends.labels("retried")
        self.events_appended = Counter(
            "agreements_events_appended",
            "Events appended to the log by this process.",
            registry=self.registry,
        )
        self.head = Gauge(
            "agreements_log_head_position",
            "The last position in the log.",
            registry=self.registry,
        )
        self.projection_position = Gauge(
            "agreements_projection_position",
            "The last log position the projections have applied.",
            registry=self.registry,
        )
        self.projection_lag = Gauge(
            "agreements_projection_lag_events",
            "Events in the log that the projections have not applied yet.",
            registry=self.registry,
        )

        self.subscribers = Gauge(
            "agreements_live_subscribers",
            "Live subscriptions (/events/live, /live) open in this process.",
            registry=self.registry,
        )
        self.live_messages = Counter(
            "agreements_live_messages",
            "Messages sent to live subscribers (events and changes, not heartbeats).",
            registry=self.registry,
        )
        self.live_overflows = Counter(
            "agreements_live_overflows",
            "Live subscribers closed because they fell too far behind.",
            registry=self.registry,
        )

    def appended(self, result: AppendResult) -> None:
        if result.created:
            self._created.inc()
            self.events_appended.inc(result.to_position - result.from_position + 1)
        else:
            self._retried.inc()

    def positions(self, head: int, projected: int | None) -> None:
        self.head.set(head)
        if projected is not None:
            self.projection_position.set(projected)
            self.projection_lag.set(max(head - projected, 0))

    def render(self) -> bytes:
        return generate_latest(self.registry)


class MetricsMiddleware:
    """Counts and times every HTTP request, labelled after routing has matched a template."""

    def __init__(self, app: ASGIApp, metrics: Metrics) -> None:
        self.app = app
        self.metrics = metrics

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        status = 500

        async def send_and_note(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
            await send(message)

        try:
            await self.app(scope, receive, send_and_note)
        finally:
            route = scope.get("route")
            template = route.path if isinstance(route, Route) else _UNMATCHED
            method = scope["method"] if scope["method"] in _METHODS else "OTHER"
            self.metrics.requests.observe(method, template, status, time.perf_counter() - started)
