"""Benchmark: the nested `customers` list query over HTTP, page size 10 against page size 100.

Run from the project root with the virtualenv's Python:

    .venv/bin/python bench/graphql_read.py

It needs a PostgreSQL (trust auth, user `postgres`) on 127.0.0.1:5432 and a Redis on
127.0.0.1:6379; override them with BENCH_DATABASE_URL / BENCH_REDIS_URL. It drops and re-creates
the database of BENCH_DATABASE_URL (`kassa_bench` by default), migrates it, starts `kassa serve`
on a free port with KASSA_EXPOSE_SQL_COUNT=1, creates an organization with 300 business customers
(an owner and 3 members each) through the GraphQL API, then times the list query and reads the
number of SQL statements each request ran from the `X-Kassa-SQL-Statements` response header.

Figures are printed one per line as `name: value`; the last line is the one the benchmark is
judged by: how the SQL statement count grows from a page of 10 to a page of 100 (target 1.00).
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


async def _measure(base_url: str, token: str) -> list[Run]:
    limits = httpx.Limits(max_connections=CONCURRENCY, max_keepalive_connections=CONCURRENCY)
    async with httpx.AsyncClient(
        base_url=base_url,
        headers={"Authorization": f"Bearer {token}"},
        limits=limits,
        timeout=REQUEST_TIMEOUT,
    ) as client:
        await _create_customers(client)
        return [await _timed_run(client, first, requests) for first, requests in RUNS.items()]


# -- main --------------------------------------------------------------------------------------


def main() -> int:
    runs = harness.with_api(
        DEFAULT_DATABASE_URL, DEFAULT_REDIS_URL, lambda base_url, token, *_: _measure(base_url, token), flush=False, KASSA_EXPOSE_SQL_COUNT="1"
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
    small, large = runs[0], runs[-1]
    ratio = large.statements[0] / small.statements[0] if small.statements[0] else float("inf")
    print(
        f"sql statements ratio (page {large.first} / page {small.first}): {ratio:.2f} "
        "(target: 1.00, the count does not grow with the page)"
    )
    return 0


if __name__ == "__main__":
    harness.run(main)
