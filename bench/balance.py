"""Benchmark: billing status latency for a customer with 10,000 events against one with 1,000,000.

Run from the project root with the virtualenv's Python:

    .venv/bin/python bench/balance.py

It needs a PostgreSQL (trust auth, user `postgres`) on 127.0.0.1:5432 and a Redis on
127.0.0.1:6379; override them with BENCH_DATABASE_URL / BENCH_REDIS_URL. It drops and re-creates
the database of BENCH_DATABASE_URL (`kassa_bench_balance` by default), flushes the Redis database
of BENCH_REDIS_URL (db 10 by default; db 9 belongs to the test suite), migrates, starts
`kassa serve` on a free port, and through the GraphQL API creates an organization's 3 meters
(count of `api_call`, sum of `tokens`, unique `model`) and two customers, `small` and `big` (and
`warmup`, without events, on which the meter counting warms up before it is timed).

Sending a million events through the API would take most of the run, so the events are
bulk-loaded straight into the `events` table (COPY, 100,000 rows per transaction): 10,000 for
`small`, 1,000,000 for `big`. Then the meter job's work (`update_customer_meters`, what
`meters.update_customer` runs) counts them, in this process, and its time is reported: for `big`
it is a count from scratch over a million events. Every meter of both customers is checked
through `billingStatus` against the totals computed while generating the events.

Then `billingStatus(externalCustomerId:)` (GraphQL) and `GET /v1/billing-status` (REST) are timed
over HTTP, one request at a time, alternating `small` and `big` after a warm-up.

Figures are printed one per line as `name: value`; the last line is the one the benchmark is
judged by: the ratio of the GraphQL p50s, 1M events over 10k (target <= 1.5).
"""

from __future__ import annotations

import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))  # bench/ is not a package
import harness  # noqa: E402  (puts the project root on sys.path too)

import asyncio  # noqa: E402
import json  # noqa: E402
import random  # noqa: E402
import time  # noqa: E402
import uuid  # noqa: E402
from dataclasses import dataclass, field  # noqa: E402
from datetime import datetime, timedelta, timezone  # noqa: E402
from decimal import Decimal  # noqa: E402

import httpx  # noqa: E402

from harness import BenchError  # noqa: E402

DEFAULT_DATABASE_URL = "postgresql+asyncpg://postgres@127.0.0.1:5432/kassa_bench_balance"
DEFAULT_REDIS_URL = "redis://127.0.0.1:6379/10"

SMALL_EVENTS = 10_000
BIG_EVENTS = int(os.environ.get("BENCH_BIG_EVENTS") or 1_000_000)  # lower it for a quick try
COPY_CHUNK = 100_000
REQUESTS = 300  # timed, per customer and per endpoint
WARMUP_REQUESTS = 30  # per customer and per endpoint, not counted
COUNT_TIMEOUT = 600.0  # seconds to wait for the meters to be counted
SEED = 20_240_602
REQUEST_TIMEOUT = 60.0
TARGET = 1.5

MODELS = ("gpt-small", "gpt-large", "embed-v2", "vision-1", "audio-3", "tts-1", "whisper-2")

CREATE_CUSTOMER = """
mutation Create($input: CreateCustomerInput!) {
  createCustomer(input: $input) {
    __typename
    ... on CreateCustomerSuccess { customer { id externalId } }
    ... on Error { code message }
  }
}
"""

CREATE_METER = """
mutation CreateMeter($input: CreateMeterInput!) {
  createMeter(input: $input) {
    __typename
    ... on MeterSuccess { meter { id name } }
    ... on Error { code message }
  }
}
"""

BILLING_STATUS = """
query Status($externalCustomerId: String!) {
  billingStatus(externalCustomerId: $externalCustomerId) {
    status
    customerId
    meters { meter { id name } consumed credited balance remaining percentUsed status hasQuota }
  }
}
"""

_API_CALLS = {"conjunction": "AND", "clauses": [{"condition": {"property": "name", "operator": "EQ", "value": "api_call"}}]}
METERS = {
    "API calls": {"name": "API calls", "filter": _API_CALLS, "aggregation": {"func": "COUNT"}},
    "Tokens": {"name": "Tokens", "filter": _API_CALLS, "aggregation": {"func": "SUM", "property": "tokens"}},
    "Models": {"name": "Models", "filter": _API_CALLS, "aggregation": {"func": "UNIQUE", "property": "model"}},
}
CUSTOMERS = {"small": SMALL_EVENTS, "big": BIG_EVENTS}  # external id -> events
WARMUP_CUSTOMER = "warmup"  # no events: warms up the meter counting before it is timed


# -- database ----------------------------------------------------------------------------------


@dataclass
class Expected:
    """What each meter must show once the events are counted."""

    count: int = 0
    tokens: int = 0
    models: set[str] = field(default_factory=set)


def _records(organization_id: uuid.UUID, customer_id: uuid.UUID, external_id: str, count: int, rng: random.Random, expected: Expected):
    """The rows `ingest` would have written for `count` events sent by external customer id."""
    anchor = datetime.now(timezone.utc).replace(minute=0, second=0, microsecond=0)
    for i in range(count):
        tokens, model = rng.randrange(1, 4000), rng.choice(MODELS)
        expected.count += 1
        expected.tokens += tokens
        expected.models.add(model)
        yield (
            organization_id,
            "user",
            "api_call",
            anchor - timedelta(seconds=rng.randrange(30 * 24 * 3600), microseconds=rng.randrange(1_000_000)),
            customer_id,
            external_id,
            f"{external_id}-{i}",
            json.dumps({"tokens": tokens, "model": model, "premium": rng.random() < 0.2}, separators=(",", ":")),
        )


async def _bulk_load(database_url: str, organization_id: uuid.UUID) -> tuple[dict[str, uuid.UUID], dict[str, Expected], float]:
    """Load every customer's events; returns (customer ids, expected totals, seconds)."""
    import asyncpg

    columns = ["organization_id", "source", "name", "timestamp", "customer_id", "external_customer_id", "external_id", "metadata"]
    rng = random.Random(SEED)
    conn = await asyncpg.connect(**harness.pg_params(database_url))
    try:
        rows = await conn.fetch(
            "SELECT external_id, id FROM customers WHERE organization_id = $1 AND external_id = ANY($2::varchar[])",
            organization_id,
            [*CUSTOMERS, WARMUP_CUSTOMER],
        )
        ids = {row["external_id"]: row["id"] for row in rows}
        if set(ids) != {*CUSTOMERS, WARMUP_CUSTOMER}:
            raise BenchError(f"customers not found: {sorted({*CUSTOMERS, WARMUP_CUSTOMER} - set(ids))}")
        expected = {name: Expected() for name in CUSTOMERS}
        started = time.perf_counter()
        for name, count in CUSTOMERS.items():
            records = _records(organization_id, ids[name], name, count, rng, expected[name])
            for first in range(0, count, COPY_CHUNK):
                chunk = [next(records) for _ in range(min(COPY_CHUNK, count - first))]
                async with conn.transaction():  # one transaction per chunk, as many ingestions would be
                    await conn.copy_records_to_table("events", records=chunk, columns=columns)
        # Autovacuum would analyze the table soon after such a load; do it now so the plans do
        # not depend on when it happens to run.
        await conn.execute("ANALYZE events")
        seconds = time.perf_counter() - started
        stored = await conn.fetchval("SELECT count(*) FROM events WHERE organization_id = $1", organization_id)
        if stored != sum(CUSTOMERS.values()):
            raise BenchError(f"the events table holds {stored} events, expected {sum(CUSTOMERS.values())}")
    finally:
        await conn.close()
    return ids, expected, seconds


async def _count_meters(factory, scope, customer_id: uuid.UUID) -> tuple[float, int, list[str]]:
    """Run the meter job's work until nothing is pending: (seconds spent in the update calls,
    how many calls, meters counted from scratch). Rows of transactions newer than the oldest one
    still running anywhere in the cluster wait for a later run (see app/meters/aggregation.py): then
    this waits too, and only the time spent in the calls is counted."""
    from app.meters.aggregation import update_customer_meters

    spent, calls, recounted = 0.0, 0, []
    deadline = time.monotonic() + COUNT_TIMEOUT
    while True:
        async with factory() as session:
            started = time.perf_counter()
            result = await update_customer_meters(session, scope, customer_id)
            await session.commit()  # the job would also enqueue the webhooks it asked for: none here
            spent += time.perf_counter() - started
        calls += 1
        recounted += result.recounted
        if not result.more_pending:
            return spent, calls, recounted
        if time.monotonic() > deadline:
            raise BenchError(f"the meters of {customer_id} still had events pending after {COUNT_TIMEOUT:.0f}s")
        await asyncio.sleep(0.5)


async def _count_all(database_url: str, organization_id: uuid.UUID, ids: dict[str, uuid.UUID]) -> dict[str, tuple[float, int, list[str]]]:
    """What `meters.update_customer` does, in this process, as the worker does it (the
    application's role, a session acting for the organization): first for a customer without
    events (imports, mappers, statement caches and the connection warm up there, as in a
    running worker), then for each customer, timed."""
    from app.auth.service import job_scope
    from app.config import get_settings
    from app.kit.db import create_engine, create_session_factory
    from app.kit.tenancy import scoped_factory

    engine = create_engine(database_url, role=get_settings().database_app_role, pool_size=1)
    scope = job_scope(organization_id)
    try:
        factory = scoped_factory(create_session_factory(engine), scope)
        await _count_meters(factory, scope, ids[WARMUP_CUSTOMER])
        return {name: await _count_meters(factory, scope, ids[name]) for name in CUSTOMERS}
    finally:
        await engine.dispose()


# -- HTTP --------------------------------------------------------------------------------------


async def _graphql(client: httpx.AsyncClient, query: str, variables: dict) -> dict:
    response = await client.post("/graphql", json={"query": query, "variables": variables})
    if not response.is_success:  # any 2xx: litestar's `@post` answers 201 unless told otherwise
        raise BenchError(f"POST /graphql answered {response.status_code}: {response.text[:1000]}")
    body = response.json()
    if body.get("errors"):
        raise BenchError(f"GraphQL errors: {body['errors']}")
    return body["data"]


async def _setup(client: httpx.AsyncClient) -> None:
    for meter in METERS.values():
        result = (await _graphql(client, CREATE_METER, {"input": meter}))["createMeter"]
        if result.get("__typename") != "MeterSuccess":
            raise BenchError(f"createMeter {meter['name']!r} did not succeed: {result}")
    for name in (*CUSTOMERS, WARMUP_CUSTOMER):
        variables = {"input": {"email": f"{name}@example.com", "name": f"Customer {name}", "externalId": name}}
        result = (await _graphql(client, CREATE_CUSTOMER, variables))["createCustomer"]
        if result.get("__typename") != "CreateCustomerSuccess":
            raise BenchError(f"createCustomer {name!r} did not succeed: {result}")


def _check_status(customer: str, status: dict, expected: Expected) -> None:
    consumed = {m["meter"]["name"]: Decimal(m["consumed"]) for m in status["meters"]}
    want = {"API calls": Decimal(expected.count), "Tokens": Decimal(expected.tokens), "Models": Decimal(len(expected.models))}
    if consumed != want:
        raise BenchError(f"billingStatus of {customer!r}: consumed {consumed}, expected {want}")


def _check_rest_status(customer: str, body: dict, expected: Expected) -> None:
    consumed = {m["name"]: Decimal(str(m["consumed"])) for m in body["meters"]}
    want = {"API calls": Decimal(expected.count), "Tokens": Decimal(expected.tokens), "Models": Decimal(len(expected.models))}
    if consumed != want:
        raise BenchError(f"GET /v1/billing-status of {customer!r}: consumed {consumed}, expected {want}")


async def _timed(client: httpx.AsyncClient, expected: dict[str, Expected]) -> dict[tuple[str, str], list[float]]:
    """(endpoint, customer) -> latencies in seconds. One request at a time, alternating the
    customers, so both see the same server state and background load."""
    bodies = {
        name: json.dumps({"query": BILLING_STATUS, "variables": {"externalCustomerId": name}}).encode() for name in CUSTOMERS
    }
    headers = {"Content-Type": "application/json"}

    async def graphql(name: str) -> float:
        started = time.perf_counter()
        response = await client.post("/graphql", content=bodies[name], headers=headers)
        elapsed = time.perf_counter() - started
        if not response.is_success:
            raise BenchError(f"POST /graphql answered {response.status_code}: {response.text[:1000]}")
        body = response.json()
        if body.get("errors"):
            raise BenchError(f"billingStatus errors: {body['errors']}")
        _check_status(name, body["data"]["billingStatus"], expected[name])
        return elapsed

    async def rest(name: str) -> float:
        started = time.perf_counter()
        response = await client.get("/v1/billing-status", params={"external_customer_id": name})
        elapsed = time.perf_counter() - started
        if response.status_code != 200:
            raise BenchError(f"GET /v1/billing-status answered {response.status_code}: {response.text[:1000]}")
        _check_rest_status(name, response.json(), expected[name])
        return elapsed

    latencies: dict[tuple[str, str], list[float]] = {}
    for endpoint, call in (("GraphQL billingStatus", graphql), ("REST GET /v1/billing-status", rest)):
        for _ in range(WARMUP_REQUESTS):
            for name in CUSTOMERS:
                await call(name)
        for name in CUSTOMERS:
            latencies[(endpoint, name)] = []
        for i in range(REQUESTS):
            order = list(CUSTOMERS) if i % 2 == 0 else list(reversed(CUSTOMERS))
            for name in order:
                latencies[(endpoint, name)].append(await call(name))
    return latencies


async def _bench(base_url: str, token: str, database_url: str, organization_id: uuid.UUID) -> dict:
    async with httpx.AsyncClient(
        base_url=base_url,
        headers={"Authorization": f"Bearer {token}"},
        limits=httpx.Limits(max_connections=1, max_keepalive_connections=1),
        timeout=REQUEST_TIMEOUT,
    ) as client:
        await _setup(client)
        ids, expected, load_seconds = await _bulk_load(database_url, organization_id)
        counting = await _count_all(database_url, organization_id, ids)
        for name in CUSTOMERS:
            status = (await _graphql(client, BILLING_STATUS, {"externalCustomerId": name}))["billingStatus"]
            _check_status(name, status, expected[name])
        latencies = await _timed(client, expected)
    return {"load_seconds": load_seconds, "counting": counting, "latencies": latencies}


# -- main --------------------------------------------------------------------------------------


def _label(events: int) -> str:
    return f"{events // 1_000_000}M" if events % 1_000_000 == 0 else f"{events // 1000}k"


def main() -> int:
    # The per-organization rate limit (200 a second) is a guard, not what this measures: one
    # request at a time at ~3 ms each passes it on a fast machine and would be answered 429.
    result = harness.with_api(
        DEFAULT_DATABASE_URL,
        DEFAULT_REDIS_URL,
        _bench,
        KASSA_EXPOSE_SQL_COUNT=None,
        KASSA_RATE_LIMIT_PER_SECOND="1000000",
        KASSA_RATE_LIMIT_BURST="1000000",
    )

    small, big = _label(SMALL_EVENTS), _label(BIG_EVENTS)
    label = {"small": small, "big": big}
    print(f"machine: {harness.machine()}")
    print(f"events: {SMALL_EVENTS} for customer small, {BIG_EVENTS} for customer big; {len(METERS)} meters (count, sum, unique)")
    print(f"bulk load (COPY) of {SMALL_EVENTS + BIG_EVENTS} events s: {result['load_seconds']:.1f}")
    for name in CUSTOMERS:
        spent, calls, recounted = result["counting"][name]
        print(f"meter count from scratch, {label[name]} events s: {spent:.2f} ({calls} job run(s), {len(set(recounted))} meters counted)")
    print(f"requests: {REQUESTS} per customer and endpoint, one at a time, after {WARMUP_REQUESTS} warm-up")
    latencies = result["latencies"]
    for endpoint in ("GraphQL billingStatus", "REST GET /v1/billing-status"):
        for name in CUSTOMERS:
            values = latencies[(endpoint, name)]
            print(
                f"{endpoint} {label[name]} events: p50 ms: {harness.percentile(values, 0.5) * 1000:.2f}, "
                f"p99 ms: {harness.percentile(values, 0.99) * 1000:.2f}"
            )

    def p50(endpoint: str, name: str) -> float:
        return harness.percentile(latencies[(endpoint, name)], 0.5)

    rest_ratio = p50("REST GET /v1/billing-status", "big") / p50("REST GET /v1/billing-status", "small")
    print(f"REST billing-status p50 ratio ({big} / {small}): {rest_ratio:.2f}")
    ratio = p50("GraphQL billingStatus", "big") / p50("GraphQL billingStatus", "small")
    print(f"billingStatus p50 ratio ({big} / {small}): {ratio:.2f} (target <= {TARGET})")
    return 0


if __name__ == "__main__":
    harness.run(main)
