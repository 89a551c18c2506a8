"""Every aggregation, with filters, against the plain-Python reference on generated data; and the
incremental totals equal a from-scratch count after concurrent ingestion."""

from __future__ import annotations

import asyncio
import random
from decimal import Decimal

from app.kit.ids import from_global_id
from tests.conftest import as_owner, make_org
from tests.meters.helpers import CREATE_METER, billing, by_meter, ingest_rest
from tests.meters.reference import consumed, filter_matches
from tests.operations import create_business, create_customer

NAMES = ["api_call", "image.generate", "login", "api_call_batch"]
MODELS = ["gpt-small", "gpt-large", "claude", "gemini-pro"]

# (name, filter, aggregation) in the service's own shapes; converted to GraphQL inputs below
METERS = [
    ("all calls", {"conjunction": "and", "clauses": [{"property": "name", "operator": "eq", "value": "api_call"}]}, {"func": "count", "property": None}),
    ("everything", {"conjunction": "and", "clauses": []}, {"func": "count", "property": None}),
    ("tokens", {"conjunction": "and", "clauses": [{"property": "name", "operator": "like", "value": "api_call"}]}, {"func": "sum", "property": "tokens"}),
    ("big requests", {"conjunction": "and", "clauses": [{"property": "tokens", "operator": "gte", "value": 500}]}, {"func": "count", "property": None}),
    ("max tokens not login", {"conjunction": "and", "clauses": [{"property": "name", "operator": "ne", "value": "login"}]}, {"func": "max", "property": "metadata.tokens"}),
    ("min latency", {"conjunction": "and", "clauses": [{"property": "latency", "operator": "lt", "value": 250.5}]}, {"func": "min", "property": "latency"}),
    ("avg latency premium", {"conjunction": "and", "clauses": [{"property": "premium", "operator": "eq", "value": True}]}, {"func": "avg", "property": "latency"}),
    ("unique models", {"conjunction": "and", "clauses": []}, {"func": "unique", "property": "model"}),
    ("gpt usage", {"conjunction": "and", "clauses": [{"property": "model", "operator": "like", "value": "gpt"}]}, {"func": "sum", "property": "tokens"}),
    ("non gpt", {"conjunction": "and", "clauses": [{"property": "model", "operator": "not_like", "value": "gpt"}]}, {"func": "count", "property": None}),
    (
        "images or large",
        {
            "conjunction": "or",
            "clauses": [
                {"property": "name", "operator": "eq", "value": "image.generate"},
                {"conjunction": "and", "clauses": [{"property": "model", "operator": "eq", "value": "gpt-large"}, {"property": "tokens", "operator": "gt", "value": 100}]},
            ],
        },
        {"func": "sum", "property": "tokens"},
    ),
    ("region not eu", {"conjunction": "and", "clauses": [{"property": "region", "operator": "ne", "value": "eu"}]}, {"func": "unique", "property": "region"}),
    ("tokens lte 10", {"conjunction": "and", "clauses": [{"property": "tokens", "operator": "lte", "value": 10}]}, {"func": "count", "property": None}),
    ("string tokens eq", {"conjunction": "and", "clauses": [{"property": "tokens", "operator": "eq", "value": "many"}]}, {"func": "count", "property": None}),
]


def to_graphql_filter(definition: dict) -> dict:
    clauses = []
    for clause in definition["clauses"]:
        if "clauses" in clause:
            clauses.append({"filter": to_graphql_filter(clause)})
        else:
            clauses.append({"condition": {"property": clause["property"], "operator": clause["operator"].upper(), "value": clause["value"]}})
    return {"conjunction": definition["conjunction"].upper(), "clauses": clauses}


def random_event(rng: random.Random, index: int, customer: str, members: list[str]) -> dict:
    metadata: dict = {}
    roll = rng.random()
    if roll < 0.75:
        metadata["tokens"] = rng.randint(0, 1000)
    elif roll < 0.85:
        metadata["tokens"] = round(rng.uniform(0, 900), 2)
    elif roll < 0.9:
        metadata["tokens"] = "many"
    if rng.random() < 0.8:
        metadata["model"] = rng.choice(MODELS)
    if rng.random() < 0.6:
        metadata["latency"] = round(rng.uniform(1, 800), 1)
    if rng.random() < 0.5:
        metadata["premium"] = rng.random() < 0.5
    if rng.random() < 0.5:
        metadata["region"] = rng.choice(["eu", "us", "apac"])
    event = {"name": rng.choice(NAMES), "external_customer_id": customer, "external_id": f"{customer}-{index}", "metadata": metadata}
    if members and rng.random() < 0.7:
        event["external_member_id"] = rng.choice(members)
    return event


async def make_meters(live, token: str) -> dict[str, dict]:
    created = {}
    for name, definition, aggregation in METERS:
        graphql_aggregation = {"func": aggregation["func"].upper(), "property": aggregation["property"]}
        result = (await live.api.data(CREATE_METER, {"input": {"name": name, "filter": to_graphql_filter(definition), "aggregation": graphql_aggregation}}, token=token))["createMeter"]
        assert result["__typename"] == "MeterSuccess", result
        created[name] = {"id": result["meter"]["id"], "filter": definition, "aggregation": aggregation}
    return created


async def check_against_reference(live, token: str, meters: dict, sent: dict[str, list[dict]], member_ids: dict[str, str]) -> None:
    for customer, events in sent.items():
        status = by_meter(await billing(live.api, token, externalCustomerId=customer))
        for name, meter in meters.items():
            assert Decimal(status[name]["consumed"]) == consumed(meter, events), (customer, name)
        for external_member, member_id in member_ids.items():
            if not external_member.startswith(customer):
                continue
            mine = [e for e in events if e.get("external_member_id") == external_member]
            member_status = by_meter(await billing(live.api, token, externalCustomerId=customer, memberId=member_id))
            for name, meter in meters.items():
                assert Decimal(member_status[name]["memberConsumed"]) == consumed(meter, mine), (customer, external_member, name)


async def check_against_recompute(live, organization_id, meters: dict) -> None:
    """The stored totals (customer and per member) equal the plain-Python reference run over the
    events as they are stored in the database, read back row by row (not the SQL that counts)."""
    from sqlalchemy import select

    from app.models import Customer, CustomerMeter, CustomerMeterMember, Event, Member

    async with live.session_factory() as session, as_owner(session):
        customers = (await session.scalars(select(Customer).where(Customer.organization_id == organization_id))).all()
        for customer in customers:
            rows = (
                await session.scalars(
                    select(Event).where(Event.organization_id == organization_id, Event.source == "user", Event.external_customer_id == customer.external_id)
                )
            ).all()
            members = {m.external_id: m.id for m in (await session.scalars(select(Member).where(Member.customer_id == customer.id))).all()}
            events = [
                {"name": row.name, "metadata": row.user_metadata, "member_id": row.member_id or members.get(row.external_member_id)}
                for row in rows
            ]
            for name, meter in meters.items():
                meter_id = from_global_id(meter["id"])[1]
                stored = await session.scalar(
                    select(CustomerMeter).where(CustomerMeter.customer_id == customer.id, CustomerMeter.meter_id == meter_id)
                )
                assert stored is not None, (customer.external_id, name)
                assert Decimal(stored.consumed) == consumed(meter, events), (customer.external_id, name)
                assert Decimal(stored.credited) == 0  # these scenarios grant no credits
                if meter["aggregation"]["func"] == "unique":
                    continue
                stored_members = (
                    await session.scalars(
                        select(CustomerMeterMember).where(CustomerMeterMember.customer_id == customer.id, CustomerMeterMember.meter_id == meter_id)
                    )
                ).all()
                expected = {
                    member_id: consumed(meter, [e for e in events if e["member_id"] == member_id])
                    for member_id in {e["member_id"] for e in events if e["member_id"] is not None}
                }
                expected = {k: v for k, v in expected.items() if any(e["member_id"] == k and filter_matches(meter["filter"], e) for e in events)}
                assert {m.member_id: Decimal(m.consumed) for m in stored_members if m.event_count} == expected, (customer.external_id, name)


async def test_aggregations_match_the_reference(live):
    rng = random.Random(20261121)
    org = await make_org(live.session_factory)
    acme = await create_business(live.api, org.token, prefix="acme", members=3)
    solo = await create_customer(live.api, org.token, email="solo@example.com", externalId="solo")
    member_ids = {m["externalId"]: m["id"] for m in acme["members"] if m["externalId"]}
    meters = await make_meters(live, org.token)
    sent: dict[str, list[dict]] = {"acme": [], "solo": []}
    members = {"acme": [k for k in member_ids if k.startswith("acme-m")], "solo": []}
    index = 0
    for round_ in range(3):  # several batches and worker runs: incremental updates
        batch = []
        for _ in range(150):
            customer = rng.choice(["acme", "solo"])
            event = random_event(rng, index, customer, members[customer])
            index += 1
            batch.append(event)
            sent[customer].append(event)
        response = await ingest_rest(live.api, org.token, batch)
        assert response.json() == {"inserted": 150, "duplicates": 0}, response.text
        await live.run_worker()
    assert solo["externalId"] == "solo"
    await check_against_reference(live, org.token, meters, sent, member_ids)
    await check_against_recompute(live, org.id, meters)


async def test_incremental_equals_recompute_after_concurrent_ingestion(live):
    rng = random.Random(7)
    org = await make_org(live.session_factory)
    acme = await create_business(live.api, org.token, prefix="acme", members=2)
    member_ids = {m["externalId"]: m["id"] for m in acme["members"] if m["externalId"]}
    meters = await make_meters(live, org.token)
    sent: dict[str, list[dict]] = {"acme": []}
    members = [k for k in member_ids if k.startswith("acme-m")]

    async def producer(task: int) -> None:
        for batch_number in range(6):
            batch = [random_event(rng, task * 100_000 + batch_number * 1000 + i, "acme", members) for i in range(40)]
            sent["acme"].extend(batch)
            response = await ingest_rest(live.api, org.token, batch)
            assert response.status_code == 200, response.text
            await asyncio.sleep(rng.random() / 50)

    async def worker_loop(stop: asyncio.Event) -> None:
        while not stop.is_set():  # the worker runs while ingestion goes on
            await live.run_worker()
            await asyncio.sleep(0.01)

    stop = asyncio.Event()
    worker = asyncio.create_task(worker_loop(stop))
    await asyncio.gather(*(producer(task) for task in range(5)))
    stop.set()
    await worker
    await live.run_worker()
    # a duplicate of an already counted event changes nothing
    response = await ingest_rest(live.api, org.token, [dict(sent["acme"][0])])
    assert response.json() == {"inserted": 0, "duplicates": 1}
    await live.run_worker()
    await check_against_reference(live, org.token, meters, sent, member_ids)
    await check_against_recompute(live, org.id, meters)
