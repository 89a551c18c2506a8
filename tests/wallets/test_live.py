"""Live updates: a real graphql-transport-ws client over a real WebSocket against the app served
by uvicorn (in the test's event loop), fanned out through Redis pub/sub."""

from __future__ import annotations

import asyncio
import json
from contextlib import asynccontextmanager
from decimal import Decimal
from typing import Any, AsyncIterator

import pytest
import uvicorn
from websockets.asyncio.client import connect
from websockets.exceptions import ConnectionClosed

from app.auth.service import job_scope
from app.kit import jobs
from app.kit.ids import to_global_id
from app.server import create_app
from app.wallets import service as wallets
from tests.conftest import make_org, tenant_factory
from tests.meters.helpers import condition, create_meter, ingest_rest
from tests.orders.factories import make_customer, merchant
from workers.meters import update_customer
from workers.wallets import balance_changed

WALLET_UPDATES = """
subscription($customerId: ID!, $currency: String) {
  walletUpdates(customerId: $customerId, currency: $currency) {
    walletId customerId currency
    balance { amount currency } held { amount currency } available { amount currency }
    lastTransaction { id type amount { amount currency } createdAt }
    at
  }
}
"""

METER_UPDATES = """
subscription($customerId: ID!) {
  customerMeterUpdates(customerId: $customerId) {
    customerId status at
    meters { meterId meterName consumed credited balance percentUsed status }
  }
}
"""

WAIT = 10.0  # seconds: generous on a shared machine; a message normally arrives in milliseconds


@asynccontextmanager
async def served(live) -> AsyncIterator[Any]:
    """The app on a real port, in this event loop (its own live hub: one pub/sub connection)."""
    app = create_app(live.settings, session_factory=live.session_factory, redis=live.redis)
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=0, lifespan="on", log_level="warning", ws="websockets-sansio"))
    task = asyncio.create_task(server.serve())
    while not server.started:
        await asyncio.sleep(0.01)
        if task.done():
            task.result()
    server.port = server.servers[0].sockets[0].getsockname()[1]
    server.app = app
    try:
        yield server
    finally:
        server.should_exit = True
        await task


class Client:
    """A graphql-transport-ws client."""

    def __init__(self, socket) -> None:
        self.socket = socket

    async def send(self, message: dict) -> None:
        await self.socket.send(json.dumps(message))

    async def receive(self, timeout: float = WAIT) -> dict:
        return json.loads(await asyncio.wait_for(self.socket.recv(), timeout))

    async def init(self, payload: dict | None) -> dict:
        await self.send({"type": "connection_init", **({"payload": payload} if payload is not None else {})})
        return await self.receive()

    async def subscribe(self, id: str, query: str, variables: dict) -> None:
        await self.send({"id": id, "type": "subscribe", "payload": {"query": query, "variables": variables}})

    async def next(self, id: str) -> dict:
        message = await self.receive()
        assert message.get("id") == id and message["type"] == "next", message
        assert "errors" not in message["payload"], message
        return message["payload"]["data"]


@asynccontextmanager
async def client(server, *, headers: dict | None = None) -> AsyncIterator[Client]:
    async with connect(f"ws://127.0.0.1:{server.port}/graphql", subprotocols=["graphql-transport-ws"], additional_headers=headers) as socket:
        assert socket.subprotocol == "graphql-transport-ws"
        yield Client(socket)


async def _customer(live, org, *, email: str = "ann@example.com"):
    async with tenant_factory(live.session_factory, org.id)() as session:
        customer = await make_customer(session, merchant(org.id), email=email)
        await session.commit()
    return customer


async def _adjust(live, org, customer, amount: int, currency: str = "usd") -> str:
    """A committed balance change, then its job run (as the worker would): the job publishes."""
    async with tenant_factory(live.session_factory, org.id)() as session:
        wallet, _ = await wallets.adjust(session, merchant(org.id), customer.id, currency, amount, reason="live test")
        await jobs.commit(session, live.redis)
    await balance_changed({"session_factory": live.session_factory, "redis": live.redis}, job_scope(org.id), str(wallet.id))
    return str(wallet.id)


async def test_wallet_updates_stream_the_balance_as_it_changes(live):
    org = await make_org(live.session_factory)
    customer = await _customer(live, org)
    wallet_id = await _adjust(live, org, customer, 1000)
    await _adjust(live, org, customer, 70, currency="eur")
    customer_id = to_global_id("Customer", customer.id)
    async with served(live) as server, client(server) as c:
        assert await c.init({"Authorization": f"Bearer {org.token}"}) == {"type": "connection_ack"}
        await c.subscribe("usd", WALLET_UPDATES, {"customerId": customer_id, "currency": "USD"})
        first = (await c.next("usd"))["walletUpdates"]
        assert first["walletId"] == to_global_id("Wallet", wallet_id)
        assert first["customerId"] == customer_id
        assert (first["balance"], first["available"], first["held"]) == (
            {"amount": 1000, "currency": "usd"}, {"amount": 1000, "currency": "usd"}, {"amount": 0, "currency": "usd"},
        )

        await _adjust(live, org, customer, -300)
        update = (await c.next("usd"))["walletUpdates"]
        assert update["balance"] == {"amount": 700, "currency": "usd"}
        assert update["lastTransaction"]["type"] == "ADJUSTMENT"
        assert update["lastTransaction"]["amount"] == {"amount": -300, "currency": "usd"}

        await _adjust(live, org, customer, 5, currency="eur")  # another currency: not this operation's
        await _adjust(live, org, customer, 1)
        assert (await c.next("usd"))["walletUpdates"]["balance"]["amount"] == 701

        # every wallet of the customer when no currency is given
        await c.subscribe("all", WALLET_UPDATES, {"customerId": customer_id})
        initial = [(await c.next("all"))["walletUpdates"] for _ in range(2)]
        assert sorted((u["currency"], u["balance"]["amount"]) for u in initial) == [("eur", 75), ("usd", 701)]
        await c.send({"id": "all", "type": "complete"})
        await c.send({"id": "usd", "type": "complete"})
        await c.send({"type": "ping"})
        assert await c.receive() == {"type": "pong"}
        assert server.app.state.runtime.live.channels == []  # the last listener gone: unsubscribed


def _ctx(live) -> dict:
    return {"session_factory": live.session_factory, "redis": live.redis}


async def _count_until(live, org, customer, c: Client, done) -> dict:
    """Run the meter update job until the customer's meters show what `done` wants; each run
    that moved a total sends an update. (The job counts events up to the oldest transaction
    still running on the server, which another test run may hold back for a moment.)"""
    for _ in range(100):
        summary = await update_customer(_ctx(live), job_scope(org.id), str(customer.id))
        if "changed=0" in summary:
            await asyncio.sleep(0.1)
            continue
        update = (await c.next("m"))["customerMeterUpdates"]
        if done(update):
            return update
    raise AssertionError("the meters never showed the events")


async def test_customer_meter_updates(live):
    org = await make_org(live.session_factory)
    customer = await _customer(live, org)
    await create_meter(live.api, org.token, "calls", [condition("name", "eq", "api_call")])
    customer_id = to_global_id("Customer", customer.id)
    async with served(live) as server, client(server) as c:
        assert await c.init({"token": org.token}) == {"type": "connection_ack"}
        await c.subscribe("m", METER_UPDATES, {"customerId": customer_id})
        first = (await c.next("m"))["customerMeterUpdates"]
        assert first["customerId"] == customer_id
        assert [(m["meterName"], Decimal(m["consumed"])) for m in first["meters"]] == [("calls", 0)]

        response = await ingest_rest(live.api, org.token, [{"name": "api_call", "customer_id": customer_id, "external_id": f"e{i}"} for i in range(3)])
        assert response.status_code == 200, response.text
        update = await _count_until(live, org, customer, c, lambda u: Decimal(u["meters"][0]["consumed"]) == 3)
        [calls] = update["meters"]
        assert (calls["meterName"], Decimal(calls["consumed"]), Decimal(calls["balance"]), calls["status"]) == ("calls", 3, -3, "OK")

        # a run that changes no total publishes nothing: the next message is the ping's answer
        await update_customer(_ctx(live), job_scope(org.id), str(customer.id))
        await c.send({"type": "ping"})
        assert await c.receive() == {"type": "pong"}


@pytest.mark.parametrize(
    "payload", [None, {}, {"Authorization": "Bearer kassa_nope"}, {"token": "kassa_nope"}, {"Authorization": "Basic abc"}, {"Authorization": 5}]
)
async def test_a_bad_or_missing_token_closes_the_connection(live, payload):
    org = await make_org(live.session_factory)
    customer = await _customer(live, org)
    await _adjust(live, org, customer, 10)
    async with served(live) as server, client(server) as c:
        await c.send({"type": "connection_init", **({"payload": payload} if payload is not None else {})})
        with pytest.raises(ConnectionClosed) as closed:
            await c.receive()
        assert closed.value.rcvd.code == 4403
        # and subscribing without an acknowledged connection gets nothing either
    async with served(live) as server, client(server) as c:
        await c.subscribe("x", WALLET_UPDATES, {"customerId": to_global_id("Customer", customer.id)})
        with pytest.raises(ConnectionClosed) as closed:
            await c.receive()
        assert closed.value.rcvd.code == 4401


async def test_the_token_in_the_upgrade_header_and_the_scopes(live):
    org = await make_org(live.session_factory)
    customer = await _customer(live, org)
    await _adjust(live, org, customer, 10)
    customer_id = to_global_id("Customer", customer.id)
    async with served(live) as server:
        async with client(server, headers={"Authorization": f"Bearer {org.token}"}) as c:
            assert await c.init(None) == {"type": "connection_ack"}
            await c.subscribe("w", WALLET_UPDATES, {"customerId": customer_id})
            assert (await c.next("w"))["walletUpdates"]["balance"]["amount"] == 10
        from app.auth.service import issue_token

        async with tenant_factory(live.session_factory, org.id)() as session:
            _token, plain = await issue_token(session, org.id, scopes=["meters:read"])
            await session.commit()
        async with client(server) as c:
            assert await c.init({"token": plain}) == {"type": "connection_ack"}
            await c.subscribe("w", WALLET_UPDATES, {"customerId": customer_id})
            message = await c.receive()
            assert message["type"] == "error" and message["id"] == "w", message
            assert message["payload"][0]["extensions"]["code"] == "FORBIDDEN"
            assert "wallets:read" in message["payload"][0]["message"]
            await c.subscribe("m", METER_UPDATES, {"customerId": customer_id})
            assert (await c.next("m"))["customerMeterUpdates"]["customerId"] == customer_id


async def test_another_organizations_customer_is_not_found(live):
    org = await make_org(live.session_factory)
    other = await make_org(live.session_factory, name="Other")
    customer = await _customer(live, org)
    await _adjust(live, org, customer, 10)
    async with served(live) as server, client(server) as c:
        assert await c.init({"Authorization": f"Bearer {other.token}"}) == {"type": "connection_ack"}
        for id, query in (("w", WALLET_UPDATES), ("m", METER_UPDATES)):
            await c.subscribe(id, query, {"customerId": to_global_id("Customer", customer.id)})
            message = await c.receive()
            assert message["type"] == "error" and message["id"] == id, message
            assert message["payload"][0]["extensions"]["code"] == "NOT_FOUND"
            assert "not found" in message["payload"][0]["message"].lower()
        await c.subscribe("q", "query { __typename }", {})  # queries and mutations go over HTTP
        message = await c.receive()
        assert message["type"] == "error" and message["id"] == "q", message


async def test_fan_out_reaches_every_api_process(live):
    """Two API processes (two apps, each with its own pub/sub connection): a change published by
    the worker reaches the clients of both."""
    org = await make_org(live.session_factory)
    customer = await _customer(live, org)
    await _adjust(live, org, customer, 100)
    variables = {"customerId": to_global_id("Customer", customer.id), "currency": "usd"}
    async with served(live) as first, served(live) as second:
        assert first.app.state.runtime.live is not second.app.state.runtime.live
        async with client(first) as a, client(second) as b, client(second) as b2:
            for c in (a, b, b2):
                assert await c.init({"Authorization": f"Bearer {org.token}"}) == {"type": "connection_ack"}
                await c.subscribe("w", WALLET_UPDATES, variables)
                assert (await c.next("w"))["walletUpdates"]["balance"]["amount"] == 100
            # the two clients of the second process share its one subscription to the channel
            assert len(second.app.state.runtime.live.channels) == 1
            await _adjust(live, org, customer, 23)
            for c in (a, b, b2):
                assert (await c.next("w"))["walletUpdates"]["balance"]["amount"] == 123


async def _kill_pubsub_connections(redis) -> int:
    """Cut this test run's pub/sub connections (those on its own Redis database) as a Redis
    restart would."""
    db = redis.connection_pool.connection_kwargs.get("db", 0)
    killed = 0
    for entry in await redis.client_list():
        if str(entry.get("db")) == str(db) and int(entry.get("sub", 0)) > 0:
            await redis.execute_command("CLIENT", "KILL", "ID", entry["id"])
            killed += 1
    return killed


async def test_the_hub_resubscribes_after_losing_redis(live):
    org = await make_org(live.session_factory)
    customer = await _customer(live, org)
    await _adjust(live, org, customer, 100)
    async with served(live) as server, client(server) as c:
        assert await c.init({"token": org.token}) == {"type": "connection_ack"}
        await c.subscribe("w", WALLET_UPDATES, {"customerId": to_global_id("Customer", customer.id)})
        assert (await c.next("w"))["walletUpdates"]["balance"]["amount"] == 100
        assert await _kill_pubsub_connections(live.redis) == 1
        # what is published while the hub reconnects is lost (best effort); the next changes arrive
        for attempt in range(1, 40):
            await _adjust(live, org, customer, 1)
            try:
                update = json.loads(await asyncio.wait_for(c.socket.recv(), 0.5))
            except TimeoutError:
                continue
            assert update["payload"]["data"]["walletUpdates"]["balance"]["amount"] >= 100 + attempt
            break
        else:
            raise AssertionError("no update after the pub/sub connection was cut")
