"""The register in a browser: server-rendered pages for people, forms for staff.

`routes()` is everything this package serves; `service.app` adds it to the API's routes.
Pages: `/` (the dashboard), `/login`, `/logout`, `/docs`, and `/web/…`; assets under
`/static/` (the service's own) and `/docs/assets/` (Swagger UI, from `swagger-ui-py`).
"""

from __future__ import annotations

import importlib.util
from pathlib import Path

from starlette.routing import BaseRoute, Mount, Route
from starlette.staticfiles import StaticFiles

from service.web import pages, people

STATIC = Path(__file__).resolve().parent / "static"


def swagger_ui_assets() -> Path:
    """Swagger UI's files as the `swagger-ui-py` package ships them (found, not imported:
    the package's own code is for other frameworks)."""
    spec = importlib.util.find_spec("swagger_ui")
    assert spec is not None and spec.submodule_search_locations, "swagger-ui-py is missing"
    return Path(next(iter(spec.submodule_search_locations))) / "static"


PREFIX = "web_"
"""Every route of this package is named with it: the API's checks (every route documented,
every route guarded by a bearer token) are about the other routes."""


def is_page(route: BaseRoute) -> bool:
    """Whether `route` is one of this package's (a page or its assets, not the API)."""
    return str(getattr(route, "name", "")).startswith(PREFIX)


def routes() -> list[BaseRoute]:
    return [
        Route("/", pages.home, methods=["GET"], name="web_home"),
        Route("/login", pages.login_form, methods=["GET"], name="web_login_form"),
        Route("/login", pages.login, methods=["POST"], name="web_login"),
        Route("/logout", pages.logout, methods=["GET", "POST"], name="web_logout"),
        Route("/docs", pages.docs, methods=["GET"], name="web_docs"),
        Route("/web/openapi.json", pages.docs_openapi, methods=["GET"], name="web_openapi"),
        Route("/web/partnerships", pages.partnerships, methods=["GET"], name="web_partnerships"),
        Route(
            "/web/partnerships/new",
            pages.new_agreement,
            methods=["GET", "POST"],
            name="web_new_agreement",
        ),
        Route(
            "/web/partnerships/{agreement_id}",
            pages.partnership,
            methods=["GET"],
            name="web_partnership",
        ),
        Route(
            "/web/partnerships/{agreement_id}/as-of",
            pages.partnership_as_of,
            methods=["GET"],
            name="web_partnership_as_of",
        ),
        Route(
            "/web/partnerships/{agreement_id}/record/{form}",
            pages.record,
            methods=["POST"],
            name="web_record",
        ),
        Route(
            "/web/partnerships/{agreement_id}/corrections/{event_id}",
            pages.correction,
            methods=["GET", "POST"],
            name="web_correction",
        ),
        Route(
            "/web/my-follow-ups",
            pages.my_follow_ups,
            methods=["GET", "POST"],
            name="web_my_follow_ups",
        ),
        Route("/web/owners", pages.owners, methods=["GET"], name="web_owners"),
        Route("/web/owners/{owner_id}", pages.owner, methods=["GET"], name="web_owner"),
        Route("/web/delegations", pages.delegations, methods=["GET"], name="web_delegations"),
        Route("/web/audit", pages.audit, methods=["GET"], name="web_audit"),
        Route("/web/people/{person_id}", people.person, methods=["GET"], name="web_person"),
        Route(
            "/web/people/{person_id}",
            people.erase_person,
            methods=["POST"],
            name="web_erase_person",
        ),
        Route(
            "/web/audit/checkpoint",
            pages.audit_checkpoint,
            methods=["GET"],
            name="web_audit_checkpoint",
        ),
        Route("/web/audit/export", pages.audit_export, methods=["GET"], name="web_audit_export"),
        Mount("/static", StaticFiles(directory=STATIC), name="web_static"),
        Mount(
            "/docs/assets",
            StaticFiles(directory=swagger_ui_assets()),
            name="web_docs_assets",
        ),
    ]
