"""Schema-driven fuzzing: schemathesis generates requests from the service's own /openapi.json.

First as a user of the service would run it: `st run --checks all` with every phase
(examples, coverage, fuzzing, stateful) against a running `agreements serve --demo`, over
HTTP, on each database, with a fixed seed and a fixed number of cases per operation
(`tests/schemathesis.toml` names the few refusals that depend on the log, not the request).

Then in-process, with the log checked around each request: requests go to the running app
(its lifespan held open across requests) through the same httpx client the API tests use,
under an admin token so that they get past the guard; schemathesis generates the cases and
checks every answer against the document. Each route is fuzzed with data that fits its schema
(positive) and data that breaks it (negative). For every answer: no 5xx; status, content
type, headers and body as documented; schema-breaking input refused; and a refused request
leaves the log's head where it was.

Bounded and repeatable: the cases are generated up front by a derandomized Hypothesis run of
a fixed size (no example database), so CI sends the same requests every time (about a minute for
both modes on both databases). Generating first and
sending afterwards also keeps Hypothesis out of the I/O (its generation must not depend on
what the app answered).
"""

from __future__ import annotations

import functools
import json
import re
import subprocess
import sys
from pathlib import Path
from typing import Any

import httpx
import pytest
import schemathesis
from hypothesis import HealthCheck, Phase, given, settings
from schemathesis import GenerationMode
from schemathesis.checks import not_a_server_error
from schemathesis.generation.feedback import NO_FEEDBACK
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    negative_data_rejection,
    response_headers_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from tests._server import start_server
from tests.conftest import Api

pytestmark = pytest.mark.slow

CASES = 1000
"""Per generation mode."""

ST_CASES = 20
"""Per operation and phase, for `st run`: about a minute a database on this machine."""
ST_SEED = 20261130
ST_CONFIG = Path(__file__).with_name("schemathesis.toml")
LIVE_STREAMS = ("follow_log", "follow_changes")
"""Server-sent event streams never end, so `st run` leaves them out (see its config)."""

_PLACEHOLDER = "Bearer placeholder"
"""Generation never sees a real token (it differs per run); it is swapped in when sending."""

CHECKS = [
    not_a_server_error,
    status_code_conformance,
    content_type_conformance,
    response_headers_conformance,
    response_schema_conformance,
]


@functools.cache
def _cases(document: bytes, mode: GenerationMode) -> tuple[schemathesis.Case, ...]:
    loaded = json.loads(document)
    schema = schemathesis.openapi.from_dict(loaded).exclude(path=sorted(_streaming(loaded)))
    strategy = schema.as_strategy(
        generation_mode=mode, headers={"Authorization": _PLACEHOLDER}, feedback=NO_FEEDBACK
    )
    found: list[schemathesis.Case] = []

    @settings(
        max_examples=CASES,
        derandomize=True,
        database=None,
        deadline=None,
        phases=[Phase.generate],
        suppress_health_check=list(HealthCheck),
    )
    @given(case=strategy)
    def collect(case: schemathesis.Case) -> None:
        found.append(case)

    collect()
    return tuple(found)


async def _send(api: Api, case: schemathesis.Case) -> httpx.Response:
    kwargs = case.as_transport_kwargs(base_url="http://agreements")
    headers = {**(kwargs.get("headers") or {}), **api.auth("admin")}
    request = api.client.build_request(
        kwargs["method"],
        kwargs["url"],
        params=kwargs.get("params"),
        headers=headers,
        json=kwargs.get("json"),
        content=kwargs.get("data"),
    )
    return await api.client.send(request)


@pytest.mark.parametrize("mode", [GenerationMode.POSITIVE, GenerationMode.NEGATIVE])
async def test_fuzzed_requests_get_documented_answers_and_refusals_leave_the_log(
    api: Api, mode: GenerationMode
) -> None:
    document = await api.client.get("/openapi.json", headers=api.auth("auditor"))
    assert document.status_code == 200
    cases = _cases(document.content, mode)
    assert len(cases) == CASES
    checks = [*CHECKS, negative_data_rejection] if mode.is_negative else CHECKS
    reached = set()
    for case in cases:
        head = await api.head()
        response = await _send(api, case)
        case.validate_response(response, checks=checks)
        if response.status_code >= 400:
            assert await api.head() == head, (case.method, case.formatted_path, response.text)
        reached.add((case.method.lower(), case.path))
    assert reached == _fuzzable(json.loads(document.content), mode)


def _fuzzable(document: dict[str, Any], mode: GenerationMode) -> set[tuple[str, str]]:
    """Every operation; for schema-breaking input, those with parameters or a body to break."""
    streaming = _streaming(document)
    return {
        (method, path)
        for path, operations in document["paths"].items()
        for method, operation in operations.items()
        if path not in streaming
        and (mode.is_positive or "parameters" in operation or "requestBody" in operation)
    }


def _streaming(document: dict[str, Any]) -> set[str]:
    """Paths answering an endless `text/event-stream`: the in-process transport would wait for
    its end forever. Their inputs and answers are tested over a real server (`test_live`)."""
    return {
        path
        for path, operations in document["paths"].items()
        for operation in operations.values()
        if "text/event-stream" in operation["responses"].get("200", {}).get("content", {})
    }


@pytest.mark.timeout(600)
def test_st_run_with_every_check_and_phase_finds_nothing(database_url: str, tmp_path: Path) -> None:
    server = start_server(database_url, tmp_path, arguments=("--demo",))
    try:
        done = subprocess.run(
            [
                *(str(Path(sys.executable).with_name("st")), "--config-file", str(ST_CONFIG)),
                *("run", f"{server.base_url}/openapi.json"),
                *("--header", f"Authorization: Bearer {server.token}"),
                *("--checks", "all", "--phases", "examples,coverage,fuzzing,stateful"),
                *("--max-examples", str(ST_CASES), "--seed", str(ST_SEED), "--workers", "1"),
                *("--generation-database", "none", "--no-color", "--request-timeout", "30"),
            ],
            cwd=tmp_path,
            capture_output=True,
            text=True,
            timeout=480,
            check=False,
        )
    finally:
        server.stop()
    assert done.returncode == 0, done.stdout[-20000:] + done.stderr[-5000:]
    selected = re.search(r"Selected: (\d+)/(\d+)\s+Tested: (\d+)", done.stdout)
    assert selected is not None, done.stdout[-5000:]
    chosen, total, tested = (int(n) for n in selected.groups())
    # Every operation but the two endless live streams (disabled in the config), all tested.
    assert (chosen, tested) == (total - len(LIVE_STREAMS), chosen), selected[0]
