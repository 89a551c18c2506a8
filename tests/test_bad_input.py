"""Bad input at both doors (GraphQL and REST): each case gets a typed error, never a 500 or a
masked INTERNAL_SERVER_ERROR. Every case here failed that way before the fix (issue 7, point 6)."""

from __future__ import annotations

import base64
import json
import uuid
from typing import Any

import pytest

from tests.conftest import count_rows
from tests.meters.helpers import create_meter, meter_input
from tests.operations import create_business

EXTREME_TIMES = ["0001-01-01T00:00:00+23:59", "9999-12-31T23:59:59-23:59"]
HUGE = "x" * 100_000


def nested(depth: int, leaf: Any = 1) -> Any:
    value = leaf
    for _ in range(depth):
        value = [value]
    return value


def deep_body(document: Any, depth: int) -> bytes:
    """`document` as JSON with its `"DEEP"` string replaced by `depth` nested lists (deeper than
    the standard library's encoder goes)."""
    return json.dumps(document).replace('"DEEP"', "[" * depth + "1" + "]" * depth).encode()


def forged_cursor(sort_value: Any, id: str | None = None) -> str:
    raw = json.dumps([sort_value, id or str(uuid.uuid4())]).encode()
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode()


FORGED_CURSORS = [
    forged_cursor({"t": EXTREME_TIMES[0]}),
    forged_cursor({"t": EXTREME_TIMES[1]}),
    forged_cursor("text where a time belongs"),
    forged_cursor(12),
    forged_cursor([1, 2]),
    forged_cursor({"t": "2026-01-01T00:00:00+00:00"}, "not-a-uuid"),  # a guard: refused before too
    forged_cursor("a\x00b"),
    forged_cursor(10**40),
]


def mutation(field: str, input_type: str) -> str:
    return f"""
    mutation($input: {input_type}!) {{
      {field}(input: $input) {{
        __typename
        ... on Error {{ code message }}
        ... on ValidationError {{ fields {{ path code message }} }}
      }}
    }}"""


CREATE_CUSTOMER = mutation("createCustomer", "CreateCustomerInput")
UPDATE_CUSTOMER = mutation("updateCustomer", "UpdateCustomerInput")
ADD_MEMBER = mutation("addMember", "AddMemberInput")
CREATE_PRODUCT = mutation("createProduct", "CreateProductInput")
CREATE_METER = mutation("createMeter", "CreateMeterInput")
UPDATE_METER = mutation("updateMeter", "UpdateMeterInput")
INGEST = mutation("ingestEvents", "IngestEventsInput")
GRANT = mutation("grantMeterCredit", "GrantMeterCreditInput")
RESET = mutation("resetCustomerMeter", "ResetCustomerMeterInput")
CREATE_WEBHOOK = mutation("createWebhookEndpoint", "CreateWebhookEndpointInput")


def _condition(prop: str = "name", operator: str = "EQ", value: Any = "api_call") -> dict:
    return {"condition": {"property": prop, "operator": operator, "value": value}}


def _meter(**changes: Any) -> dict:
    values = meter_input("Calls", [_condition()])
    values.update(changes)
    return values


def _event(**changes: Any) -> dict:
    event = {"name": "api_call", "externalCustomerId": "c1", "externalId": "e1", "metadata": {"tokens": 1}}
    event.update(changes)
    return event


@pytest.fixture
async def world(api, org):
    """A customer (external id `c1`) with a member, and a meter: the ids the cases point at."""
    customer = await create_business(api, org.token, members=1, externalId="c1")
    meter = await create_meter(api, org.token, "Calls", [_condition()])
    return {"customer": customer["id"], "member": customer["members"][0]["id"], "meter": meter["id"]}


# (name, operation, variables built from the world, the field path the ValidationError names)
MUTATION_CASES = [
    ("customer name NUL", CREATE_CUSTOMER, lambda w: {"input": {"email": "a@example.com", "name": "a\x00b"}}, ["name"]),
    ("customer external id NUL", CREATE_CUSTOMER, lambda w: {"input": {"email": "a@example.com", "externalId": "\x00"}}, ["externalId"]),
    ("customer external id control", CREATE_CUSTOMER, lambda w: {"input": {"email": "a@example.com", "externalId": "a\x1bb"}}, ["externalId"]),
    ("customer tax id NUL", CREATE_CUSTOMER, lambda w: {"input": {"email": "a@example.com", "taxId": "1\x002"}}, ["taxId"]),
    ("customer address NUL", CREATE_CUSTOMER, lambda w: {"input": {"email": "a@example.com", "billingAddress": {"country": "US", "city": "\x00"}}}, ["billingAddress", "city"]),
    ("customer metadata key NUL", CREATE_CUSTOMER, lambda w: {"input": {"email": "a@example.com", "metadata": {"k\x00": "v"}}}, ["metadata", "k\x00"]),
    ("customer metadata value NUL", CREATE_CUSTOMER, lambda w: {"input": {"email": "a@example.com", "metadata": {"k": "v\x00"}}}, ["metadata", "k"]),
    ("customer metadata 50 deep (a guard: typed before)", CREATE_CUSTOMER, lambda w: {"input": {"email": "a@example.com", "metadata": {"k": nested(50)}}}, ["metadata", "k"]),
    ("owner name NUL", CREATE_CUSTOMER, lambda w: {"input": {"type": "BUSINESS", "email": "b@example.com", "owner": {"email": "o@example.com", "name": "\x00"}}}, ["owner", "name"]),
    ("update customer name NUL", UPDATE_CUSTOMER, lambda w: {"input": {"id": w["customer"], "name": "\x00"}}, ["name"]),
    ("member external id NUL", ADD_MEMBER, lambda w: {"input": {"customerId": w["customer"], "email": "m2@example.com", "role": "MEMBER", "externalId": "m\x00"}}, ["externalId"]),
    ("product name NUL", CREATE_PRODUCT, lambda w: {"input": {"name": "P\x00", "prices": [{"fixed": {"amount": 100}}]}}, ["name"]),
    ("product description NUL", CREATE_PRODUCT, lambda w: {"input": {"name": "P", "description": "\x00", "prices": [{"fixed": {"amount": 100}}]}}, ["description"]),
    ("meter name NUL", CREATE_METER, lambda w: {"input": _meter(name="M\x00")}, ["name"]),
    ("meter filter value NUL", CREATE_METER, lambda w: {"input": _meter(filter={"conjunction": "AND", "clauses": [_condition(value="a\x00")]})}, ["filter", "clauses", "0", "value"]),
    ("meter filter property NUL", CREATE_METER, lambda w: {"input": _meter(filter={"conjunction": "AND", "clauses": [_condition(prop="metadata.a\x00", value=1)]})}, ["filter", "clauses", "0", "property"]),
    ("meter aggregation property NUL", CREATE_METER, lambda w: {"input": _meter(aggregation={"func": "SUM", "property": "t\x00"})}, ["aggregation", "property"]),
    ("update meter filter value NUL", UPDATE_METER, lambda w: {"input": {"id": w["meter"], "filter": {"conjunction": "AND", "clauses": [_condition(value="\x00")]}}}, ["filter", "clauses", "0", "value"]),
    ("grant 100,000-character external id", GRANT, lambda w: {"input": {"customerId": w["customer"], "meterId": w["meter"], "units": "5", "externalId": HUGE}}, ["externalId"]),
    ("grant NUL external id", GRANT, lambda w: {"input": {"customerId": w["customer"], "meterId": w["meter"], "units": "5", "externalId": "g\x00"}}, ["externalId"]),
    ("reset 100,000-character external id", RESET, lambda w: {"input": {"customerId": w["customer"], "meterId": w["meter"], "externalId": HUGE}}, ["externalId"]),
    ("ingest name NUL", INGEST, lambda w: {"input": {"events": [_event(name="a\x00")]}}, ["events", "0", "name"]),
    ("ingest name control", INGEST, lambda w: {"input": {"events": [_event(name="a\x07")]}}, ["events", "0", "name"]),
    ("ingest external id control", INGEST, lambda w: {"input": {"events": [_event(externalId="e\n1")]}}, ["events", "0", "externalId"]),
    ("ingest external customer id NUL", INGEST, lambda w: {"input": {"events": [_event(externalCustomerId="c\x00")]}}, ["events", "0", "externalCustomerId"]),
    ("ingest external member id NUL", INGEST, lambda w: {"input": {"events": [_event(externalMemberId="\x00")]}}, ["events", "0", "externalMemberId"]),
    ("ingest metadata key NUL", INGEST, lambda w: {"input": {"events": [_event(metadata={"\x00": 1})]}}, ["events", "0", "metadata", "\x00"]),
    ("ingest metadata key newline", INGEST, lambda w: {"input": {"events": [_event(metadata={"a\nb": 1})]}}, ["events", "0", "metadata", "a\nb"]),
    ("ingest metadata value NUL", INGEST, lambda w: {"input": {"events": [_event(metadata={"model": "gpt\x00"})]}}, ["events", "0", "metadata", "model"]),
    ("ingest metadata 50 deep (a guard: typed before)", INGEST, lambda w: {"input": {"events": [_event(metadata={"a": nested(50)})]}}, ["events", "0", "metadata", "a"]),
]


@pytest.mark.parametrize("name, operation, variables, path", MUTATION_CASES, ids=[c[0] for c in MUTATION_CASES])
async def test_mutations_answer_a_validation_error(api, org, world, session_factory, name, operation, variables, path):
    events_before = await count_rows(session_factory, "events")
    response = await api.post(operation, variables(world), token=org.token)
    assert response.status_code == 200, response.text
    body = response.json()
    assert not body.get("errors"), body["errors"]
    result = next(iter(body["data"].values()))
    assert result["__typename"] == "ValidationError", result
    assert path in [f["path"] for f in result["fields"]], result
    assert await count_rows(session_factory, "events") == events_before


@pytest.mark.parametrize("timestamp", EXTREME_TIMES)
async def test_ingest_refuses_timestamps_out_of_range(api, org, world, session_factory, timestamp):
    response = await api.post(INGEST, {"input": {"events": [_event(timestamp=timestamp)]}}, token=org.token)
    body = response.json()
    # the DateTime scalar refuses it before the resolver: a variable of the wrong type
    assert response.status_code == 200 and body["data"] is None, body
    assert [e["extensions"]["code"] for e in body["errors"]] == ["GRAPHQL_VALIDATION_FAILED"], body
    assert "out of range" in body["errors"][0]["message"]
    rest = await api.client.post(
        "/v1/events/ingest",
        json={"events": [{"name": "api_call", "external_customer_id": "c1", "timestamp": timestamp}]},
        headers={"Authorization": f"Bearer {org.token}"},
    )
    assert rest.status_code == 422, rest.text
    assert rest.json()["detail"][0]["loc"] == ["body", "events", 0, "timestamp"]
    assert await count_rows(session_factory, "events") == 0


CONNECTIONS = {
    "customers": "customers(first: 5, after: $after) { nodes { id } }",
    "products": "products(first: 5, after: $after) { nodes { id } }",
    "meters": "meters(first: 5, after: $after) { nodes { id } }",
    "events": "events(first: 5, after: $after) { nodes { id } }",
    "webhookEndpoints": "webhookEndpoints(first: 5, after: $after) { nodes { id } }",
    "webhookEvents": "webhookEvents(first: 5, after: $after) { nodes { id } }",
}

# (name, query, variables): queries answer a top-level BAD_USER_INPUT (a DateTime out of range is
# refused by the scalar itself, before the query runs: GRAPHQL_VALIDATION_FAILED, like any
# variable of the wrong type)
QUERY_CASES = [
    ("customer by NUL external id", "query($v: String) { customer(externalId: $v) { id } }", {"v": "\x00"}),
    ("customers filtered by NUL external id", "query($v: String) { customers(first: 5, filter: {externalId: $v}) { nodes { id } } }", {"v": "a\x00"}),
    ("customers filtered by NUL email", "query($v: String) { customers(first: 5, filter: {email: $v}) { nodes { id } } }", {"v": "a\x00@x.com"}),
    ("customers searched with NUL", "query($v: String) { customers(first: 5, filter: {search: $v}) { nodes { id } } }", {"v": "\x00"}),
    ("products searched with NUL", "query($v: String) { products(first: 5, filter: {search: $v}) { nodes { id } } }", {"v": "\x00"}),
    ("events filtered by NUL name", "query($v: String) { events(first: 5, filter: {name: $v}) { nodes { id } } }", {"v": "\x00"}),
    ("billing status of NUL external id", "query($v: String) { billingStatus(externalCustomerId: $v) { status } }", {"v": "\x00"}),
    ("quota check of NUL external id", "query($v: String) { checkQuota(externalCustomerId: $v) { allowed } }", {"v": "c\x00"}),
    ("quota check of NUL units (a guard: typed before)", "query($v: String) { checkQuota(externalCustomerId: \"c1\", units: $v) { allowed } }", {"v": "1\x00"}),
    *[
        (f"{time} after {bound}", f"query($v: DateTime) {{ {field}(first: 5, filter: {{{bound}: $v}}) {{ nodes {{ id }} }} }}", {"v": time})
        for time in EXTREME_TIMES
        for field, bound in (("customers", "createdAfter"), ("events", "timestampBefore"))
    ],
    *[
        (f"forged cursor {i} on {name}", f"query($after: String) {{ {selection} }}", {"after": cursor})
        for name, selection in CONNECTIONS.items()
        for i, cursor in enumerate(FORGED_CURSORS)
        if not (name == "webhookEvents" and cursor == FORGED_CURSORS[3])  # webhook events sort by a number
    ],
]


@pytest.mark.parametrize("name, query, variables", QUERY_CASES, ids=[c[0] for c in QUERY_CASES])
async def test_queries_answer_bad_user_input(api, org, world, name, query, variables):
    response = await api.post(query, variables, token=org.token)
    assert response.status_code == 200, response.text
    body = response.json()
    assert body.get("errors"), body
    expected = "GRAPHQL_VALIDATION_FAILED" if "DateTime" in query else "BAD_USER_INPUT"
    assert {e["extensions"]["code"] for e in body["errors"]} == {expected}, body


# (name, raw body, expected message fragment): the request itself is unusable
ENVELOPES = [
    ("empty query", json.dumps({"query": ""}).encode(), "query"),
    ("blank query", json.dumps({"query": "  \n"}).encode(), "query"),
    ("operationName a number", json.dumps({"query": "{ organization { id } }", "operationName": 5}).encode(), "operationName"),
    ("operationName a list", json.dumps({"query": "{ organization { id } }", "operationName": ["a"]}).encode(), "operationName"),
    ("operationName unknown", json.dumps({"query": "query A { organization { id } }", "operationName": "B"}).encode(), "B"),
    ("100,000 [", b"[" * 100_000, "nested"),
    ("variables 2,000 deep", deep_body({"query": "{ organization { id } }", "variables": {"v": "DEEP"}}, 2000), "nested"),
    ("metadata 2,000 deep", deep_body({"query": CREATE_CUSTOMER, "variables": {"input": {"email": "a@example.com", "metadata": {"k": "DEEP"}}}}, 2000), "nested"),
    ("metadata 100 deep", deep_body({"query": CREATE_CUSTOMER, "variables": {"input": {"email": "a@example.com", "metadata": {"k": "DEEP"}}}}, 100), "nested"),
]


@pytest.mark.parametrize("name, body, fragment", ENVELOPES, ids=[c[0] for c in ENVELOPES])
async def test_bad_envelopes_answer_bad_request(api, org, name, body, fragment):
    response = await api.client.post(
        "/graphql", content=body, headers={"Authorization": f"Bearer {org.token}", "Content-Type": "application/json"}
    )
    assert response.status_code == 400, response.text
    answer = response.json()
    assert answer["data"] is None
    assert [e["extensions"]["code"] for e in answer["errors"]] == ["BAD_REQUEST"], answer
    assert fragment in answer["errors"][0]["message"]


def _rest_event(**changes: Any) -> dict:
    event = {"name": "api_call", "external_customer_id": "c1", "external_id": "e1", "metadata": {"tokens": 1}}
    event.update(changes)
    return event


# (name, raw body, status, loc of the first detail or None)
REST_INGEST_CASES = [
    ("100,000 [", b"[" * 100_000, 400, None),
    ("body 2,000 deep", deep_body({"events": "DEEP"}, 2000), 400, None),
    ("metadata 2,000 deep", deep_body({"events": [_rest_event(metadata={"a": "DEEP"})]}, 2000), 400, None),
    # deep but decodable: the ingest rules name the field (REST bodies are not walked, see app/kit/bodies.py)
    ("metadata 100 deep", deep_body({"events": [_rest_event(metadata={"a": "DEEP"})]}, 100), 422, ["body", "events", 0, "metadata", "a"]),
    ("name NUL", json.dumps({"events": [_rest_event(name="a\x00")]}).encode(), 422, ["body", "events", 0, "name"]),
    ("name control", json.dumps({"events": [_rest_event(name="a\x1f")]}).encode(), 422, ["body", "events", 0, "name"]),
    ("external id NUL", json.dumps({"events": [_rest_event(external_id="\x00")]}).encode(), 422, ["body", "events", 0, "external_id"]),
    ("external customer id NUL", json.dumps({"events": [_rest_event(external_customer_id="c1\x00")]}).encode(), 422, ["body", "events", 0, "external_customer_id"]),
    ("external member id tab", json.dumps({"events": [_rest_event(external_member_id="m\t")]}).encode(), 422, ["body", "events", 0, "external_member_id"]),
    ("metadata key NUL", json.dumps({"events": [_rest_event(metadata={"a\x00": 1})]}).encode(), 422, ["body", "events", 0, "metadata", "a\x00"]),
    ("metadata value NUL", json.dumps({"events": [_rest_event(metadata={"a": "\x00"})]}).encode(), 422, ["body", "events", 0, "metadata", "a"]),
    ("metadata value escape", json.dumps({"events": [_rest_event(metadata={"a": "\x1b[31m"})]}).encode(), 422, ["body", "events", 0, "metadata", "a"]),
]


@pytest.mark.parametrize("name, body, status, loc", REST_INGEST_CASES, ids=[c[0] for c in REST_INGEST_CASES])
async def test_rest_ingest_answers_4xx(api, org, world, session_factory, name, body, status, loc):
    response = await api.client.post(
        "/v1/events/ingest", content=body, headers={"Authorization": f"Bearer {org.token}", "Content-Type": "application/json"}
    )
    assert response.status_code == status, response.text
    answer = response.json()
    assert set(answer) == {"error", "detail"}, answer
    if loc is not None:
        assert answer["error"] == "VALIDATION_ERROR"
        assert loc in [d["loc"] for d in answer["detail"]], answer
    else:
        assert answer["error"] == "BAD_REQUEST"
    assert await count_rows(session_factory, "events") == 0


async def test_rest_ingest_keeps_free_text_whitespace_in_metadata(api, org, world, session_factory):
    """Tabs and newlines are ordinary text in metadata values (not in keys, names or ids)."""
    body = {"events": [_rest_event(metadata={"prompt": "line 1\nline 2\tend\r\n"})]}
    response = await api.client.post("/v1/events/ingest", json=body, headers={"Authorization": f"Bearer {org.token}"})
    assert response.json() == {"inserted": 1, "duplicates": 0}


# The ids and `units` of the REST queries (customer_id, member_id, meter_id, units) were refused
# before too: guards.
REST_QUERY_CASES = [
    ("/v1/billing-status", {"external_customer_id": "\x00"}, "external_customer_id"),
    ("/v1/billing-status", {"external_customer_id": "c1\x00x"}, "external_customer_id"),
    ("/v1/billing-status", {"customer_id": "\x00"}, "customer_id"),
    ("/v1/billing-status", {"external_customer_id": "c1", "member_id": "\x00"}, "member_id"),
    ("/v1/quota/check", {"external_customer_id": "\x00"}, "external_customer_id"),
    ("/v1/quota/check", {"external_customer_id": "c1", "units": "1\x00"}, "units"),
    ("/v1/quota/check", {"external_customer_id": "c1", "meter_id": "m\x00"}, "meter_id"),
    ("/v1/quota/check", {"external_customer_id": "x" * 5000}, "external_customer_id"),
]


@pytest.mark.parametrize("path, params, field", REST_QUERY_CASES)
async def test_rest_query_parameters_answer_422(api, org, world, path, params, field):
    response = await api.client.get(path, params=params, headers={"Authorization": f"Bearer {org.token}"})
    assert response.status_code == 422, response.text
    answer = response.json()
    assert answer["error"] == "VALIDATION_ERROR"
    assert ["query", field] in [d["loc"] for d in answer["detail"]], answer


@pytest.mark.parametrize(
    "field, value", [("description", "\x00"), ("url", "https://exa\x00mple.com/"), ("url", "https://example.com/a\x00"), ("url", "https://exa\nmple.com/")]
)
async def test_webhook_endpoint_text_refuses_control_characters(api, org, field, value):
    values = {"url": "https://example.com/hook", "eventTypes": ["CUSTOMER_CREATED"], "enabled": True, field: value}
    response = await api.post(CREATE_WEBHOOK, {"input": values}, token=org.token)
    result = response.json()["data"]["createWebhookEndpoint"]
    assert result["__typename"] == "ValidationError", result
    assert [f["path"] for f in result["fields"]] == [[field]]


async def test_an_error_that_nulls_the_answer_while_batches_run_is_not_a_500(api, org, world):
    """`totalCount` is refused on this list (BAD_USER_INPUT) and, the field being non-null, the
    whole answer becomes null while the deliveries' dataloader batch still runs; graphql-core
    cancels it. The cancelled batch used to break the connection under the session's close:
    a 500 (found by the fuzz test)."""
    query = "query { webhookEvents(first: 10) { nodes { id deliveries { id } } totalCount } }"
    for _ in range(5):
        response = await api.post(query, token=org.token)
        assert response.status_code == 200, response.text
        assert [e["extensions"]["code"] for e in response.json()["errors"]] == ["BAD_USER_INPUT"]
    siblings = "query { a: customers(first: 0) { nodes { id } } b: customers(first: 10) { nodes { id members { id } } } }"
    response = await api.post(siblings, token=org.token)
    assert response.status_code == 200, response.text
    assert (await api.data("{ organization { id } }", token=org.token))["organization"]["id"]


# -- the last resort: a value validation let through, refused by PostgreSQL as data ---------------


@pytest.fixture
def no_text_rule(monkeypatch):
    """Switches the control-character rule off, so that NUL reaches PostgreSQL (which refuses it)."""
    import app.customers.service as customers
    import app.events.service as events
    import app.kit.validation as validation

    monkeypatch.setattr(validation, "has_control_characters", lambda value, free_text=False: False)
    monkeypatch.setattr(customers, "check_lookup_text", lambda fields: None)
    monkeypatch.setattr(events, "_CONTROL", lambda value: None)


async def test_a_database_data_error_is_a_typed_error_not_a_500(api, org, world, session_factory, no_text_rule, caplog):
    caplog.set_level("INFO")
    mutation = await api.post(CREATE_CUSTOMER, {"input": {"email": "a@example.com", "name": "a\x00b"}}, token=org.token)
    result = mutation.json()["data"]["createCustomer"]
    assert result["__typename"] == "ValidationError", result
    assert [(f["path"], f["code"]) for f in result["fields"]] == [([], "invalid_value")]

    ingest = (await api.post(INGEST, {"input": {"events": [_event(name="a\x00")]}}, token=org.token)).json()["data"]["ingestEvents"]
    assert [(f["path"], f["code"]) for f in ingest["fields"]] == [([], "invalid_value")], ingest

    query = await api.post("query($v: String) { customer(externalId: $v) { id } }", {"v": "\x00"}, token=org.token)
    assert [e["extensions"]["code"] for e in query.json()["errors"]] == ["BAD_USER_INPUT"], query.text

    rest = await api.client.post(
        "/v1/events/ingest", json={"events": [_rest_event(name="a\x00")]}, headers={"Authorization": f"Bearer {org.token}"}
    )
    assert rest.status_code == 422, rest.text
    assert rest.json() == {"error": "VALIDATION_ERROR", "detail": [{"loc": ["body"], "msg": "holds a value the database cannot store or compare", "type": "invalid_value"}]}
    quota = await api.client.get("/v1/quota/check", params={"external_customer_id": "\x00"}, headers={"Authorization": f"Bearer {org.token}"})
    assert quota.status_code == 422, quota.text
    assert quota.json()["detail"][0]["loc"] == ["query"]

    assert await count_rows(session_factory, "events") == 0
    assert (await api.data("{ organization { id } }", token=org.token))["organization"]["id"]  # the session is usable again
    refused = [r for r in caplog.records if "refused by the database" in r.getMessage()]
    assert len(refused) == 5 and {r.levelname for r in refused} == {"INFO"}


@pytest.mark.parametrize("time", EXTREME_TIMES)
async def test_a_timestamp_out_of_range_in_a_query_literal_is_named_not_masked(api, org, time):
    """A scalar refusing a literal of the query text used to reach the client masked as
    `Unexpected error.`."""
    body = (await api.post(f'{{ events(first: 5, filter: {{timestampAfter: "{time}"}}) {{ nodes {{ id }} }} }}', token=org.token)).json()
    assert body["data"] is None
    assert [e["extensions"]["code"] for e in body["errors"]] == ["GRAPHQL_VALIDATION_FAILED"]
    assert "out of range" in body["errors"][0]["message"], body
