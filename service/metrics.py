"""Prometheus metrics, one registry per app (so two apps in one process never mix counts).

Requests are labelled by route *template* (`/streams/{stream_id}/events`), never by the raw
path, so label cardinality stays bounded whatever clients send.
"""

from __future__ import annotations

import time

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest
from starlette.routing import Route
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from events.envelope import AppendResult

CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"
_UNMATCHED = "<unmatched>"
_METHODS = frozenset({"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"})


class Metrics:
    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        self.requests = Counter(
            "agreements_http_requests",
            "HTTP requests answered, by method, route template and status.",
            ["method", "route", "status"],
            registry=self.registry,
        )
        self.latency = Histogram(
            "agreements_http_request_duration_seconds",
            "Time to answer an HTTP request, by method and route template.",
            ["method", "route"],
            registry=self.registry,
            buckets=(0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10),
        )
        self.appends = Counter(
            "agreements_appends",
            "Append requests that succeeded: created, or an idempotent retry of a stored batch.",
            ["outcome"],
            registry=self.registry,
        )
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

    def appended(self, result: AppendResult) -> None:
        if result.created:
            self.appends.labels("created").inc()
            self.events_appended.inc(result.to_position - result.from_position + 1)
        else:
            self.appends.labels("retried").inc()

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
            self.metrics.requests.labels(method, template, str(status)).inc()
            self.metrics.latency.labels(method, template).observe(time.perf_counter() - started)
