"""Size limits of ingestion and meter filters (issue 7, points 7 and 10): the documented
maximum batch is accepted at both doors, a body over the limit gets a 413 in Kassa's shape,
and a meter filter past its bounds is refused at once with a typed error naming the limit."""

from __future__ import annotations

import time
from dataclasses import replace

import httpx
import msgspec
import pytest

from app.config import Settings
from app.server import create_app
from tests.conftest import count_rows
from tests.meters.helpers import CREATE_METER, condition, create_meter, meter_input
from tests.operations import create_customer

INGEST = """
mutation($input: IngestEventsInput!) {
  ingestEvents(input: $input) { __typename ... on IngestEventsSuccess { inserted duplicates } ... on ValidationError { fields { path code } } }
}
"""
UPDATE_METER = """
mutation($input: UpdateMeterInput!) {
  updateMeter(input: $input) { __typename ... on ValidationError { message fields { path message code } } }
}
"""
MAX_CLAUSES, MAX_TOTAL_CLAUSES = 50, 100  # per list, in a whole filter (docs/metering.md, "Meters")
FULL_METADATA = {f"{k:02d}".ljust(40, "k"): "v" * 500 for k in range(50)}  # 50 keys of 40 characters, values of 500


def full_batch(prefix: str, *, graphql: bool = False) -> list[dict]:
    customer, external = ("externalCustomerId", "externalId") if graphql else ("external_customer_id", "external_id")
    return [{"name": "api_call", customer: "c1", external: f"{prefix}-{i:04d}".ljust(256, "x"), "metadata": FULL_METADATA} for i in range(1000)]


async def test_the_largest_batch_is_accepted_by_rest(api, org, session_factory):
    await create_customer(api, org.token, email="c1@example.com", externalId="c1")
    body = msgspec.json.encode({"events": full_batch("rest")})
    assert len(body) > 25_000_000  # above litestar's default limit of 10 MB
    response = await api.client.post(
        "/v1/events/ingest", content=body, headers={"Authorization": f"Bearer {org.token}", "Content-Type": "application/json"}
    )
    assert response.status_code == 200, response.text[:500]
    assert response.json() == {"inserted": 1000, "duplicates": 0}
    assert await count_rows(session_factory, "events") == 1000


async def test_the_largest_batch_is_accepted_by_graphql(api, org, session_factory):
    await create_customer(api, org.token, email="c1@example.com", externalId="c1")
    body = msgspec.json.encode({"query": INGEST, "variables": {"input": {"events": full_batch("gql", graphql=True)}}})
    assert len(body) > 25_000_000
    response = await api.client.post("/graphql", content=body, headers={"Authorization": f"Bearer {org.token}", "Content-Type": "application/json"})
    assert response.status_code == 200, response.text[:500]
    assert response.json()["data"]["ingestEvents"] == {"__typename": "IngestEventsSuccess", "inserted": 1000, "duplicates": 0}


@pytest.fixture
async def small_limit_client(settings, session_factory, redis):
    app = create_app(replace(settings, request_max_body_size=1000), session_factory=session_factory, redis=redis)
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://kassa.test") as client:
        yield client


async def test_a_body_over_the_limit_is_refused_in_kassas_shape(small_limit_client, org, session_factory):
    headers = {"Authorization": f"Bearer {org.token}", "Content-Type": "application/json"}
    events = [{"name": "api_call", "external_customer_id": "c1", "external_id": f"e{i}"} for i in range(30)]
    rest = await small_limit_client.post("/v1/events/ingest", content=msgspec.json.encode({"events": events}), headers=headers)
    assert rest.status_code == 413, rest.text
    assert rest.json() == {"error": "PAYLOAD_TOO_LARGE", "detail": "The request body is larger than 1,000 bytes (KASSA_REQUEST_MAX_BODY_SIZE)"}
    graphql = await small_limit_client.post("/graphql", content=msgspec.json.encode({"query": INGEST, "variables": {"input": {"events": events}}}), headers=headers)
    assert graphql.status_code == 413, graphql.text
    answer = graphql.json()
    assert answer["data"] is None
    assert [e["extensions"]["code"] for e in answer["errors"]] == ["PAYLOAD_TOO_LARGE"]
    assert "1,000 bytes" in answer["errors"][0]["message"]
    assert await count_rows(session_factory, "events") == 0


async def test_the_default_limit_is_above_the_largest_batch_and_answers_413(api, org):
    limit = Settings().request_max_body_size
    assert limit > len(msgspec.json.encode({"events": full_batch("size")})) * 1.1
    response = await api.client.post(
        "/v1/events/ingest", content=b" " * (limit + 1), headers={"Authorization": f"Bearer {org.token}", "Content-Type": "application/json"}
    )
    assert response.status_code == 413
    assert response.json()["error"] == "PAYLOAD_TOO_LARGE"


def nested_filter(width: int) -> dict:
    """`width` filters, each of `width` filters of `width` conditions: width + width² + width³ clauses."""
    inner = {"conjunction": "AND", "clauses": [condition("name", "eq", f"e{i}") for i in range(width)]}
    middle = {"conjunction": "OR", "clauses": [{"filter": inner}] * width}
    return {"conjunction": "AND", "clauses": [{"filter": middle}] * width}


@pytest.mark.parametrize("mutation", ["create", "update"])
async def test_a_meter_filter_past_its_bounds_is_refused_quickly(api, org, session_factory, mutation):
    filter = nested_filter(10)  # 1,110 clauses, 3 levels, 10 per list
    if mutation == "create":
        started = time.perf_counter()
        result = (await api.data(CREATE_METER, {"input": {**meter_input("m", []), "filter": filter}}, token=org.token))["createMeter"]
    else:
        meter = await create_meter(api, org.token, "m", [condition("name", "eq", "x")])
        started = time.perf_counter()
        result = (await api.data(UPDATE_METER, {"input": {"id": meter["id"], "filter": filter}}, token=org.token))["updateMeter"]
    assert time.perf_counter() - started < 1.0
    assert result["__typename"] == "ValidationError", result
    assert [(f["path"], f["code"]) for f in result["fields"]] == [(["filter"], "too_many_clauses")]
    assert str(MAX_TOTAL_CLAUSES) in result["fields"][0]["message"]
    assert await count_rows(session_factory, "meters") == (0 if mutation == "create" else 1)


async def test_a_huge_filter_is_refused_before_graphql_converts_it(api, org, session_factory):
    """50 × 50 × 50 conditions (127,550 clauses, within the old per-list bound): converting them
    to input objects alone took seconds; the body's structure limit refuses them first (its
    message proves which check answered; no timing here, the machine's speed varies)."""
    body = msgspec.json.encode({"query": CREATE_METER, "variables": {"input": {**meter_input("m", []), "filter": nested_filter(50)}}})
    response = await api.client.post("/graphql", content=body, headers={"Authorization": f"Bearer {org.token}", "Content-Type": "application/json"})
    assert response.status_code == 400, response.text[:300]
    error = response.json()["errors"][0]
    assert error["extensions"]["code"] == "BAD_REQUEST"
    assert "20,000 JSON objects and arrays" in error["message"]
    assert await count_rows(session_factory, "meters") == 0


async def test_a_filter_at_its_bounds_is_accepted(api, org):
    wide = [condition("name", "eq", f"e{i}") for i in range(MAX_CLAUSES)]
    meter = await create_meter(api, org.token, "wide", [*wide[:49], {"filter": {"conjunction": "OR", "clauses": wide}}])
    assert meter["name"] == "wide"
    too_many = (await api.data(CREATE_METER, {"input": meter_input("m", [{"filter": {"conjunction": "OR", "clauses": wide}}, *wide, wide[0]])}, token=org.token))["createMeter"]
    assert too_many["__typename"] == "ValidationError"
    assert too_many["fields"][0]["code"] == "too_many_clauses"
