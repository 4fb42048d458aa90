"""Tokens issued or revoked by another process count on the next request of a running server.

The server's background refresh is set to an hour, so only the request path can have seen
the change: a new token is looked up again before it is refused, and a revocation reaches
the table before the next request is checked (SQLite: another connection's commit; on
PostgreSQL: LISTEN/NOTIFY)."""

from __future__ import annotations

from pathlib import Path

import httpx
import pytest

from tests._server import run_cli, start_server

pytestmark = [pytest.mark.slow, pytest.mark.timeout(180)]

_NO_BACKGROUND_REFRESH = {"AGREEMENTS_TOKEN_REFRESH_SECONDS": "3600"}


def _cli(*arguments: str, database_url: str) -> list[str]:
    done = run_cli(*arguments, "--database-url", database_url)
    assert done.returncode == 0, done.stderr
    return done.stdout.strip().splitlines()


async def test_a_token_from_the_cli_works_at_once_and_stops_at_once_when_revoked(
    database_url: str, tmp_path: Path
) -> None:
    server = start_server(database_url, tmp_path, env=_NO_BACKGROUND_REFRESH)
    try:
        async with httpx.AsyncClient(base_url=server.base_url) as client:
            secret = _cli(
                *("token", "create", "--role", "viewer", "--name", "Dashboard"),
                database_url=database_url,
            )[-1]
            bearer = {"Authorization": f"Bearer {secret}"}
            assert (await client.get("/owners", headers=bearer)).status_code == 200

            token_id = secret.split("_")[1]
            _cli("token", "revoke", token_id, database_url=database_url)
            refused = await client.get("/owners", headers=bearer)
            assert refused.status_code == 401, refused.text

            # A second revocation by another process, of a token this server has been using.
            other = _cli(
                *("token", "create", "--role", "viewer", "--name", "Wallboard"),
                database_url=database_url,
            )[-1]
            other_bearer = {"Authorization": f"Bearer {other}"}
            for _ in range(3):
                assert (await client.get("/owners", headers=other_bearer)).status_code == 200
            _cli("token", "revoke", other.split("_")[1], database_url=database_url)
            assert (await client.get("/owners", headers=other_bearer)).status_code == 401
    finally:
        server.stop()
