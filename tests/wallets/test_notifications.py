"""Wallet webhooks: `wallet.balance_updated` at most once a second per wallet with the
transactions since the last one, `wallet.low_balance` once per crossing of the organization's
threshold, `wallet.depleted` once per reaching zero; delivered signed like every event. Through
the wallet service (committed) and the `wallets.balance_changed` job."""

from __future__ import annotations

import asyncio
import json
from datetime import timedelta

import pytest

from app.auth.service import job_scope
from app.kit import jobs
from app.kit.ids import to_global_id
from app.wallets import service as wallets
from tests.conftest import make_org, tenant_factory
from tests.orders.factories import make_customer, merchant, rows
from tests.webhooks.receiver import Receiver
from tests.webhooks.test_delivery import make_endpoint, verify
from workers.wallets import balance_changed

WALLET_TYPES = ["WALLET_BALANCE_UPDATED", "WALLET_LOW_BALANCE", "WALLET_DEPLETED"]


def _ctx(live) -> dict:
    return {"session_factory": live.session_factory, "redis": live.redis}


async def _customer(live, org):
    async with tenant_factory(live.session_factory, org.id)() as session:
        customer = await make_customer(session, merchant(org.id))
        await session.commit()
    return customer


async def _adjust(live, org, customer, amount: int, *, reason: str = "test") -> str:
    """One committed change of the wallet; its id."""
    async with tenant_factory(live.session_factory, org.id)() as session:
        wallet, _ = await wallets.adjust(session, merchant(org.id), customer.id, "usd", amount, reason=reason)
        await jobs.commit(session, live.redis)  # the job is asked for (the tests also run it themselves)
    return str(wallet.id)


async def _run(live, org, wallet_id: str) -> str:
    return await balance_changed(_ctx(live), job_scope(org.id), wallet_id)


async def _events(live, org, type: str) -> list[dict]:
    async with live.session_factory() as session:
        found = await rows(
            session, "SELECT payload FROM webhook_events WHERE organization_id = :org AND type = :type ORDER BY created_at, id", org=org.id, type=type
        )
    return [row.payload if isinstance(row.payload, dict) else json.loads(row.payload) for row in found]


async def _queued_ids(live) -> list[str]:
    return [i.decode() for i in await live.redis.zrange("arq:queue", 0, -1)]


async def test_a_burst_is_one_balance_updated_and_a_second_burst_waits_for_the_second(live, clock):
    org = await make_org(live.session_factory)
    customer = await _customer(live, org)
    for _ in range(50):
        wallet_id = await _adjust(live, org, customer, 100)
    summary = await _run(live, org, wallet_id)
    assert "transactions=50" in summary
    [event] = await _events(live, org, "wallet.balance_updated")
    data = event["data"]
    assert data["wallet"] == {
        "id": to_global_id("Wallet", wallet_id),
        "customerId": to_global_id("Customer", customer.id),
        "customerExternalId": None,
        "currency": "usd",
        "balance": 5000,
        "held": 0,
        "available": 5000,
        "modifiedAt": data["wallet"]["modifiedAt"],
    }
    assert data["hasMore"] is False
    assert len(data["transactions"]) == 50
    first = data["transactions"][0]
    assert set(first) == {"id", "sequence", "type", "amount", "memberId", "meterId", "quantity", "holdId", "orderId", "reason", "createdAt"}
    assert (first["type"], first["amount"], first["reason"]) == ("ADJUSTMENT", 100, "test")
    sequences = [t["sequence"] for t in data["transactions"]]
    assert sequences == sorted(sequences)

    # run twice: nothing new, nothing sent
    await _run(live, org, wallet_id)
    assert len(await _events(live, org, "wallet.balance_updated")) == 1

    # a second burst within the second: deferred, the job asked for again once the second passed
    for _ in range(5):
        await _adjust(live, org, customer, -1)
    summary = await _run(live, org, wallet_id)
    assert "deferred_until" in summary and "sent=-" in summary
    assert len(await _events(live, org, "wallet.balance_updated")) == 1
    deferred = [i for i in await _queued_ids(live) if i.startswith(f"wallets.balance_changed:{wallet_id}:after:")]
    assert len(deferred) == 1
    assert "sent=-" in await _run(live, org, wallet_id)  # run twice while waiting: still nothing sent

    clock.advance(timedelta(seconds=1))
    await _run(live, org, wallet_id)
    events = await _events(live, org, "wallet.balance_updated")
    assert len(events) == 2
    assert [t["amount"] for t in events[1]["data"]["transactions"]] == [-1] * 5
    assert events[1]["data"]["wallet"]["balance"] == 4995
    assert min(t["sequence"] for t in events[1]["data"]["transactions"]) > max(sequences)
    async with live.session_factory() as session:
        [state] = await rows(session, "SELECT notified_sequence FROM wallets WHERE id = :id", id=wallet_id)
    assert state.notified_sequence == events[1]["data"]["transactions"][-1]["sequence"]


async def test_more_than_a_hundred_transactions_come_in_pages(live, clock):
    org = await make_org(live.session_factory)
    customer = await _customer(live, org)
    async with tenant_factory(live.session_factory, org.id)() as session:
        subject = merchant(org.id)
        for _ in range(130):
            wallet, _ = await wallets.grant(session, subject, customer.id, "usd", 1, expires_at=None, reason=None)
        await session.commit()
    await _run(live, org, str(wallet.id))
    clock.advance(timedelta(seconds=1))
    await _run(live, org, str(wallet.id))
    first, second = await _events(live, org, "wallet.balance_updated")
    assert (len(first["data"]["transactions"]), first["data"]["hasMore"]) == (100, True)
    assert (len(second["data"]["transactions"]), second["data"]["hasMore"]) == (30, False)


async def test_low_balance_once_per_crossing_and_depleted_once_per_reaching_zero(live, clock):
    org = await make_org(live.session_factory)  # threshold: 500 minor units by default
    customer = await _customer(live, org)

    async def change(amount: int) -> None:
        wallet_id = await _adjust(live, org, customer, amount)
        clock.advance(timedelta(seconds=2))
        await _run(live, org, wallet_id)

    await change(1000)  # 1000
    assert await _events(live, org, "wallet.low_balance") == []
    await change(-600)  # 400: under
    await change(-100)  # 300: still under, no second one
    assert len(await _events(live, org, "wallet.low_balance")) == 1
    await change(700)  # 1000: back above
    await change(-900)  # 100: under again
    low = await _events(live, org, "wallet.low_balance")
    assert len(low) == 2
    assert low[1]["data"]["threshold"] == 500 and low[1]["data"]["wallet"]["balance"] == 100
    assert await _events(live, org, "wallet.depleted") == []
    await change(-100)  # 0
    await change(50)
    await change(-50)  # 0 again
    depleted = await _events(live, org, "wallet.depleted")
    assert len(depleted) == 2
    assert depleted[0]["data"]["wallet"]["balance"] == 0
    assert len(await _events(live, org, "wallet.low_balance")) == 2  # stayed under all along
    assert len(await _events(live, org, "wallet.balance_updated")) == 8


async def test_a_new_empty_wallet_is_not_depleted(live):
    org = await make_org(live.session_factory)
    customer = await _customer(live, org)
    async with tenant_factory(live.session_factory, org.id)() as session:
        wallet = await wallets.wallet_for(session, job_scope(org.id), customer.id, "eur")
        await session.commit()
    assert await _run(live, org, str(wallet.id)) == "sent=- transactions=0"
    assert await _events(live, org, "wallet.depleted") == []


async def test_concurrent_runs_send_once(live):
    org = await make_org(live.session_factory)
    customer = await _customer(live, org)
    for _ in range(3):
        wallet_id = await _adjust(live, org, customer, 5)
    for _ in range(5):
        await asyncio.gather(*[_run(live, org, wallet_id) for _ in range(4)])
    [event] = await _events(live, org, "wallet.balance_updated")
    assert len(event["data"]["transactions"]) == 3


@pytest.fixture
def receiver():
    server = Receiver()
    yield server
    server.close()


async def test_wallet_webhooks_are_delivered_signed(live, receiver):
    org = await make_org(live.session_factory)
    endpoint = await make_endpoint(live, org.token, receiver.url, WALLET_TYPES)
    customer = await _customer(live, org)
    await _adjust(live, org, customer, 100)
    await _adjust(live, org, customer, -100)
    await live.run_worker()  # the coalesced wallets.balance_changed job, then the deliveries

    types = sorted(verify(endpoint["secret"], r)["type"] for r in receiver.requests)
    assert types == ["wallet.balance_updated", "wallet.depleted", "wallet.low_balance"]
    [updated] = [p for p in map(json.loads, (r.body for r in receiver.requests)) if p["type"] == "wallet.balance_updated"]
    assert [t["amount"] for t in updated["data"]["transactions"]] == [100, -100]
