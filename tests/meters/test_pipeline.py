"""From ingestion to billing status, through both doors and the worker."""

from __future__ import annotations

from decimal import Decimal

from tests.conftest import make_org
from tests.meters.helpers import GRANT, INGEST, billing, by_meter, condition, create_meter, ingest_rest
from tests.operations import create_business, create_customer


async def test_events_to_billing_status(live):
    org = await make_org(live.session_factory)
    api = live.api
    business = await create_business(api, org.token, prefix="acme", members=1)
    member = next(m for m in business["members"] if m["role"] == "MEMBER")
    calls = await create_meter(api, org.token, "calls", [condition("name", "eq", "api_call")])
    tokens = await create_meter(api, org.token, "tokens", [condition("name", "eq", "api_call")], "SUM", "tokens")
    response = await ingest_rest(
        api,
        org.token,
        [
            {"name": "api_call", "external_customer_id": "acme", "external_id": "e1", "metadata": {"tokens": 100}},
            {"name": "api_call", "external_customer_id": "acme", "external_member_id": "acme-m0", "external_id": "e2", "metadata": {"tokens": 50}},
            {"name": "other", "external_customer_id": "acme", "external_id": "e3"},
            {"name": "api_call", "external_customer_id": "acme", "external_id": "e1", "metadata": {"tokens": 999}},
        ],
    )
    assert response.status_code == 200, response.text
    assert response.json() == {"inserted": 3, "duplicates": 1}
    graphql = await api.data(
        INGEST,
        {"input": {"events": [{"name": "api_call", "customerId": business["id"], "memberId": member["id"], "metadata": {"tokens": 25}}]}},
        token=org.token,
    )
    assert graphql["ingestEvents"] == {"__typename": "IngestEventsSuccess", "inserted": 1, "duplicates": 0}
    grant = await api.data(GRANT, {"input": {"customerId": business["id"], "meterId": calls["id"], "units": "4"}}, token=org.token)
    assert grant["grantMeterCredit"]["recorded"] is True

    await live.run_worker()
    status = await billing(api, org.token, customerId=business["id"])
    meters = by_meter(status)
    assert Decimal(meters["calls"]["consumed"]) == 3
    assert Decimal(meters["calls"]["credited"]) == 4
    assert Decimal(meters["calls"]["percentUsed"]) == 75
    assert meters["calls"]["status"] == "OK"
    assert Decimal(meters["tokens"]["consumed"]) == 175
    assert meters["tokens"]["hasQuota"] is False
    customer_meters = await api.data(
        "query($id: ID!) { customer(id: $id) { meters { meter { name } consumed members { memberId consumed } } } }",
        {"id": business["id"]},
        token=org.token,
    )
    tokens_row = next(m for m in customer_meters["customer"]["meters"] if m["meter"]["name"] == "tokens")
    assert tokens_row["members"] == [{"memberId": member["id"], "consumed": "75"}]
    member_status = by_meter(await billing(api, org.token, customerId=business["id"], memberId=member["id"]))
    assert Decimal(member_status["tokens"]["memberConsumed"]) == 75
    assert Decimal(member_status["calls"]["memberConsumed"]) == 2


async def test_late_customer_gets_its_events(live):
    org = await make_org(live.session_factory)
    api = live.api
    await create_meter(api, org.token, "calls", [condition("name", "eq", "api_call")])
    response = await ingest_rest(api, org.token, [{"name": "api_call", "external_customer_id": "future"} for _ in range(3)])
    assert response.json() == {"inserted": 3, "duplicates": 0}
    await live.run_worker()
    customer = await create_customer(api, org.token, email="f@example.com", externalId="future")
    await live.run_worker()
    status = by_meter(await billing(api, org.token, externalCustomerId="future"))
    assert Decimal(status["calls"]["consumed"]) == 3
    events = await api.data(
        "query($c: ID!) { events(first: 10, filter: {customerId: $c}) { edges { node { name externalCustomerId } } } }",
        {"c": customer["id"]},
        token=org.token,
    )
    assert len(events["events"]["edges"]) == 3


async def test_sweep_finds_customers_whose_job_was_lost(live):
    from workers.meters import sweep

    org = await make_org(live.session_factory)
    api = live.api
    await create_customer(api, org.token, email="s@example.com", externalId="s")
    await create_meter(api, org.token, "calls", [condition("name", "eq", "call")])
    await ingest_rest(api, org.token, [{"name": "call", "external_customer_id": "s"}] * 2)
    await live.redis.flushdb()  # the update job is lost
    await live.run_worker()
    assert Decimal(by_meter(await billing(api, org.token, externalCustomerId="s"))["calls"]["consumed"]) == 0
    assert await sweep({"session_factory": live.session_factory, "redis": live.redis}) == 1
    await live.run_worker()
    assert Decimal(by_meter(await billing(api, org.token, externalCustomerId="s"))["calls"]["consumed"]) == 2
    assert await sweep({"session_factory": live.session_factory, "redis": live.redis}) == 0


async def test_external_id_given_later_counts_waiting_events(live):
    org = await make_org(live.session_factory)
    api = live.api
    customer = await create_customer(api, org.token, email="l@example.com")
    await create_meter(api, org.token, "calls", [condition("name", "eq", "call")])
    await ingest_rest(api, org.token, [{"name": "call", "customer_id": customer["id"]}])
    await ingest_rest(api, org.token, [{"name": "call", "external_customer_id": "later"}] * 2)
    await live.run_worker()
    result = await api.data(
        "mutation($id: ID!) { updateCustomer(input: {id: $id, externalId: \"later\"}) { __typename } }", {"id": customer["id"]}, token=org.token
    )
    assert result["updateCustomer"]["__typename"] == "UpdateCustomerSuccess"
    await live.run_worker()
    assert Decimal(by_meter(await billing(api, org.token, customerId=customer["id"]))["calls"]["consumed"]) == 3


async def test_recount_keeps_status_and_notifies_only_real_crossings(live):
    import json

    from tests.webhooks.receiver import Receiver
    from tests.meters.helpers import GRANT

    receiver = Receiver()
    try:
        org = await make_org(live.session_factory)
        api = live.api
        await api.data(
            "mutation($url: String!) { createWebhookEndpoint(input: {url: $url, eventTypes: [CUSTOMER_STATE_CHANGED]}) { __typename } }",
            {"url": receiver.url},
            token=org.token,
        )
        customer = await create_customer(api, org.token, email="k@example.com", externalId="k")
        meter = await create_meter(api, org.token, "calls", [condition("name", "eq", "call")])
        await api.data(GRANT, {"input": {"customerId": customer["id"], "meterId": meter["id"], "units": "2"}}, token=org.token)
        await ingest_rest(api, org.token, [{"name": "call", "external_customer_id": "k", "metadata": {"n": 1}}] * 3)
        await live.run_worker()
        assert [json.loads(r.body)["data"]["status"] for r in receiver.requests] == ["EXCEEDED"]
        # a recount that changes nothing sends nothing
        await api.data(
            "mutation($id: ID!) { updateMeter(input: {id: $id, filter: {clauses: [{condition: {property: \"name\", operator: EQ, value: \"call\"}}]}}) { __typename } }",
            {"id": meter["id"]},
            token=org.token,
        )
        await live.run_worker()
        assert len(receiver.requests) == 1
        # a recount that brings it back under the quota says so
        await api.data(
            "mutation($id: ID!) { updateMeter(input: {id: $id, filter: {clauses: [{condition: {property: \"name\", operator: EQ, value: \"nothing\"}}]}}) { __typename } }",
            {"id": meter["id"]},
            token=org.token,
        )
        await live.run_worker()
        assert [json.loads(r.body)["data"]["status"] for r in receiver.requests] == ["EXCEEDED", "OK"]
        assert Decimal(by_meter(await billing(api, org.token, externalCustomerId="k"))["calls"]["consumed"]) == 0
    finally:
        receiver.close()


async def test_sweep_finds_waiting_events_of_a_new_customer(live):
    from workers.meters import sweep

    org = await make_org(live.session_factory)
    api = live.api
    await create_meter(api, org.token, "calls", [condition("name", "eq", "call")])
    await ingest_rest(api, org.token, [{"name": "call", "external_customer_id": "w"}] * 2)
    await create_customer(api, org.token, email="w@example.com", externalId="w")
    await live.redis.flushdb()  # the job asked for by createCustomer is lost
    assert await sweep({"session_factory": live.session_factory, "redis": live.redis}) == 1
    await live.run_worker()
    assert Decimal(by_meter(await billing(api, org.token, externalCustomerId="w"))["calls"]["consumed"]) == 2


async def test_a_reset_starts_the_period_at_the_clocks_time(live, clock):
    """A reset is recorded at the clock's time: the events before it (by timestamp) stop counting,
    an event without a timestamp sent after it counts, whatever the real date."""
    from datetime import timedelta

    org = await make_org(live.session_factory)
    api = live.api
    customer = await create_customer(api, org.token, email="acme@example.com", externalId="acme")
    calls = await create_meter(api, org.token, "calls", [condition("name", "eq", "api_call")])
    start = clock.now()
    before = await ingest_rest(api, org.token, [{"name": "api_call", "external_customer_id": "acme", "external_id": "before"}])
    assert before.json()["inserted"] == 1
    clock.advance(timedelta(hours=1))
    reset = await api.data(
        "mutation($input: ResetCustomerMeterInput!) { resetCustomerMeter(input: $input) { __typename } }",
        {"input": {"customerId": customer["id"], "meterId": calls["id"]}},
        token=org.token,
    )
    assert reset["resetCustomerMeter"]["__typename"] == "MeterEventSuccess", reset
    late = (start + timedelta(minutes=30)).isoformat()  # sent after the reset, timestamped before it
    after = await ingest_rest(
        api,
        org.token,
        [
            {"name": "api_call", "external_customer_id": "acme", "external_id": "late", "timestamp": late},
            {"name": "api_call", "external_customer_id": "acme", "external_id": "now"},
        ],
    )
    assert after.json()["inserted"] == 2
    await live.run_worker()
    meters = await api.data(
        "query($id: ID!) { customer(id: $id) { meters { meter { name } consumed lastResetAt } } }", {"id": customer["id"]}, token=org.token
    )
    [row] = meters["customer"]["meters"]
    assert Decimal(row["consumed"]) == 1
    assert row["lastResetAt"].replace("Z", "+00:00") == (start + timedelta(hours=1)).isoformat()
