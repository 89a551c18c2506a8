"""Benchmark: event ingestion throughput through REST and GraphQL against the raw database floor.

Run from the project root with the virtualenv's Python:

    .venv/bin/python bench/ingest.py

It needs a PostgreSQL (trust auth, user `postgres`) on 127.0.0.1:5432 and a Redis on
127.0.0.1:6379; override them with BENCH_DATABASE_URL / BENCH_REDIS_URL. It drops and re-creates
the database of BENCH_DATABASE_URL (`kassa_bench_ingest` by default), flushes the Redis database of
BENCH_REDIS_URL (db 8 by default), migrates, starts `kassa serve` on a free port (no worker: the
meter jobs the ingestion asks for just wait in Redis), creates an organization, 100 customers and
2 meters through the GraphQL API, then sends 200,000 events in batches of 1,000:

- REST: `POST /v1/events/ingest` (the Polar-compatible body);
- GraphQL: the `ingestEvents` mutation, the events as variables;
- raw: the floor, the same kind of rows written straight into the same `events` table with asyncpg,
  using the service's own statement (`app.events.repository.INSERT_BATCH`) and the argument arrays
  the service builds: the database work alone, no HTTP, no validation, no job requests.

Each path runs with 2 and with 4 batches in flight (the raw floor with one connection per batch in
flight). Request bodies and raw arguments are built before the clock starts: the client's JSON
encoding is not measured.

Figures are printed one per line as `name: value`; the last line is the one the benchmark is judged
by: GraphQL throughput over the raw floor (target >= 0.3); the line before it is REST's (>= 0.6).
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

import httpx  # noqa: E402

from harness import BenchError  # noqa: E402

DEFAULT_DATABASE_URL = "postgresql+asyncpg://postgres@127.0.0.1:5432/kassa_bench_ingest"
DEFAULT_REDIS_URL = "redis://127.0.0.1:6379/8"

EVENTS = int(os.environ.get("BENCH_EVENTS") or 200_000)  # per path and concurrency (a multiple of BATCH)
BATCH = 1_000
CONCURRENCIES = (2, 4)
ROUNDS = 5  # the batches of every (path, concurrency) are sent in this many interleaved rounds
WARMUP_BATCHES = 4  # per (path, concurrency), before the first round; not counted
CUSTOMERS = 100
SETUP_CONCURRENCY = 4
SEED = 20_240_601
REQUEST_TIMEOUT = 120.0

REST_TARGET = 0.6
GRAPHQL_TARGET = 0.3

NAMES = ("api_call", "api_call", "api_call", "completion", "embedding", "image")
MODELS = ("gpt-small", "gpt-large", "embed-v2", "vision-1", "audio-3")

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

INGEST_EVENTS = """
mutation Ingest($input: IngestEventsInput!) {
  ingestEvents(input: $input) {
    __typename
    ... on IngestEventsSuccess { inserted duplicates }
    ... on Error { code message }
  }
}
"""

METERS = (
    {
        "name": "API calls",
        "filter": {"conjunction": "AND", "clauses": [{"condition": {"property": "name", "operator": "EQ", "value": "api_call"}}]},
        "aggregation": {"func": "COUNT"},
    },
    {"name": "Tokens", "filter": {"conjunction": "AND", "clauses": []}, "aggregation": {"func": "SUM", "property": "tokens"}},
)


# -- database ----------------------------------------------------------------------------------


async def _customer_ids(database_url: str, organization_id: uuid.UUID) -> dict[str, uuid.UUID]:
    import asyncpg

    conn = await asyncpg.connect(**harness.pg_params(database_url))
    try:
        rows = await conn.fetch(
            "SELECT external_id, id FROM customers WHERE organization_id = $1 AND deleted_at IS NULL AND external_id IS NOT NULL",
            organization_id,
        )
    finally:
        await conn.close()
    return {row["external_id"]: row["id"] for row in rows}


async def _count_events(database_url: str, organization_id: uuid.UUID) -> int:
    import asyncpg

    conn = await asyncpg.connect(**harness.pg_params(database_url))
    try:
        return await conn.fetchval("SELECT count(*) FROM events WHERE organization_id = $1", organization_id)
    finally:
        await conn.close()


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
    async def create_customer(i: int, _slot: int) -> None:
        variables = {"input": {"email": f"customer{i}@example.com", "name": f"Customer {i}", "externalId": f"cust-{i}"}}
        result = (await _graphql(client, CREATE_CUSTOMER, variables))["createCustomer"]
        if result.get("__typename") != "CreateCustomerSuccess":
            raise BenchError(f"createCustomer #{i} did not succeed: {result}")

    await harness.pool(CUSTOMERS, SETUP_CONCURRENCY, create_customer)
    for meter in METERS:
        result = (await _graphql(client, CREATE_METER, {"input": meter}))["createMeter"]
        if result.get("__typename") != "MeterSuccess":
            raise BenchError(f"createMeter {meter['name']!r} did not succeed: {result}")


# -- the events --------------------------------------------------------------------------------


@dataclass
class Base:
    """The events every path sends, as columns; a path differs only in its external ids."""

    names: list[str]
    stamps: list[str]  # ISO 8601, as a client sends them
    times: list[datetime]  # the same, parsed (what the service hands to the database)
    customers: list[str]  # external customer ids
    metadata: list[dict]


def _base_events(count: int) -> Base:
    rng = random.Random(SEED)
    # the recent past: the last 30 days before the start of this hour (so only the clock's hour varies)
    anchor = datetime.now(timezone.utc).replace(minute=0, second=0, microsecond=0)
    names, stamps, times, customers, metadata = [], [], [], [], []
    for _ in range(count):
        at = anchor - timedelta(seconds=rng.randrange(30 * 24 * 3600), microseconds=rng.randrange(1_000_000))
        names.append(rng.choice(NAMES))
        stamps.append(at.isoformat().replace("+00:00", "Z"))
        times.append(at)
        customers.append(f"cust-{rng.randrange(CUSTOMERS)}")
        metadata.append({"tokens": rng.randrange(1, 4000), "model": rng.choice(MODELS), "premium": rng.random() < 0.2})
    return Base(names, stamps, times, customers, metadata)


def _rest_bodies(base: Base, prefix: str, start: int, stop: int) -> list[bytes]:
    import msgspec

    encode = msgspec.json.Encoder().encode
    bodies = []
    for first in range(start, stop, BATCH):
        events = [
            {
                "name": base.names[i],
                "timestamp": base.stamps[i],
                "external_customer_id": base.customers[i],
                "external_id": f"{prefix}-{i}",
                "metadata": base.metadata[i],
            }
            for i in range(first, min(first + BATCH, stop))
        ]
        bodies.append(encode({"events": events}))
    return bodies


def _graphql_bodies(base: Base, prefix: str, start: int, stop: int) -> list[bytes]:
    import msgspec

    encode = msgspec.json.Encoder().encode
    bodies = []
    for first in range(start, stop, BATCH):
        events = [
            {
                "name": base.names[i],
                "timestamp": base.stamps[i],
                "externalCustomerId": base.customers[i],
                "externalId": f"{prefix}-{i}",
                "metadata": base.metadata[i],
            }
            for i in range(first, min(first + BATCH, stop))
        ]
        bodies.append(encode({"query": INGEST_EVENTS, "variables": {"input": {"events": events}}}))
    return bodies


def _raw_batches(base: Base, prefix: str, start: int, stop: int, customer_ids: dict[str, uuid.UUID]) -> list[list]:
    """The arguments `app.events.service.ingest` hands to INSERT_BATCH after $1 and $2: the arrays
    of names, timestamps, customer ids, external customer ids, member ids, external member ids,
    external ids, metadata as JSON text; then the batch's time (the clock's, for created_at)."""
    batches = []
    for first in range(start, stop, BATCH):
        span = range(first, min(first + BATCH, stop))
        n = len(span)
        batches.append(
            [
                [base.names[i] for i in span],
                [base.times[i] for i in span],
                [customer_ids[base.customers[i]] for i in span],
                [base.customers[i] for i in span],
                [None] * n,
                [None] * n,
                [f"{prefix}-{i}" for i in span],
                [json.dumps(base.metadata[i], separators=(",", ":")) for i in span],
                datetime.now(timezone.utc),
            ]
        )
    return batches


# -- the runs ----------------------------------------------------------------------------------


@dataclass
class Combo:
    path: str  # raw | REST | GraphQL
    concurrency: int
    batches: list  # pre-built: bodies (bytes) or raw argument arrays
    warmup: list
    seconds: float = 0.0  # the timed rounds, summed
    events: int = 0
    latencies: list[float] = field(default_factory=list)  # per batch, seconds

    @property
    def rate(self) -> float:
        return self.events / self.seconds if self.seconds else 0.0


class Runner:
    def __init__(self, base_url: str, token: str, database_url: str, organization_id: uuid.UUID) -> None:
        self.base_url, self.token, self.database_url, self.organization_id = base_url, token, database_url, organization_id
        self.clients: dict[int, httpx.AsyncClient] = {}
        self.connections: dict[int, list] = {}

    async def open(self) -> None:
        import asyncpg

        for concurrency in CONCURRENCIES:
            self.clients[concurrency] = httpx.AsyncClient(
                base_url=self.base_url,
                headers={"Authorization": f"Bearer {self.token}", "Content-Type": "application/json"},
                limits=httpx.Limits(max_connections=concurrency, max_keepalive_connections=concurrency),
                timeout=REQUEST_TIMEOUT,
            )
            self.connections[concurrency] = [await asyncpg.connect(**harness.pg_params(self.database_url)) for _ in range(concurrency)]

    async def close(self) -> None:
        for client in self.clients.values():
            await client.aclose()
        for connections in self.connections.values():
            for conn in connections:
                await conn.close()

    async def _send(self, combo: Combo, payload, slot: int) -> int:
        """One batch; returns the number of events inserted (checked to be the whole batch)."""
        if combo.path == "raw":
            from app.events.repository import INSERT_BATCH

            conn = self.connections[combo.concurrency][slot]
            inserted = await conn.fetchval(INSERT_BATCH, self.organization_id, "user", *payload)
            expected = len(payload[0])
        elif combo.path == "REST":
            response = await self.clients[combo.concurrency].post("/v1/events/ingest", content=payload)
            if response.status_code != 200:
                raise BenchError(f"POST /v1/events/ingest answered {response.status_code}: {response.text[:1000]}")
            inserted = response.json()["inserted"]
            expected = BATCH
        else:
            response = await self.clients[combo.concurrency].post("/graphql", content=payload)
            if not response.is_success:
                raise BenchError(f"POST /graphql answered {response.status_code}: {response.text[:1000]}")
            body = response.json()
            result = (body.get("data") or {}).get("ingestEvents") or {}
            if body.get("errors") or result.get("__typename") != "IngestEventsSuccess":
                raise BenchError(f"ingestEvents did not succeed: {str(body)[:1000]}")
            inserted = result["inserted"]
            expected = BATCH
        if inserted != expected:
            raise BenchError(f"{combo.path}: a batch of {expected} inserted {inserted}")
        return inserted

    async def run(self, combo: Combo, payloads: list, *, record: bool) -> None:
        inserted = 0

        async def job(i: int, slot: int) -> None:
            nonlocal inserted
            started = time.perf_counter()
            count = await self._send(combo, payloads[i], slot)  # not `inserted += await ...`: that reads before the await
            inserted += count
            if record:
                combo.latencies.append(time.perf_counter() - started)

        started = time.perf_counter()
        await harness.pool(len(payloads), combo.concurrency, job)
        elapsed = time.perf_counter() - started
        if record:
            combo.seconds += elapsed
            combo.events += inserted


async def _measure(runner: Runner, combos: list[Combo]) -> None:
    # Interleaved rather than raw, REST, GraphQL, raw: every table grows by 1.2 million rows over
    # the run, and later inserts (index pages, WAL, checkpoints, autovacuum) cost more than early
    # ones. Cutting every (path, concurrency) into ROUNDS rounds and rotating the order within each
    # round gives every path the same mix of table sizes and background noise, so the ratios
    # compare like with like; a single "raw before and after" mean would only bracket that.
    for combo in combos:
        await runner.run(combo, combo.warmup, record=False)
    per_round = len(combos[0].batches) // ROUNDS
    for round_ in range(ROUNDS):
        shift = round_ % len(combos)
        for combo in combos[shift:] + combos[:shift]:
            stop = len(combo.batches) if round_ == ROUNDS - 1 else (round_ + 1) * per_round
            await runner.run(combo, combo.batches[round_ * per_round : stop], record=True)


# -- main --------------------------------------------------------------------------------------


async def _bench(base_url: str, token: str, database_url: str, organization_id: uuid.UUID) -> list[Combo]:
    async with httpx.AsyncClient(
        base_url=base_url, headers={"Authorization": f"Bearer {token}"}, timeout=REQUEST_TIMEOUT
    ) as client:
        await _setup(client)
    customer_ids = await _customer_ids(database_url, organization_id)
    if len(customer_ids) != CUSTOMERS:
        raise BenchError(f"expected {CUSTOMERS} customers with external ids, found {len(customer_ids)}")

    warm = WARMUP_BATCHES * BATCH
    base = _base_events(EVENTS + warm)
    combos = []
    for concurrency in CONCURRENCIES:
        for path in ("raw", "REST", "GraphQL"):
            prefix = f"{path.lower()}{concurrency}"
            if path == "raw":
                build = lambda p, a, b: _raw_batches(base, p, a, b, customer_ids)  # noqa: E731
            elif path == "REST":
                build = lambda p, a, b: _rest_bodies(base, p, a, b)  # noqa: E731
            else:
                build = lambda p, a, b: _graphql_bodies(base, p, a, b)  # noqa: E731
            combos.append(
                Combo(path, concurrency, batches=build(prefix, warm, warm + EVENTS), warmup=build(f"w-{prefix}", 0, warm))
            )

    runner = Runner(base_url, token, database_url, organization_id)
    await runner.open()
    try:
        await _measure(runner, combos)
    finally:
        await runner.close()

    for combo in combos:
        if combo.events != EVENTS:
            raise BenchError(f"{combo.path} at {combo.concurrency}: {combo.events} events timed, expected {EVENTS}")
    expected = len(combos) * (EVENTS + warm)
    stored = await _count_events(database_url, organization_id)
    if stored != expected:
        raise BenchError(f"the events table holds {stored} events of the organization, expected {expected}")
    return combos


def main() -> int:
    # counting statements is not free; measure production
    combos = harness.with_api(DEFAULT_DATABASE_URL, DEFAULT_REDIS_URL, _bench, KASSA_EXPOSE_SQL_COUNT=None)

    found = {(c.path, c.concurrency): c for c in combos}
    print(f"machine: {harness.machine()}")
    print(f"events: {EVENTS} per path and concurrency ({ROUNDS} interleaved rounds; after {WARMUP_BATCHES} warm-up batches each)")
    print(f"batch size: {BATCH}")
    for concurrency in CONCURRENCIES:
        for path in ("raw", "REST", "GraphQL"):
            combo = found[(path, concurrency)]
            print(
                f"{path} at {concurrency} in flight: events/s: {combo.rate:.0f}, "
                f"batch ms p50 {harness.percentile(combo.latencies, 0.5) * 1000:.1f} "
                f"p99 {harness.percentile(combo.latencies, 0.99) * 1000:.1f}"
            )
    # each API path at its best concurrency, against the raw floor at that same concurrency
    best = {path: max((found[(path, c)] for c in CONCURRENCIES), key=lambda c: c.rate) for path in ("REST", "GraphQL")}
    rest, gql = best["REST"], best["GraphQL"]
    raw_rest, raw_gql = found[("raw", rest.concurrency)], found[("raw", gql.concurrency)]
    tried = ", ".join(str(c) for c in CONCURRENCIES)
    if rest.concurrency == gql.concurrency:
        print(f"concurrency: {rest.concurrency} batches in flight (the best of {tried} for REST and for GraphQL; raw at the same)")
        print(f"raw asyncpg events/s: {raw_rest.rate:.0f}")
    else:
        print(
            f"concurrency: REST {rest.concurrency}, GraphQL {gql.concurrency} batches in flight "
            f"(the best of {tried} for each; raw at the same)"
        )
        print(f"raw asyncpg events/s: {raw_rest.rate:.0f} at {rest.concurrency}, {raw_gql.rate:.0f} at {gql.concurrency}")
    print(f"REST events/s: {rest.rate:.0f}")
    print(f"GraphQL events/s: {gql.rate:.0f}")
    print(f"REST / raw: {rest.rate / raw_rest.rate:.2f} (target >= {REST_TARGET})")
    print(f"GraphQL / raw: {gql.rate / raw_gql.rate:.2f} (target >= {GRAPHQL_TARGET})")
    return 0


if __name__ == "__main__":
    harness.run(main)
