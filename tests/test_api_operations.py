"""Operations: /health without credentials, /metrics in Prometheus text, /openapi.json."""

from __future__ import annotations

import json
import re
from typing import Any

from prometheus_client.parser import text_string_to_metric_families
from starlette.routing import Route

from service.cli import record_demo
from service.metrics import Metrics
from service.routes import ENDPOINTS
from service.web import is_page
from tests.conftest import Api, signed


async def test_health_needs_no_token_and_reports_lag(api: Api) -> None:
    head = await api.head()
    await api.client.get("/owners", params={"wait_for_position": head}, headers=api.auth("viewer"))

    response = await api.client.get("/health")

    assert response.status_code == 200
    assert response.json() == {
        "status": "ok",
        "database": "reachable",
        "head": head,
        "projections": {"position": head, "lag": 0},
    }


async def test_the_front_page_tells_a_browser_what_this_is_and_where_the_docs_are(
    api: Api,
) -> None:
    response = await api.client.get("/", headers={"Accept": "text/html"})
    assert response.status_code == 303  # no session: to sign-in, which says what this is
    sign_in = await api.client.get(response.headers["location"], headers={"Accept": "text/html"})
    assert sign_in.status_code == 200
    assert sign_in.headers["content-type"].startswith("text/html")
    assert "Agreements register" in sign_in.text
    assert 'href="/docs"' in sign_in.text and 'href="/openapi.json"' in sign_in.text


async def test_health_is_503_when_the_database_is_gone(api: Api) -> None:
    original = api.services.store.head

    async def unreachable() -> int:
        raise OSError("disk on fire")

    api.services.store.head = unreachable  # type: ignore[method-assign]
    try:
        response = await api.client.get("/health")
    finally:
        api.services.store.head = original  # type: ignore[method-assign]
    assert response.status_code == 503
    assert response.headers["retry-after"] == "1"
    assert response.json()["database"] == "unreachable"
    assert "fire" not in response.text


def _samples(text: str) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    return {
        (s.name, tuple(sorted(s.labels.items()))): s.value
        for family in text_string_to_metric_families(text)
        for s in family.samples
    }


async def test_metrics_count_requests_by_route_template_and_appends(api: Api) -> None:
    await record_demo(api.services.store)
    for stream in ("agreement-a", "agreement-b"):
        await api.client.post(
            f"/streams/{stream}/events", json={"events": [signed()]}, headers=api.auth("recorder")
        )
    await api.client.get("/streams/agreement-a/events", headers=api.auth("recorder"))

    response = await api.client.get("/metrics", headers=api.auth("viewer"))

    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/plain")
    samples = _samples(response.text)
    key = ("method", "POST"), ("route", "/streams/{stream_id}/events"), ("status", "201")
    assert samples[("agreements_http_requests_total", tuple(sorted(key)))] == 2
    assert samples[("agreements_appends_total", (("outcome", "created"),))] == 2
    assert samples[("agreements_events_appended_total", ())] == 2
    assert samples[("agreements_log_head_position", ())] == await api.head()
    assert ("agreements_projection_lag_events", ()) in samples
    assert not any("agreement-a" in str(labels) for _, labels in samples)


def test_two_apps_in_one_process_keep_separate_metrics() -> None:
    first, second = Metrics(), Metrics()
    first.events_appended.inc(3)
    assert b"agreements_events_appended_total 3.0" in first.render()
    assert b"agreements_events_appended_total 0.0" in second.render()


async def test_openapi_documents_every_route_with_its_roles(api: Api) -> None:
    response = await api.client.get("/openapi.json", headers=api.auth("viewer"))
    assert response.status_code == 200
    document = response.json()
    assert document["openapi"].startswith("3.1")

    for endpoint in ENDPOINTS:
        operation = document["paths"][endpoint.path][endpoint.method.lower()]
        assert operation["operationId"] == endpoint.name
        if endpoint.permission is None:
            assert operation["security"] == []
        else:
            assert {"401", "403"} <= set(operation["responses"])
            assert operation["x-permission"] == endpoint.permission
    api_routes = [r for r in api.app.routes if isinstance(r, Route) and not is_page(r)]
    served = {(r.path, m) for r in api_routes for m in r.methods or ()} - {
        (r.path, "HEAD") for r in api_routes
    }
    documented = {(p, m.upper()) for p, ops in document["paths"].items() for m in ops}
    assert served == documented


async def test_openapi_describes_the_fields_of_an_agreement_s_whole_life(api: Api) -> None:
    """A client reading the document learns what the lifecycle's fields mean, not only their
    types: the announcement, the term, the documents, a delegation's agreements, and how the
    history shows a correction."""
    document = (await api.client.get("/openapi.json", headers=api.auth("viewer"))).json()
    schemas = document["components"]["schemas"]
    described = {
        "Partnership": ["announced_on", "signed_on", "next_expires_on", "documents"],
        "PartnershipSummary": ["announced_on"],
        "DelegationDocument": ["agreements"],
        "Change": ["corrects", "corrected_by", "state"],
        "AgreementSigned": ["announced_on", "expires_on", "renewal"],
        "DocumentRecorded": ["sha256", "location"],
        "Person": ["name_latin"],
    }
    for name, fields in described.items():
        for field in fields:
            description = schemas[name]["properties"][field].get("description", "")
            assert len(description) > 20, (name, field)
    assert "correction" in schemas["Change"]["properties"]["corrected_by"]["description"]


async def test_openapi_references_resolve_and_describe_the_append_body(api: Api) -> None:
    document = (await api.client.get("/openapi.json", headers=api.auth("viewer"))).json()
    schemas = document["components"]["schemas"]
    refs = set(re.findall(r'"\$ref": ?"#/components/schemas/([^"]+)"', _dump(document)))
    assert refs <= set(schemas)

    append = document["paths"]["/streams/{stream_id}/events"]["post"]
    assert {"201", "200", "400", "409", "413", "415", "422"} <= set(append["responses"])
    (stream_id,) = append["parameters"]
    assert stream_id["in"] == "path"
    assert stream_id["schema"]["pattern"].startswith("^[a-z]")
    body = schemas["AppendRequest"]
    assert body["additionalProperties"] is False
    events = body["properties"]["events"]
    assert (events["minItems"], events["maxItems"]) == (
        1,
        api.services.settings.max_events_per_batch,
    )
    assert set(body["required"]) == {"events"}
    assert "AgreementSigned" in schemas

    log_params = {p["name"]: p for p in document["paths"]["/events"]["get"]["parameters"]}
    assert log_params["type"]["schema"]["type"] == "array"
    assert log_params["category"]["schema"] == {"type": "string", "pattern": "^[a-z]{1,32}$"}


def _dump(document: Any) -> str:
    return json.dumps(document)
