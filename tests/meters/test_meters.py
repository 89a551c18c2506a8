"""Meter definitions, billing status, thresholds, state-change webhooks, quota checks."""

from __future__ import annotations

import json
from decimal import Decimal

import pytest

from tests.conftest import count_rows, make_org
from tests.meters.helpers import CREATE_METER, GRANT, billing, by_meter, condition, create_meter, ingest_rest, meter_input
from tests.operations import create_customer
from tests.webhooks.receiver import Receiver

QUOTA = """
query($externalCustomerId: String, $meterId: ID, $units: String) {
  checkQuota(externalCustomerId: $externalCustomerId, meterId: $meterId, units: $units) {
    allowed reason meters { meter { name } remaining status }
  }
}
"""


@pytest.mark.parametrize(
    "input, path",
    [
        (meter_input("m", [condition("name", "gt", 5)]), ["filter", "clauses", "0", "value"]),
        (meter_input("m", [condition("tokens", "gt", "five")]), ["filter", "clauses", "0", "value"]),
        (meter_input("m", [condition("model", "like", 3)]), ["filter", "clauses", "0", "value"]),
        (meter_input("m", [condition("", "eq", "x")]), ["filter", "clauses", "0", "property"]),
        (meter_input("m", [condition("k" * 41, "eq", "x")]), ["filter", "clauses", "0", "property"]),
        (meter_input("m", [condition("tokens", "eq", {"a": 1})]), ["filter", "clauses", "0", "value"]),
        (meter_input("m", [], "SUM", None), ["aggregation", "property"]),
        (meter_input("m", [], "COUNT", "tokens"), ["aggregation", "property"]),
        (meter_input("m", [], "SUM", "name"), ["aggregation", "property"]),
        (meter_input("", []), ["name"]),
        (
            meter_input("m", [{"filter": {"clauses": [{"filter": {"clauses": [{"filter": {"clauses": []}}]}}]}}]),
            ["filter", "clauses", "0", "clauses", "0", "clauses", "0"],
        ),
    ],
)
async def test_invalid_meter_definitions(api, org, session_factory, input, path):
    result = (await api.data(CREATE_METER, {"input": input}, token=org.token))["createMeter"]
    assert result["__typename"] == "ValidationError", result
    assert result["fields"][0]["path"] == path
    assert await count_rows(session_factory, "meters") == 0


async def test_a_oneof_clause_with_both_members_is_refused(api, org):
    clause = {"condition": {"property": "name", "operator": "EQ", "value": "x"}, "filter": {"clauses": []}}
    body = await api.gql(CREATE_METER, {"input": meter_input("m", [clause])}, token=org.token)
    assert body["errors"][0]["extensions"]["code"] == "GRAPHQL_VALIDATION_FAILED"


async def test_meters_are_isolated(api, org, other_org):
    meter = await create_meter(api, org.token, "calls", [condition("name", "eq", "x")])
    assert (await api.data("{ meters(first: 10) { edges { node { id } } } }", token=other_org.token))["meters"]["edges"] == []
    assert (await api.data("query($id: ID!) { node(id: $id) { id } }", {"id": meter["id"]}, token=other_org.token))["node"] is None
    result = await api.data("mutation($id: ID!) { archiveMeter(input: {id: $id}) { __typename } }", {"id": meter["id"]}, token=other_org.token)
    assert result["archiveMeter"]["__typename"] == "NotFoundError"


async def test_thresholds_status_and_one_webhook_per_crossing(live):
    receiver = Receiver()
    try:
        org = await make_org(live.session_factory)
        api = live.api
        endpoint = await api.data(
            "mutation($url: String!) { createWebhookEndpoint(input: {url: $url, eventTypes: [CUSTOMER_STATE_CHANGED]}) { __typename } }",
            {"url": receiver.url},
            token=org.token,
        )
        assert endpoint["createWebhookEndpoint"]["__typename"] == "CreateWebhookEndpointSuccess"
        customer = await create_customer(api, org.token, email="q@example.com", externalId="q")
        meter = await create_meter(api, org.token, "calls", [condition("name", "eq", "call")])
        await api.data(GRANT, {"input": {"customerId": customer["id"], "meterId": meter["id"], "units": "100"}}, token=org.token)
        statuses = []
        for count in (50, 30, 5, 10, 1, 20):  # 50, 80, 85, 95, 96, 116 % used
            response = await ingest_rest(api, org.token, [{"name": "call", "external_customer_id": "q"}] * count)
            assert response.status_code == 200
            await live.run_worker()
            status = await billing(api, org.token, externalCustomerId="q")
            statuses.append((by_meter(status)["calls"]["status"], status["status"]))
        assert statuses == [
            ("OK", "OK"),
            ("WARNING", "WARNING"),
            ("WARNING", "WARNING"),
            ("CRITICAL", "CRITICAL"),
            ("CRITICAL", "CRITICAL"),
            ("EXCEEDED", "EXCEEDED"),
        ]
        calls = by_meter(await billing(api, org.token, externalCustomerId="q"))["calls"]
        assert (Decimal(calls["consumed"]), Decimal(calls["balance"]), Decimal(calls["remaining"])) == (116, -16, 0)
        changes = [json.loads(r.body)["data"] for r in receiver.requests]
        assert [(c["previousStatus"], c["status"]) for c in changes] == [("OK", "WARNING"), ("WARNING", "CRITICAL"), ("CRITICAL", "EXCEEDED")]
        assert changes[0]["meter"]["id"] == meter["id"]
        assert changes[0]["customer"]["id"] == customer["id"]

        # more credit brings it back: one more crossing, downwards
        await api.data(GRANT, {"input": {"customerId": customer["id"], "meterId": meter["id"], "units": "200"}}, token=org.token)
        await live.run_worker()
        assert [json.loads(r.body)["data"]["status"] for r in receiver.requests][-1] == "OK"

        # the organization's own thresholds
        settings = await api.data(
            "mutation { updateOrganizationSettings(input: {warningThreshold: 10, criticalThreshold: 20, exceededThreshold: 30}) { __typename } }",
            token=org.token,
        )
        assert settings["updateOrganizationSettings"]["__typename"] == "UpdateOrganizationSettingsSuccess"
        assert (await billing(api, org.token, externalCustomerId="q"))["status"] == "EXCEEDED"  # 116 / 300 = 38.7 %
        bad = await api.data("mutation { updateOrganizationSettings(input: {warningThreshold: 90, criticalThreshold: 20}) { __typename } }", token=org.token)
        assert bad["updateOrganizationSettings"]["__typename"] == "ValidationError"
    finally:
        receiver.close()


async def test_quota_check_both_doors(live):
    org = await make_org(live.session_factory)
    api = live.api
    customer = await create_customer(api, org.token, email="p@example.com", externalId="p")
    meter = await create_meter(api, org.token, "images", [condition("name", "eq", "image")])
    unlimited = await create_meter(api, org.token, "logins", [condition("name", "eq", "login")])

    async def check(**variables):
        return (await api.data(QUOTA, {"externalCustomerId": "p", **variables}, token=org.token))["checkQuota"]

    assert (await check())["reason"] == "NO_QUOTA"
    await api.data(GRANT, {"input": {"customerId": customer["id"], "meterId": meter["id"], "units": "10"}}, token=org.token)
    await ingest_rest(api, org.token, [{"name": "image", "external_customer_id": "p"}] * 7)
    await live.run_worker()
    assert (await check(meterId=meter["id"], units="3")) ["allowed"] is True
    refused = await check(meterId=meter["id"], units="4")
    assert (refused["allowed"], refused["reason"]) == (False, "INSUFFICIENT_QUOTA")
    assert (await check(meterId=unlimited["id"], units="1000"))["reason"] == "NO_QUOTA"
    await ingest_rest(api, org.token, [{"name": "image", "external_customer_id": "p"}] * 3)
    await live.run_worker()
    exceeded = await check()
    assert (exceeded["allowed"], exceeded["reason"]) == (False, "QUOTA_EXCEEDED")

    headers = {"Authorization": f"Bearer {org.token}"}
    rest = await api.client.get("/v1/quota/check", params={"external_customer_id": "p"}, headers=headers)
    assert rest.status_code == 200
    assert rest.json()["allowed"] is False and rest.json()["reason"] == "quota_exceeded"
    status = await api.client.get("/v1/billing-status", params={"external_customer_id": "p"}, headers=headers)
    body = status.json()
    assert body["status"] == "exceeded"
    images = next(m for m in body["meters"] if m["name"] == "images")
    assert (images["consumed"], images["credited"], images["percent_used"]) == ("10", "10", "100")
    unknown = await api.client.get("/v1/billing-status", params={"external_customer_id": "nobody"}, headers=headers)
    assert unknown.status_code == 404
    both = await api.client.get("/v1/billing-status", params={"external_customer_id": "p", "customer_id": customer["id"]}, headers=headers)
    assert both.status_code == 422
    anonymous = await api.client.get("/v1/quota/check", params={"external_customer_id": "p"})
    assert anonymous.status_code == 401


async def test_reset_starts_a_new_period_and_redefinition_recounts(live):
    org = await make_org(live.session_factory)
    api = live.api
    customer = await create_customer(api, org.token, email="r@example.com", externalId="r")
    meter = await create_meter(api, org.token, "calls", [condition("name", "eq", "call")])
    await ingest_rest(api, org.token, [{"name": "call", "external_customer_id": "r", "metadata": {"tokens": 5}}] * 4)
    await api.data(GRANT, {"input": {"customerId": customer["id"], "meterId": meter["id"], "units": "10", "externalId": "g1"}}, token=org.token)
    again = await api.data(GRANT, {"input": {"customerId": customer["id"], "meterId": meter["id"], "units": "10", "externalId": "g1"}}, token=org.token)
    assert again["grantMeterCredit"]["recorded"] is False  # idempotent
    await live.run_worker()
    calls = by_meter(await billing(api, org.token, externalCustomerId="r"))["calls"]
    assert (Decimal(calls["consumed"]), Decimal(calls["credited"])) == (4, 10)

    reset = await api.data(
        "mutation($c: ID!, $m: ID!) { resetCustomerMeter(input: {customerId: $c, meterId: $m}) { __typename } }",
        {"c": customer["id"], "m": meter["id"]},
        token=org.token,
    )
    assert reset["resetCustomerMeter"]["__typename"] == "MeterEventSuccess"
    await ingest_rest(api, org.token, [{"name": "call", "external_customer_id": "r", "metadata": {"tokens": 7}}])
    await live.run_worker()
    calls = by_meter(await billing(api, org.token, externalCustomerId="r"))["calls"]
    assert (Decimal(calls["consumed"]), Decimal(calls["credited"])) == (1, 0)

    # counting tokens instead of calls recounts the current period
    update = await api.data(
        "mutation($id: ID!) { updateMeter(input: {id: $id, aggregation: {func: SUM, property: \"tokens\"}}) { __typename } }",
        {"id": meter["id"]},
        token=org.token,
    )
    assert update["updateMeter"]["__typename"] == "MeterSuccess"
    await live.run_worker()
    assert Decimal(by_meter(await billing(api, org.token, externalCustomerId="r"))["calls"]["consumed"]) == 7

    # archived meters leave billing status; unarchived they count again
    await api.data("mutation($id: ID!) { archiveMeter(input: {id: $id}) { __typename } }", {"id": meter["id"]}, token=org.token)
    assert (await billing(api, org.token, externalCustomerId="r"))["meters"] == []
    await api.data("mutation($id: ID!) { unarchiveMeter(input: {id: $id}) { __typename } }", {"id": meter["id"]}, token=org.token)
    await live.run_worker()
    assert Decimal(by_meter(await billing(api, org.token, externalCustomerId="r"))["calls"]["consumed"]) == 7


async def test_new_meter_counts_past_events(live):
    org = await make_org(live.session_factory)
    api = live.api
    await create_customer(api, org.token, email="h@example.com", externalId="h")
    await create_meter(api, org.token, "first", [])
    await ingest_rest(api, org.token, [{"name": "call", "external_customer_id": "h"}] * 5)
    await live.run_worker()
    await create_meter(api, org.token, "later", [condition("name", "eq", "call")])
    await live.run_worker()
    assert Decimal(by_meter(await billing(api, org.token, externalCustomerId="h"))["later"]["consumed"]) == 5


async def test_customer_meters_field_and_statement_count(api, org):
    from tests.operations import create_business

    await create_meter(api, org.token, "calls", [])
    for i in range(20):
        await create_business(api, org.token, prefix=f"b{i}", members=1)
    counts = []
    for first in (2, 20):
        body = await api.data(
            "query($f: Int!) { customers(first: $f) { edges { node { id meters { consumed meter { name } } } } } }", {"f": first}, token=org.token
        )
        assert len(body["customers"]["edges"]) == first
        counts.append(api.last_statement_count)
    assert counts[0] == counts[1]


async def test_credit_on_an_archived_meter_is_refused(api, org, session_factory):
    customer = await create_customer(api, org.token, email="a@example.com")
    meter = await create_meter(api, org.token, "calls", [])
    await api.data("mutation($id: ID!) { archiveMeter(input: {id: $id}) { __typename } }", {"id": meter["id"]}, token=org.token)
    result = (await api.data(GRANT, {"input": {"customerId": customer["id"], "meterId": meter["id"], "units": "5"}}, token=org.token))["grantMeterCredit"]
    assert result["__typename"] == "MeterArchivedError"
    assert result["code"] == "METER_ARCHIVED"
    assert await count_rows(session_factory, "events") == 0


async def test_events_of_a_member_include_those_sent_by_its_external_id(api, org):
    from tests.operations import create_business

    business = await create_business(api, org.token, prefix="acme", members=1)
    member = next(m for m in business["members"] if m["role"] == "MEMBER")
    await ingest_rest(
        api,
        org.token,
        [
            {"name": "by-id", "customer_id": business["id"], "member_id": member["id"]},
            {"name": "by-external", "external_customer_id": "acme", "external_member_id": member["externalId"]},
            {"name": "someone-else", "external_customer_id": "acme"},
        ],
    )
    body = await api.data("query($m: ID!) { events(first: 10, filter: {memberId: $m}) { edges { node { name } } } }", {"m": member["id"]}, token=org.token)
    assert sorted(e["node"]["name"] for e in body["events"]["edges"]) == ["by-external", "by-id"]
