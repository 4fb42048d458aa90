"""The application: routes, middleware, error handlers and lifespan, configured as data.

Nothing touches a database at import or construction time: the lifespan opens the store,
refuses a signing key file that is not the key the log records, loads the token table
(creating the first admin token on an empty register), starts the projection runner, and hands
all of it to handlers as `request.state.services`. On exit it stops the runner and the token
watcher, then closes the store (finishing queued appends).
"""

from __future__ import annotations

import contextlib
import logging
from collections.abc import AsyncIterator, Callable
from typing import Any

from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.routing import Route
from starlette.types import ASGIApp

from events.audit import signing_key_path
from events.envelope import Metadata
from events.log_identity import check_key_file
from events.store import EventStore, open_store
from projections.cache import ReadCache
from projections.facade import Projections
from projections.replays import Replays
from service import openapi
from service.live import running_live
from service.metrics import Metrics, MetricsMiddleware
from service.problems import exception_handlers
from service.routes import ENDPOINTS
from service.routes.base import Endpoint, Services
from service.security import SecurityMiddleware
from service.settings import Settings
from service.tokens import TokenTable
from service.web import routes as web_routes

log = logging.getLogger(__name__)

BOOTSTRAP_ACTOR = "agreements (first start)"

ProjectionsFactory = Callable[[EventStore, Settings], Projections]


def create_app(
    settings: Settings,
    *,
    endpoints: tuple[Endpoint, ...] = ENDPOINTS,
    projections_factory: ProjectionsFactory | None = None,
) -> Starlette:
    metrics = Metrics()
    document = openapi.render(endpoints, max_events_per_batch=settings.max_events_per_batch)
    make_projections = projections_factory or default_projections

    @contextlib.asynccontextmanager
    async def lifespan(_app: Starlette) -> AsyncIterator[dict[str, Any]]:
        async with contextlib.AsyncExitStack() as stack:
            store = await open_store(
                settings.database_url,
                max_batch_events=settings.max_events_per_batch,
                document_limits=settings.document_limits(),
                **settings.engine_settings(),
            )
            stack.push_async_callback(store.close)
            await check_key_file(store, signing_key_path(settings.database_url))
            tokens = TokenTable(store, refresh_seconds=settings.token_refresh_seconds)
            await tokens.refresh()
            if settings.bootstrap_admin_token:
                issued = await tokens.bootstrap(metadata=Metadata(actor=BOOTSTRAP_ACTOR))
                if issued is not None:
                    settings.announce_token(issued.secret)
            tokens.start()
            stack.push_async_callback(tokens.stop)
            projections = None
            if settings.start_projections:
                projections = make_projections(store, settings)
                await projections.start()
                stack.push_async_callback(projections.stop)
            live = await stack.enter_async_context(
                running_live(store, tokens, metrics, settings, projections)
            )
            services = Services(
                settings=settings,
                store=store,
                tokens=tokens,
                projections=projections,
                metrics=metrics,
                openapi=document,
                live=live,
            )
            yield {"services": services}

    return _Service(
        access_log=settings.access_log,
        routes=[
            Route(e.path, e.app(), methods=[e.method], name=e.name)
            for e in sorted(endpoints, key=_routing_order)
        ]
        + web_routes(),
        middleware=[Middleware(MetricsMiddleware, metrics=metrics)],
        exception_handlers=exception_handlers(),
        lifespan=lifespan,
    )


class _Service(Starlette):
    """The app, with the security headers and log around everything, error answers too
    (Starlette answers an unexpected exception outside the middleware it is given)."""

    def __init__(self, *, access_log: bool, **options: Any) -> None:
        self.access_log = access_log
        super().__init__(**options)

    def build_middleware_stack(self) -> ASGIApp:
        return SecurityMiddleware(super().build_middleware_stack(), access_log=self.access_log)


HOT_ROUTES = ("get_partnership", "append_events", "list_partnerships", "list_owners")
"""Matched first: Starlette tries routes in order, and these take most of the traffic
(dashboards polling, staff recording). No two templates match the same path, so the order
changes nothing else."""


def _routing_order(endpoint: Endpoint) -> int:
    return HOT_ROUTES.index(endpoint.name) if endpoint.name in HOT_ROUTES else len(HOT_ROUTES)


def default_projections(store: EventStore, settings: Settings) -> Projections:
    return Projections(
        store,
        batch_size=settings.projection_batch_size,
        cache=ReadCache(max_entries=settings.cache_entries),
        replays=Replays(
            limit=settings.max_concurrent_replays,
            wait=settings.replay_wait_seconds,
            keep=settings.replay_cache_entries,
        ),
    )


def app_from_env() -> Starlette:
    """For `uvicorn --factory service.app:app_from_env` (and `agreements serve --workers`)."""
    return create_app(Settings.from_env())
