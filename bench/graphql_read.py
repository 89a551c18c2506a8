"""Benchmark: the nested `customers` list query over HTTP, page size 10 against page size 100.

Run from the project root with the virtualenv's Python:

    .venv/bin/python bench/graphql_read.py

It needs a PostgreSQL (trust auth, user `postgres`) on 127.0.0.1:5432 and a Redis on
127.0.0.1:6379; override them with BENCH_DATABASE_URL / BENCH_REDIS_URL. It drops and re-creates
the database of BENCH_DATABASE_URL (`kassa_bench` by default), migrates it, starts `kassa serve`
on a free port with KASSA_EXPOSE_SQL_COUNT=1, creates an organization with 300 business customers
(an owner and 3 members each) through the GraphQL API, then times the list query and reads the
number of SQL statements each request ran from the `X-Kassa-SQL-Statements` response header.

Then, in this process, it times the page of 100 without HTTP: through the app's GraphQL schema
(built by `create_app`, executed and encoded as the endpoint does), and as the floor, the same 3
SQL statements (token, page, members) through the same services, their rows turned into the same
JSON by plain Python. Both run one at a time under the garbage-collector settings the API process
uses (`KASSA_GC_GEN0_THRESHOLD`, `gc.freeze()` after start-up), and their answers are compared.

Figures are printed one per line as `name: value`; the last two lines are the ones the benchmark
is judged by: how the page of 100 compares with its plain-JSON floor (target: at most 3.5), and
how the SQL statement count grows from a page of 10 to a page of 100 (target 1.00).
"""

from __future__ import annotations

import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))  # bench/ is not a package
import harness  # noqa: E402  (puts the project root on sys.path too)

import asyncio  # noqa: E402
import time  # noqa: E402
from dataclasses import dataclass, field  # noqa: E402

import httpx  # noqa: E402

from harness import BenchError  # noqa: E402

DEFAULT_DATABASE_URL = "postgresql+asyncpg://postgres@127.0.0.1:5432/kassa_bench"
DEFAULT_REDIS_URL = "redis://127.0.0.1:6379/5"

CUSTOMERS = 300
MEMBERS_PER_CUSTOMER = 3  # plus the owner: 4 members each
SETUP_CONCURRENCY = 8
CONCURRENCY = 8
WARMUP_REQUESTS = 20
# page size -> timed requests (keeps the whole run well under two minutes on 2 cores)
RUNS = {10: 400, 100: 200}
# in process, one at a time: untimed warm-up, then timed rounds of (GraphQL, floor) pairs
IN_PROCESS_WARMUP = 10
IN_PROCESS_ROUNDS = 60
IN_PROCESS_PAGE = 100
REQUEST_TIMEOUT = 60.0
SQL_HEADER = "X-Kassa-SQL-Statements"

CREATE_CUSTOMER = """
mutation Create($input: CreateCustomerInput!) {
  createCustomer(input: $input) {
    __typename
    ... on CreateCustomerSuccess { customer { id } }
    ... on Error { code message }
  }
}
"""

LIST_CUSTOMERS = """
query List($first: Int!) {
  customers(first: $first) {
    edges { cursor node { id type email name externalId createdAt
      members { id role email name customer { id email } }
      owner { id email } } }
    pageInfo { hasNextPage endCursor }
  }
}
"""


# -- HTTP --------------------------------------------------------------------------------------


async def _graphql(client: httpx.AsyncClient, query: str, variables: dict) -> httpx.Response:
    response = await client.post("/graphql", json={"query": query, "variables": variables})
    # Any 2xx: litestar's `@post` handlers answer 201 unless told otherwise.
    if not response.is_success:
        raise BenchError(f"POST /graphql answered {response.status_code}: {response.text[:1000]}")
    return response


def _customer_input(i: int) -> dict:
    return {
        "type": "BUSINESS",
        "email": f"billing{i}@example.com",
        "name": f"Company {i}",
        "externalId": f"company-{i}",
        "owner": {"email": f"owner{i}@example.com", "name": f"Owner {i}"},
        "members": [
            {"email": f"m{i}-{j}@example.com", "name": f"Member {i}-{j}", "role": "BILLING_MANAGER" if j == 0 else "MEMBER"}
            for j in range(MEMBERS_PER_CUSTOMER)
        ],
    }


async def _create_customers(client: httpx.AsyncClient) -> None:
    async def job(i: int, _slot: int) -> None:
        body = (await _graphql(client, CREATE_CUSTOMER, {"input": _customer_input(i)})).json()
        if body.get("errors"):
            raise BenchError(f"createCustomer #{i} returned errors: {body['errors']}")
        result = (body.get("data") or {}).get("createCustomer") or {}
        if result.get("__typename") != "CreateCustomerSuccess":
            raise BenchError(f"createCustomer #{i} did not succeed: {result}")

    await harness.pool(CUSTOMERS, SETUP_CONCURRENCY, job)


def _check_page(body: dict, first: int) -> None:
    if body.get("errors"):
        raise BenchError(f"customers(first: {first}) returned errors: {body['errors']}")
    connection = (body.get("data") or {}).get("customers")
    if not connection:
        raise BenchError(f"customers(first: {first}) returned no data: {str(body)[:1000]}")
    edges = connection["edges"]
    if len(edges) != first:
        raise BenchError(f"customers(first: {first}) returned {len(edges)} edges")
    if not connection["pageInfo"]["hasNextPage"]:
        raise BenchError(f"customers(first: {first}) says there is no next page out of {CUSTOMERS}")


def _check_page_contents(body: dict, first: int) -> None:
    """Once per page size: every customer has its owner and members, each pointing back at it."""
    for edge in body["data"]["customers"]["edges"]:
        node = edge["node"]
        members = node["members"]
        if len(members) != MEMBERS_PER_CUSTOMER + 1:
            raise BenchError(f"customer {node['id']} lists {len(members)} members, expected {MEMBERS_PER_CUSTOMER + 1}")
        if not node["owner"] or node["owner"]["id"] != members[0]["id"] or members[0]["role"] != "OWNER":
            raise BenchError(f"customer {node['id']}: owner {node['owner']} is not the first member {members[0]}")
        for member in members:
            if member["customer"]["id"] != node["id"] or member["customer"]["email"] != node["email"]:
                raise BenchError(f"member {member['id']} points at {member['customer']}, not at customer {node['id']}")


@dataclass
class Run:
    first: int
    requests: int
    latencies: list[float] = field(default_factory=list)  # seconds
    statements: list[int] = field(default_factory=list)
    wall: float = 0.0


async def _timed_run(client: httpx.AsyncClient, first: int, requests: int) -> Run:
    run = Run(first=first, requests=requests)
    variables = {"first": first}

    async def request(record: bool) -> None:
        started = time.perf_counter()
        response = await _graphql(client, LIST_CUSTOMERS, variables)
        elapsed = time.perf_counter() - started
        body = response.json()
        _check_page(body, first)
        header = response.headers.get(SQL_HEADER)
        if header is None:
            raise BenchError(f"the response has no {SQL_HEADER} header (is KASSA_EXPOSE_SQL_COUNT honoured?)")
        if record:
            run.latencies.append(elapsed)
            run.statements.append(int(header))

    body = (await _graphql(client, LIST_CUSTOMERS, variables)).json()
    _check_page(body, first)
    _check_page_contents(body, first)

    await harness.pool(WARMUP_REQUESTS, CONCURRENCY, lambda _i, _slot: request(False))
    started = time.perf_counter()
    await harness.pool(requests, CONCURRENCY, lambda _i, _slot: request(True))
    run.wall = time.perf_counter() - started

    distinct = sorted(set(run.statements))
    if len(distinct) != 1:
        raise BenchError(f"page {first}: the SQL statement count varies between requests: {distinct}")
    return run


# -- in process: GraphQL against the plain-JSON floor -------------------------------------------


@dataclass
class InProcess:
    graphql: list[float] = field(default_factory=list)  # seconds per page of 100
    floor: list[float] = field(default_factory=list)
    gc_threshold: tuple[int, int, int] = (0, 0, 0)


def _plain_page(page, groups) -> dict:
    """The JSON of LIST_CUSTOMERS built by hand from the rows: what the page costs without GraphQL."""
    from app.kit.ids import to_global_id

    edges = []
    for cursor, customer, members in zip(page.cursors, page.items, groups):
        customer_id = to_global_id("Customer", customer.id)
        reference = {"id": customer_id, "email": customer.email}
        listed = []
        owner = None
        for member in members:
            member_id = to_global_id("Member", member.id)
            listed.append(
                {"id": member_id, "role": member.role.upper(), "email": member.email, "name": member.name, "customer": reference}
            )
            if owner is None and member.role == "owner":
                owner = {"id": member_id, "email": member.email}
        edges.append(
            {
                "cursor": cursor,
                "node": {
                    "id": customer_id,
                    "type": customer.type.upper(),
                    "email": customer.email,
                    "name": customer.name,
                    "externalId": customer.external_id,
                    "createdAt": customer.created_at.isoformat(),
                    "members": listed,
                    "owner": owner,
                },
            }
        )
    end_cursor = page.cursors[-1] if page.cursors else None
    return {"customers": {"edges": edges, "pageInfo": {"hasNextPage": page.has_next_page, "endCursor": end_cursor}}}


async def _in_process(database_url: str, redis_url: str, token: str) -> InProcess:
    import gc
    import json
    from dataclasses import replace

    import msgspec
    from redis.asyncio import Redis

    from app.auth.service import authenticate
    from app.config import get_settings
    from app.customers import service as customers
    from app.customers.repository import CustomerFilter
    from app.kit.db import SessionGate, create_engine, create_session_factory, statement_counter
    from app.kit.gc_tuning import tune_garbage_collector
    from app.members import service as members
    from app.server import create_app
    from schema.context import Context

    settings = replace(get_settings(), database_url=database_url, redis_url=redis_url)
    engine = create_engine(database_url, role=settings.database_app_role, pool_size=2)  # as the API
    factory = create_session_factory(engine)
    redis = Redis.from_url(redis_url)
    encoder = msgspec.json.Encoder()
    schema = create_app(settings, session_factory=factory, redis=redis).state.runtime.schema
    variables = {"first": IN_PROCESS_PAGE}

    async def graphql_page() -> bytes:
        gate = SessionGate(factory)
        try:
            async with gate.use() as session:
                subject = await authenticate(session, token)
            gate.act_for(subject.scope)
            context = Context(settings=settings, db=gate, subject=subject, queue=redis)
            result = await schema.execute(LIST_CUSTOMERS, variable_values=variables, context_value=context)
        finally:
            await gate.close()
        if result.errors:
            raise BenchError(f"in process: customers(first: {IN_PROCESS_PAGE}) returned errors: {result.errors}")
        return encoder.encode({"data": result.data})

    async def plain_page() -> bytes:
        gate = SessionGate(factory)
        try:
            async with gate.use() as session:
                subject = await authenticate(session, token)
                page = await customers.list_customers(session, subject, CustomerFilter(), first=IN_PROCESS_PAGE)
                groups = await members.load_members_of(session, subject.scope, [row.id for row in page.items])
        finally:
            await gate.close()
        return encoder.encode({"data": _plain_page(page, groups)})

    async def counted(page) -> tuple[bytes, int]:
        counter = [0]
        reset = statement_counter.set(counter)
        try:
            return await page(), counter[0]
        finally:
            statement_counter.reset(reset)

    result = InProcess()
    try:
        (graphql_body, graphql_count), (plain_body, plain_count) = await counted(graphql_page), await counted(plain_page)
        if json.loads(graphql_body) != json.loads(plain_body):
            raise BenchError("in process: the plain-JSON floor does not answer what GraphQL answers")
        if graphql_count != plain_count:
            raise BenchError(f"in process: GraphQL ran {graphql_count} SQL statements, the floor {plain_count}")
        for _ in range(IN_PROCESS_WARMUP):
            await graphql_page()
            await plain_page()
        # the API process's settings (app/server.py), applied here once everything is imported
        tune_garbage_collector(settings.gc_gen0_threshold)
        result.gc_threshold = gc.get_threshold()
        for _ in range(IN_PROCESS_ROUNDS):  # interleaved: a noisy neighbour slows both alike
            started = time.perf_counter()
            await graphql_page()
            result.graphql.append(time.perf_counter() - started)
            started = time.perf_counter()
            await plain_page()
            result.floor.append(time.perf_counter() - started)
    finally:
        await redis.aclose()
        await engine.dispose()
    return result


async def _measure(base_url: str, token: str, database_url: str, redis_url: str) -> tuple[list[Run], InProcess]:
    limits = httpx.Limits(max_connections=CONCURRENCY, max_keepalive_connections=CONCURRENCY)
    async with httpx.AsyncClient(
        base_url=base_url,
        headers={"Authorization": f"Bearer {token}"},
        limits=limits,
        timeout=REQUEST_TIMEOUT,
    ) as client:
        await _create_customers(client)
        runs = [await _timed_run(client, first, requests) for first, requests in RUNS.items()]
    return runs, await _in_process(database_url, redis_url, token)


# -- main --------------------------------------------------------------------------------------


def main() -> int:
    _database_url, redis_url = harness.urls(DEFAULT_DATABASE_URL, DEFAULT_REDIS_URL)
    runs, in_process = harness.with_api(
        DEFAULT_DATABASE_URL,
        DEFAULT_REDIS_URL,
        lambda base_url, token, database_url, _org: _measure(base_url, token, database_url, redis_url),
        flush=False,
        KASSA_EXPOSE_SQL_COUNT="1",
    )

    print(f"machine: {harness.machine()}")
    print(f"customers: {CUSTOMERS} (each {MEMBERS_PER_CUSTOMER + 1} members)")
    print(f"concurrency: {CONCURRENCY} requests in flight")
    for run in runs:
        prefix = f"page {run.first}"
        print(f"{prefix}: requests: {run.requests} (after {WARMUP_REQUESTS} warm-up)")
        print(f"{prefix}: sql statements per request: {run.statements[0]}")
        print(f"{prefix}: p50 latency ms: {harness.percentile(run.latencies, 0.50) * 1000:.1f}")
        print(f"{prefix}: p99 latency ms: {harness.percentile(run.latencies, 0.99) * 1000:.1f}")
        print(f"{prefix}: requests per second: {run.requests / run.wall:.1f}")
    graphql_ms = harness.percentile(in_process.graphql, 0.50) * 1000
    floor_ms = harness.percentile(in_process.floor, 0.50) * 1000
    print(f"in process: gc thresholds: {in_process.gc_threshold} (as `kassa serve` sets them after start-up)")
    print(f"in process: page {IN_PROCESS_PAGE} graphql p50 ms: {graphql_ms:.1f} ({IN_PROCESS_ROUNDS} runs, one at a time)")
    print(f"in process: page {IN_PROCESS_PAGE} plain-JSON floor p50 ms: {floor_ms:.1f} (same SQL statements, rows to JSON by hand)")
    print(f"in process: page {IN_PROCESS_PAGE} graphql / floor: {graphql_ms / floor_ms:.2f} (target: at most 3.50)")
    small, large = runs[0], runs[-1]
    ratio = large.statements[0] / small.statements[0] if small.statements[0] else float("inf")
    print(
        f"sql statements ratio (page {large.first} / page {small.first}): {ratio:.2f} "
        "(target: 1.00, the count does not grow with the page)"
    )
    return 0


if __name__ == "__main__":
    harness.run(main)
