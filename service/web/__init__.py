"""The register in a browser: server-rendered pages for people, forms for staff.

`routes()` is everything this package serves; `service.app` adds it to the API's routes.
Pages: `/` (the dashboard), `/login`, `/logout`, `/docs`, and `/web/…`; assets under
`/static/` (the service's own) and `/docs/assets/` (Swagger UI, from `swagger-ui-bundle`).
"""

from __future__ import annotations

from pathlib import Path

from starlette.routing import BaseRoute, Mount, Route
from starlette.staticfiles import StaticFiles
from swagger_ui_bundle import swagger_ui_path

from service.web import pages

STATIC = Path(__file__).resolve().parent / "static"


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
            "/web/partnerships/{agreement_id}",
            pages.partnership,
            methods=["GET"],
            name="web_partnership",
        ),
        Route(
            "/web/partnerships/{agreement_id}/record/{form}",
            pages.record,
            methods=["POST"],
            name="web_record",
        ),
        Route("/web/owners", pages.owners, methods=["GET"], name="web_owners"),
        Route("/web/owners/{owner_id}", pages.owner, methods=["GET"], name="web_owner"),
        Route("/web/delegations", pages.delegations, methods=["GET"], name="web_delegations"),
        Route("/web/audit", pages.audit, methods=["GET"], name="web_audit"),
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
            StaticFiles(directory=str(swagger_ui_path)),
            name="web_docs_assets",
        ),
    ]
