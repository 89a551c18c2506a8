"""One request cannot stall every organization: query cost limit, response size cap, request
time limit, per-organization rate limit and in-flight cap (docs/api-conventions.md, "Limits")."""

from __future__ import annotations

import asyncio
import logging
import time
from contextlib import asynccontextmanager
from dataclasses import replace
from typing import AsyncIterator

import httpx
from redis.asyncio import Redis

from app.auth.service import operator_scope
from app.auth.subject import Subject
from app.events import service as events
from app.server import create_app
from tests.conftest import Api, as_owner, make_org, tenant_factory
from tests.operations import create_business, create_customer

# The attack: thirty aliases of a nested list, within the depth and alias limits.
ATTACK = "{ " + " ".join(
    f"a{i}: customers(first: 100) {{ nodes {{ members {{ name customer {{ members {{ name email }} }} }} }} }}" for i in range(30)
) + " }"

# bench/graphql_read.py's query, the heaviest normal read.
BENCH = """
query List($first: Int!) {
  customers(first: $first) {
    edges { cursor node { id type email name externalId createdAt
      members { id role email name customer { id email } }
      owner { id email } } }
    pageInfo { hasNextPage endCursor }
  }
}
"""

UPDATE_NAME = """
mutation($input: UpdateCustomerInput!) {
  updateCustomer(input: $input) { __typename ... on UpdateCustomerSuccess { customer { name } } }
}
"""


@asynccontextmanager
async def serve(settings, session_factory, redis, **limits) -> AsyncIterator[Api]:
    """The app with its own limits (no worker runs here: /health leaves the worker out)."""
    app = create_app(replace(settings, **{"health_worker_stale_seconds": 0, **limits}), session_factory=session_factory, redis=redis)
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://kassa.test") as client:
        yield Api(client)


def _error(body: dict) -> dict:
    assert body["data"] is None, body
    assert len(body["errors"]) == 1, body
    return body["errors"][0]


# -- query cost ---------------------------------------------------------------------------------


async def test_the_attack_is_refused_before_any_sql(api, org):
    for i in range(3):
        await create_business(api, org.token, prefix=f"co{i}", members=4)
    await api.post("{ __typename }", token=org.token)
    authentication_only = api.last_statement_count

    started = time.perf_counter()
    response = await api.post(ATTACK, token=org.token)
    elapsed = time.perf_counter() - started

    error = _error(response.json())
    assert error["extensions"]["code"] == "QUERY_TOO_COSTLY"
    # per alias: the connection, 100 customers, 10 members each (assumed), their customer, 10 members each
    assert error["extensions"]["cost"] == 30 * (1 + 100 + 1_000 + 1_000 + 10_000)
    assert error["extensions"]["maxCost"] == 20_000
    assert "20000" in error["message"] and str(error["extensions"]["cost"]) in error["message"]
    assert api.last_statement_count == authentication_only  # nothing but the token lookup ran
    assert elapsed < 1.0


async def test_the_bench_query_is_under_the_default_limit(api, org):
    await create_business(api, org.token, prefix="bench", members=3)
    data = await api.data(BENCH, {"first": 100}, token=org.token)
    assert len(data["customers"]["edges"]) == 1


async def test_a_query_just_under_the_limit_runs_and_just_over_is_refused(settings, session_factory, redis, org):
    query = "query($n: Int!) { customers(first: $n) { nodes { id } } }"  # 1 + n
    async with serve(settings, session_factory, redis, graphql_max_cost=50) as api:
        await create_customer(api, org.token)
        assert (await api.data(query, {"n": 49}, token=org.token))["customers"]["nodes"]
        error = _error(await api.gql(query, {"n": 50}, token=org.token))
        assert error["extensions"] == {"code": "QUERY_TOO_COSTLY", "cost": 51, "maxCost": 50}


async def test_cost_through_fragments_variables_aliases_and_directives(settings, session_factory, redis, org):
    query = """
    query($n: Int = 5, $skip: Boolean!) {
      a: customers(first: $n) { ...Page }
      b: customers(first: 3) @skip(if: $skip) { nodes { id } }
    }
    fragment Page on CustomerConnection { nodes { ... on Customer { members { id } } ... on BusinessCustomer { owner { id } } } }
    """

    async def cost(variables: dict) -> int | None:
        body = await api.gql(query, variables, token=org.token)
        return body["errors"][0]["extensions"]["cost"] if body.get("errors") else None

    async with serve(settings, session_factory, redis, graphql_max_cost=50, graphql_assumed_list_size=10) as api:
        await create_business(api, org.token, prefix="frag", members=1)
        # a: 1 + n + n * (10 members + 1 owner); b: 1 + 3 unless skipped
        assert await cost({"n": 4, "skip": True}) is None  # 49
        assert await cost({"n": 4, "skip": False}) == 49 + 4
        assert await cost({"skip": True}) == 1 + 5 + 55  # the variable's default
        assert await cost({"n": 5, "skip": False}) == 61 + 4
        # each alias costs
        aliases = "{ a: customers(first: 20) { nodes { id } } b: customers(first: 20) { nodes { id } } c: customers(first: 20) { nodes { id } } }"
        error = _error(await api.gql(aliases, token=org.token))
        assert error["extensions"]["cost"] == 3 * 21
        # nodes(ids:) costs its ids
        ids = ["Q3VzdG9tZXI6MDAwMDAwMDAtMDAwMC0wMDAwLTAwMDAtMDAwMDAwMDAwMDAw"] * 7
        nodes = "query($ids: [ID!]!) { nodes(ids: $ids) { ... on Customer { members { id } } } }"
        assert "errors" not in await api.gql(nodes, {"ids": ids[:4]}, token=org.token)  # 4 + 40
        error = _error(await api.gql(nodes, {"ids": ids}, token=org.token))
        assert error["extensions"]["cost"] == 7 + 70
        # introspection is cheap
        introspection = "{ __schema { types { name fields { name type { name ofType { name } } } } } }"
        assert "errors" not in await api.gql(introspection, token=org.token)


# -- response size ------------------------------------------------------------------------------


async def test_a_huge_response_is_replaced_by_a_typed_error(settings, session_factory, redis, org):
    async with serve(settings, session_factory, redis, graphql_max_response_bytes=4_000) as api:
        for i in range(30):
            await create_customer(api, org.token, email=f"customer{i}@example.com", name="x" * 100)
        small = await api.gql("{ customers(first: 2) { nodes { id } } }", token=org.token)
        assert "errors" not in small
        response = await api.post("{ customers(first: 30) { nodes { id email name createdAt } } }", token=org.token)
        assert response.status_code == 200
        error = _error(response.json())
        assert error["extensions"]["code"] == "RESPONSE_TOO_LARGE"
        assert error["extensions"]["maxBytes"] == 4_000 and error["extensions"]["size"] > 4_000
        assert len(response.content) < 1_000


async def test_a_mutation_response_is_never_hidden_by_the_cap(settings, session_factory, redis, org):
    async with serve(settings, session_factory, redis, graphql_max_response_bytes=200) as api:
        customer = await create_business(api, org.token, prefix="big", members=5)  # a response of several kB
        assert len(customer["members"]) == 6


# -- request time -------------------------------------------------------------------------------


@asynccontextmanager
async def locked_customer(session_factory, customer_id: str):
    """Another transaction holds the customer's row lock: an update of it waits (not a foreign key check)."""
    from sqlalchemy import text

    from app.kit.ids import from_global_id

    _type, id = from_global_id(customer_id)
    async with session_factory() as session, as_owner(session):
        await session.execute(text("SELECT 1 FROM customers WHERE id = :id FOR NO KEY UPDATE"), {"id": id})
        try:
            yield
        finally:
            await session.rollback()


async def test_a_slow_request_is_cut_by_the_time_limit_and_rolled_back(live, settings, redis):
    org = await make_org(live.session_factory)
    customer = await create_customer(live.api, org.token, name="Before")
    async with serve(settings, live.session_factory, redis, request_timeout_seconds=0.5) as api:
        async with locked_customer(live.session_factory, customer["id"]):
            started = time.perf_counter()
            response = await asyncio.wait_for(api.post(UPDATE_NAME, {"input": {"id": customer["id"], "name": "After"}}, token=org.token), 10)
            elapsed = time.perf_counter() - started
        assert response.status_code == 503
        error = _error(response.json())
        assert error["extensions"]["code"] == "TIMEOUT" and error["extensions"]["timeoutSeconds"] == 0.5
        assert elapsed < 3
        # the update did not happen, and the API is still fine
        query = "query($id: ID!) { customer(id: $id) { name } }"
        assert (await api.data(query, {"id": customer["id"]}, token=org.token))["customer"]["name"] == "Before"


async def test_a_slow_rest_request_is_cut_by_the_time_limit(live, settings, redis):
    org = await make_org(live.session_factory)
    await create_customer(live.api, org.token, externalId="c1")
    event = {"name": "call", "external_customer_id": "c1", "external_id": "held"}
    async with serve(settings, live.session_factory, redis, request_timeout_seconds=0.5) as api:
        async with tenant_factory(live.session_factory, org.id)() as holder:  # an uncommitted insert of the same event id: the ingest waits
            subject = Subject(scope=operator_scope(org.id), token_id=org.token_id, scopes=frozenset({"events:write"}))
            assert (await events.ingest(holder, subject, [event])).inserted == 1
            response = await asyncio.wait_for(
                api.client.post("/v1/events/ingest", json={"events": [event]}, headers={"Authorization": f"Bearer {org.token}"}), 10
            )
            await holder.rollback()
        assert response.status_code == 503
        assert response.json()["error"] == "TIMEOUT" and "0.5 s" in response.json()["detail"]
        assert response.headers["x-request-id"]  # a cut request still says which one it was
        response = await api.client.post("/v1/events/ingest", json={"events": [event]}, headers={"Authorization": f"Bearer {org.token}"})
        assert response.json() == {"inserted": 1, "duplicates": 0}


# -- fairness between organizations -------------------------------------------------------------


async def test_an_organization_over_its_rate_is_refused_on_both_doors_while_another_is_served(settings, session_factory, redis):
    org, other = await make_org(session_factory, name="A"), await make_org(session_factory, name="B")
    ingest = {"events": []}
    async with serve(settings, session_factory, redis, rate_limit_per_second=1, rate_limit_burst=3) as api:

        async def rest(token: str) -> httpx.Response:
            return await api.client.post("/v1/events/ingest", json=ingest, headers={"Authorization": f"Bearer {token}"})

        assert "errors" not in await api.gql("{ organization { id } }", token=org.token)
        assert "errors" not in await api.gql("{ organization { id } }", token=org.token)
        assert (await rest(org.token)).status_code == 200

        response = await api.post("{ organization { id } }", token=org.token)
        assert response.status_code == 429
        assert response.headers["Retry-After"] == "1"
        error = _error(response.json())
        assert error["extensions"] == {"code": "RATE_LIMITED", "retryAfter": 1}
        response = await rest(org.token)
        assert response.status_code == 429 and response.headers["Retry-After"] == "1"
        assert response.json()["error"] == "RATE_LIMITED" and "retry after 1 s" in response.json()["detail"]

        assert "errors" not in await api.gql("{ organization { id } }", token=other.token)
        assert (await rest(other.token)).status_code == 200
        assert (await api.client.get("/health")).status_code == 200
        assert (await api.post("{ organization { id } }")).status_code == 200  # anonymous: not counted per organization


class _Records(logging.Handler):
    def __init__(self) -> None:
        super().__init__(logging.WARNING)
        self.messages: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.messages.append(record.getMessage())


async def test_the_rate_limit_fails_open_when_redis_is_down(settings, session_factory, org):
    dead = Redis(host="127.0.0.1", port=1, socket_connect_timeout=0.2)
    records = _Records()
    logging.getLogger("kassa.rate_limit").addHandler(records)  # litestar reconfigures the root logger
    try:
        async with serve(settings, session_factory, dead, rate_limit_per_second=1, rate_limit_burst=1) as api:
            for _ in range(3):
                assert "errors" not in await api.gql("{ organization { id } }", token=org.token)
                response = await api.client.post("/v1/events/ingest", json={"events": []}, headers={"Authorization": f"Bearer {org.token}"})
                assert response.status_code == 200
    finally:
        logging.getLogger("kassa.rate_limit").removeHandler(records)
        await dead.aclose()
    assert len([m for m in records.messages if "Rate limit not enforced" in m]) == 1


async def test_many_slow_requests_of_one_organization_do_not_stall_another(live, settings, redis):
    org = await make_org(live.session_factory, name="Heavy")
    other = await make_org(live.session_factory, name="Light")
    customer = await create_customer(live.api, org.token)
    async with serve(
        settings, live.session_factory, redis, org_max_concurrent_requests=2, org_concurrency_wait_seconds=0.2, request_timeout_seconds=20
    ) as api:
        heavy: list[asyncio.Task] = []
        try:
            async with locked_customer(live.session_factory, customer["id"]):
                heavy += [
                    asyncio.create_task(api.post(UPDATE_NAME, {"input": {"id": customer["id"], "name": f"n{i}"}}, token=org.token))
                    for i in range(12)
                ]
                await asyncio.sleep(0.1)  # the heavy ones hold their two slots, the others wait for one
                started = time.perf_counter()
                light = await asyncio.wait_for(api.gql("{ organization { name } customers(first: 5) { nodes { id } } }", token=other.token), 5)
                health = await asyncio.wait_for(api.client.get("/health"), 5)
                elapsed = time.perf_counter() - started
                deadline = time.monotonic() + 5
                while sum(task.done() for task in heavy) < 10 and time.monotonic() < deadline:
                    await asyncio.sleep(0.05)
                refused = [task.result() for task in heavy if task.done()]
        finally:  # the lock is released: the two admitted updates finish
            results = await asyncio.gather(*heavy, return_exceptions=True)
    assert light["data"]["organization"]["name"] == "Light"
    assert health.status_code == 200
    assert elapsed < 2, elapsed
    # beyond its two slots, the heavy organization was told to come back later
    assert len(refused) == 10, [r.status_code for r in refused]
    assert all(r.status_code == 429 and r.json()["errors"][0]["extensions"]["code"] == "RATE_LIMITED" for r in refused)
    assert sum(r.status_code == 200 for r in results) == 2


async def test_a_read_waiting_in_a_dataloader_is_cut_by_the_time_limit(live, settings, redis):
    from sqlalchemy import text

    org = await make_org(live.session_factory)
    await create_business(live.api, org.token, prefix="slow", members=2)
    query = "{ customers(first: 10) { nodes { id members { email } } } }"
    async with serve(settings, live.session_factory, redis, request_timeout_seconds=0.5) as api:
        async with live.session_factory() as holder:  # members cannot be read until the holder lets go
            await holder.execute(text("LOCK TABLE members IN ACCESS EXCLUSIVE MODE"))
            response = await asyncio.wait_for(api.post(query, token=org.token), 10)
            await holder.rollback()
        assert response.status_code == 503, response.text
        assert _error(response.json())["extensions"]["code"] == "TIMEOUT"
        for _ in range(3):  # the connections are clean afterwards
            members = (await api.data(query, token=org.token))["customers"]["nodes"][0]["members"]
            assert len(members) == 3


async def test_a_request_over_the_in_flight_limit_waits_briefly_for_a_slot(live, settings, redis):
    org = await make_org(live.session_factory)
    customer = await create_customer(live.api, org.token, externalId="c1")
    event = {"name": "call", "external_customer_id": "c1", "external_id": "e1"}
    async with serve(settings, live.session_factory, redis, org_max_concurrent_requests=1, org_concurrency_wait_seconds=5) as api:
        async with locked_customer(live.session_factory, customer["id"]):
            update = asyncio.create_task(api.post(UPDATE_NAME, {"input": {"id": customer["id"], "name": "New"}}, token=org.token))
            await asyncio.sleep(0.2)  # the update holds the organization's only slot
            ingest = asyncio.create_task(
                api.client.post("/v1/events/ingest", json={"events": [event]}, headers={"Authorization": f"Bearer {org.token}"})
            )
            await asyncio.sleep(0.3)
            assert not update.done() and not ingest.done()  # the ingest waits for the slot
        updated, ingested = await asyncio.wait_for(asyncio.gather(update, ingest), 10)
    assert updated.json()["data"]["updateCustomer"]["customer"]["name"] == "New"
    assert ingested.status_code == 200 and ingested.json() == {"inserted": 1, "duplicates": 0}


async def test_the_api_database_connections_carry_the_time_limit(settings):
    from sqlalchemy import text

    app = create_app(replace(settings, request_timeout_seconds=12, health_worker_stale_seconds=0))  # its own engine and Redis, made at startup
    async with app.lifespan():
        async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://kassa.test") as client:
            assert (await client.get("/health")).status_code == 200
        async with app.state.runtime.session_factory() as session:
            assert (await session.execute(text("SHOW statement_timeout"))).scalar() == "12s"


async def test_a_limit_of_zero_is_no_limit(settings, session_factory, redis, org):
    zeros = dict(graphql_max_cost=0, graphql_max_response_bytes=0, request_timeout_seconds=0, rate_limit_per_second=0, rate_limit_burst=1)
    async with serve(settings, session_factory, redis, **zeros) as api:
        await create_customer(api, org.token)
        body = await api.gql(ATTACK, token=org.token)
        assert "errors" not in body and len(body["data"]["a29"]["nodes"]) == 1
        for _ in range(5):
            assert (await api.post("{ organization { id } }", token=org.token)).status_code == 200
