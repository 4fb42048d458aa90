"""Run one server for the HTTP figures: `python -m benchmarks.serve {service|bare} PORT [URL]`.

Both servers get the same uvicorn settings (uvloop, httptools, one worker, access log off),
so the ratio between them is the cost of the service's own work.
"""

from __future__ import annotations

import sys

import uvicorn
from starlette.applications import Starlette


def build(kind: str, database_url: str | None) -> Starlette:
    if kind == "bare":
        from benchmarks.bare_app import app_from_env

        return app_from_env()
    from service.app import create_app
    from service.settings import Settings

    assert database_url, "the service needs a database URL"
    # AGREEMENTS_* variables apply (the live figures raise the subscriber limit).
    return create_app(Settings.from_env(database_url=database_url, bootstrap_admin_token=False))


def main(argv: list[str]) -> None:
    kind, port = argv[0], int(argv[1])
    app = build(kind, argv[2] if len(argv) > 2 else None)
    uvicorn.run(
        app,
        host="127.0.0.1",
        port=port,
        loop="uvloop",
        http="httptools",
        access_log=False,
        log_level="warning",
        workers=1,
    )


if __name__ == "__main__":
    main(sys.argv[1:])
