"""Holds through GraphQL: hold, capture (the rest released), release, expiry (moved clock, the
job), idempotency, insufficient funds changing nothing, member budgets, walletCheck's reasons,
tenant isolation and bad input; and 200 concurrent operations on one wallet. After every test
conftest checks each wallet's balance against its ledger and lots, and `held` against its
active holds."""

from __future__ import annotations

import asyncio
import random
import uuid
from datetime import timedelta
from decimal import Decimal

import pytest
from sqlalchemy import text

from app.kit.tenancy import tenant_session
from app.models.wallet import WalletUsageTotal
from app.wallets import holds as wallet_holds
from app.wallets import service as wallets
from app.wallets.errors import HoldNotActive, InsufficientFunds
from tests.conftest import as_owner, make_org
from tests.operations import create_customer
from tests.orders.factories import merchant
from tests.wallets.holds_support import (
    CHECK,
    WALLET_HOLDS,
    adjust,
    business_with_members,
    capture,
    hold,
    release,
    set_budget,
    wallet_priced_subscription,
)


async def _customer(api, org, email="ann@example.com") -> str:
    return (await create_customer(api, org.token, email=email))["id"]


async def _wallet_row(session_factory) -> list:
    async with session_factory() as session, as_owner(session):
        return (await session.execute(text("SELECT balance, held FROM wallets"))).all()


async def test_hold_then_partial_capture_releases_the_rest_and_release_frees_it(api, org):
    customer = await _customer(api, org)
    await adjust(api, org.token, customer, 1000)
    held = await hold(api, org.token, customer, 400, description="one request")
    assert held["__typename"] == "WalletHoldSuccess", held
    assert held["hold"]["status"] == "ACTIVE" and held["hold"]["amount"] == {"amount": 400, "currency": "usd"}
    assert held["hold"]["description"] == "one request" and held["hold"]["captured"] is None
    assert (held["wallet"]["balance"]["amount"], held["wallet"]["held"]["amount"], held["wallet"]["available"]["amount"]) == (1000, 400, 600)

    captured = await capture(api, org.token, held["hold"]["id"], 250, key="cap-1")
    assert captured["__typename"] == "WalletHoldSuccess", captured
    assert captured["hold"]["status"] == "CAPTURED" and captured["hold"]["captured"]["amount"] == 250
    assert (captured["wallet"]["balance"]["amount"], captured["wallet"]["held"]["amount"], captured["wallet"]["available"]["amount"]) == (750, 0, 750)

    again = await capture(api, org.token, held["hold"]["id"], 10)
    assert again["__typename"] == "HoldNotActiveError" and again["status"] == "captured"

    second = (await hold(api, org.token, customer, 700))["hold"]
    released = await release(api, org.token, second["id"])
    assert released["hold"]["status"] == "RELEASED" and released["wallet"]["available"]["amount"] == 750
    assert (await release(api, org.token, second["id"]))["__typename"] == "HoldNotActiveError"

    zero = (await hold(api, org.token, customer, 50))["hold"]
    nothing = await capture(api, org.token, zero["id"], 0)
    assert nothing["hold"]["status"] == "CAPTURED" and nothing["hold"]["captured"]["amount"] == 0 and nothing["wallet"]["balance"]["amount"] == 750

    listed = (await api.data(WALLET_HOLDS, {"id": held["wallet"]["id"], "status": "CAPTURED"}, token=org.token))["walletHolds"]
    assert sorted(h["captured"]["amount"] for h in listed["nodes"]) == [0, 250]
    node = (await api.data("query($id: ID!) { node(id: $id) { ... on WalletHold { status amount { amount } } } }", {"id": second["id"]}, token=org.token))
    assert node["node"] == {"status": "RELEASED", "amount": {"amount": 700}}
    entries = await _entries(api, org)
    assert entries == [("adjustment", 1000), ("hold_capture", -250)]


async def _entries(api, org) -> list[tuple[str, int]]:
    query = "query($id: ID!, $c: String!) { customerWallet(customerId: $id, currency: $c) { recentTransactions { type amount { amount } holdId } } }"
    customers = (await api.data("{ customers(first: 10) { nodes { id } } }", token=org.token))["customers"]["nodes"]
    result = []
    for c in customers:
        wallet = (await api.data(query, {"id": c["id"], "c": "usd"}, token=org.token))["customerWallet"]
        if wallet:
            result += [(n["type"].lower(), n["amount"]["amount"]) for n in reversed(wallet["recentTransactions"])]
    return result


async def test_insufficient_funds_is_a_typed_error_and_changes_nothing(api, org, session_factory):
    customer = await _customer(api, org)
    await adjust(api, org.token, customer, 100)
    refused = await hold(api, org.token, customer, 101)
    assert refused["__typename"] == "InsufficientFundsError", refused
    assert (refused["requested"], refused["available"], refused["reason"], refused["code"]) == (101, 100, "INSUFFICIENT_BALANCE", "INSUFFICIENT_FUNDS")
    assert await _wallet_row(session_factory) == [(100, 0)]
    assert (await hold(api, org.token, customer, 60))["__typename"] == "WalletHoldSuccess"
    refused = await hold(api, org.token, customer, 41)
    assert refused["__typename"] == "InsufficientFundsError" and refused["available"] == 40
    # the merchant cannot take out what is held either
    taken = await adjust(api, org.token, customer, -41)
    assert taken["__typename"] == "InsufficientFundsError"
    assert await _wallet_row(session_factory) == [(100, 60)]


async def test_a_replayed_idempotency_key_holds_once(api, org, session_factory):
    customer = await _customer(api, org)
    await adjust(api, org.token, customer, 500)
    first = await hold(api, org.token, customer, 200, key="h-1")
    second = await hold(api, org.token, customer, 200, key="h-1")
    assert first["hold"]["id"] == second["hold"]["id"]
    assert await _wallet_row(session_factory) == [(500, 200)]
    reused = await hold(api, org.token, customer, 300, key="h-1")
    assert reused["code"] == "IDEMPOTENCY_KEY_REUSED"
    one = await capture(api, org.token, first["hold"]["id"], 150, key="c-1")
    two = await capture(api, org.token, first["hold"]["id"], 150, key="c-1")
    assert one["__typename"] == two["__typename"] == "WalletHoldSuccess"
    assert await _wallet_row(session_factory) == [(350, 0)]


async def test_holds_expire_by_themselves_and_a_capture_after_expiry_is_a_typed_error(api, org, session_factory, redis, clock):
    from workers.wallet_holds import expire_holds

    customer = await _customer(api, org)
    await adjust(api, org.token, customer, 1000)
    short = (await hold(api, org.token, customer, 300, expires_in=60))["hold"]
    long = (await hold(api, org.token, customer, 200, expires_in=3600))["hold"]
    clock.advance(timedelta(seconds=61))
    late = await capture(api, org.token, short["id"])
    assert late["__typename"] == "HoldNotActiveError" and late["status"] == "expired", late
    # a typed error rolls its transaction back; the next hold expires the overdue one first
    big = await hold(api, org.token, customer, 800)
    assert big["__typename"] == "WalletHoldSuccess" and big["wallet"]["held"]["amount"] == 1000, big
    await release(api, org.token, big["hold"]["id"])
    assert await _wallet_row(session_factory) == [(1000, 200)]

    third = (await hold(api, org.token, customer, 100, expires_in=120))["hold"]
    clock.advance(timedelta(hours=2))
    ctx = {"session_factory": session_factory, "redis": redis}
    assert await expire_holds(ctx) == 1
    assert await expire_holds(ctx) == 0  # safe to run twice
    assert await _wallet_row(session_factory) == [(1000, 0)]
    statuses = {}
    for h in (short, long, third):
        node = await api.data("query($id: ID!) { node(id: $id) { ... on WalletHold { status resolvedAt } } }", {"id": h["id"]}, token=org.token)
        statuses[h["id"]] = node["node"]["status"]
    assert set(statuses.values()) == {"EXPIRED"}
    assert (await release(api, org.token, long["id"]))["status"] == "expired"


async def test_member_budgets_cap_holds_and_checks(api, org, session_factory):
    customer, (m1, m2) = await business_with_members(api, org.token)
    other_customer, (stranger, _) = await business_with_members(api, org.token, prefix="other")
    priced = await wallet_priced_subscription(session_factory, org.id, customer, unit_amount="0.5")
    await adjust(api, org.token, customer, 10_000)
    await set_budget(api, org.token, m1, 300)

    assert (await hold(api, org.token, customer, 200, member_id=m1))["__typename"] == "WalletHoldSuccess"
    refused = await hold(api, org.token, customer, 150, member_id=m1)
    assert refused["__typename"] == "InsufficientFundsError" and refused["reason"] == "MEMBER_BUDGET_EXCEEDED" and refused["available"] == 100
    assert (await hold(api, org.token, customer, 150, member_id=m2))["__typename"] == "WalletHoldSuccess"  # no cap for m2

    check = lambda units, member: api.data(CHECK, {"customerId": customer, "meterId": priced.meter_id, "units": units, "memberId": member}, token=org.token)  # noqa: E731
    over = (await check("300", m1))["walletCheck"]
    assert over == {
        "estimatedCost": {"amount": 150, "currency": "usd"}, "available": {"amount": 9650, "currency": "usd"},
        "memberBudgetRemaining": {"amount": 100, "currency": "usd"}, "covers": False, "reason": "MEMBER_BUDGET_EXCEEDED",
    }
    assert (await check("200", m1))["walletCheck"]["reason"] == "COVERED"
    assert (await check("300", m2))["walletCheck"]["memberBudgetRemaining"] is None

    # the member's captures count as its spend: once the cap is reached, everything is refused
    holds_of_m1 = (await api.data(WALLET_HOLDS, {"id": (await hold(api, org.token, customer, 100, member_id=m1))["wallet"]["id"], "status": "ACTIVE"}, token=org.token))
    m1_holds = [h for h in holds_of_m1["walletHolds"]["nodes"] if h["memberId"] == m1]
    for h in m1_holds:
        assert (await capture(api, org.token, h["id"]))["__typename"] == "WalletHoldSuccess"
    budget = await api.data("query($id: ID!) { node(id: $id) { ... on Member { walletBudgets { spent { amount } remaining { amount } } } } }", {"id": m1}, token=org.token)
    assert budget["node"]["walletBudgets"] == [{"spent": {"amount": 300}, "remaining": {"amount": 0}}]
    refused = await hold(api, org.token, customer, 1, member_id=m1)
    assert refused["reason"] == "MEMBER_BUDGET_EXCEEDED" and refused["available"] == 0
    assert (await check("2", m1))["walletCheck"]["reason"] == "MEMBER_BUDGET_EXCEEDED"

    # a member of another customer is not found
    assert (await hold(api, org.token, customer, 1, member_id=stranger))["__typename"] == "NotFoundError"
    body = await api.gql(CHECK, {"customerId": customer, "meterId": priced.meter_id, "units": "1", "memberId": stranger}, token=org.token)
    assert body["errors"]


async def test_wallet_check_reasons_and_a_tiered_estimate_from_the_period_total(api, org, session_factory):
    from app.catalog.service import MeteredTierDraft

    customer = await _customer(api, org)
    priced = await wallet_priced_subscription(session_factory, org.id, customer, unit_amount="2")
    unpriced = await wallet_priced_subscription(session_factory, org.id, customer, unit_amount="2", wallet=False)
    check = lambda units, meter=priced.meter_id: api.data(CHECK, {"customerId": customer, "meterId": meter, "units": units}, token=org.token)  # noqa: E731

    no_wallet = (await check("1"))["walletCheck"]
    assert no_wallet["reason"] == "INSUFFICIENT_BALANCE" and no_wallet["available"]["amount"] == 0 and no_wallet["estimatedCost"]["amount"] == 2
    await adjust(api, org.token, customer, 100)
    assert (await check("50"))["walletCheck"]["reason"] == "COVERED"
    assert (await check("50.5"))["walletCheck"]["reason"] == "INSUFFICIENT_BALANCE"
    await hold(api, org.token, customer, 10)
    assert (await check("50"))["walletCheck"] | {} == {
        "estimatedCost": {"amount": 100, "currency": "usd"}, "available": {"amount": 90, "currency": "usd"}, "memberBudgetRemaining": None,
        "covers": False, "reason": "INSUFFICIENT_BALANCE",
    }
    none = (await check("5", unpriced.meter_id))["walletCheck"]
    assert none["reason"] == "NO_WALLET_PRICE" and none["covers"] is False and none["estimatedCost"]["amount"] == 0

    tiers = ("graduated", [MeteredTierDraft(up_to=Decimal(100), unit_amount=Decimal(1)), MeteredTierDraft(up_to=None, unit_amount=Decimal("0.5"))])
    tiered = await wallet_priced_subscription(session_factory, org.id, customer, tiers=tiers)
    assert (await check("10", tiered.meter_id))["walletCheck"]["estimatedCost"]["amount"] == 10
    async with tenant_session(session_factory, merchant(org.id).scope) as session:
        start = await session.scalar(text("SELECT current_period_start FROM subscriptions WHERE id = :id"), {"id": tiered.subscription_id})
        session.add(
            WalletUsageTotal(organization_id=org.id, subscription_id=tiered.subscription_id, product_price_id=tiered.price_id, period_start=start, units=Decimal(95), amount=95)
        )
        await session.commit()
    # 95 used so far: 10 more are 5 at 1 and 5 at 0.5
    assert (await check("10", tiered.meter_id))["walletCheck"]["estimatedCost"]["amount"] == 8

    bad = await api.gql(CHECK, {"customerId": customer, "meterId": priced.meter_id, "units": "0"}, token=org.token)
    assert bad["errors"] and bad["data"] is None


async def test_another_organizations_customer_and_hold_are_not_found(api, org, session_factory):
    other = await make_org(session_factory, name="Other")
    customer = await _customer(api, org)
    await adjust(api, org.token, customer, 100)
    held = (await hold(api, org.token, customer, 50))["hold"]
    assert (await hold(api, other.token, customer, 10))["__typename"] == "NotFoundError"
    assert (await capture(api, other.token, held["id"]))["__typename"] == "NotFoundError"
    assert (await release(api, other.token, held["id"]))["__typename"] == "NotFoundError"
    node = await api.data("query($id: ID!) { node(id: $id) { id } }", {"id": held["id"]}, token=other.token)
    assert node["node"] is None
    assert await _wallet_row(session_factory) == [(100, 50)]


async def test_bad_input_is_a_validation_error(api, org, session_factory):
    customer = await _customer(api, org)
    await adjust(api, org.token, customer, 100)
    for amount, expires_in, currency, description, field in (
        (0, 60, "usd", None, "amount"),
        (10, 0, "usd", None, "expiresIn"),
        (10, 7 * 86400 + 1, "usd", None, "expiresIn"),
        (10, 60, "nope", None, "currency"),
        (10, 60, "usd", "x" * 513, "description"),
    ):
        result = await hold(api, org.token, customer, amount, expires_in=expires_in, currency=currency, description=description)
        assert result["__typename"] == "ValidationError", result
        assert [f["path"] for f in result["fields"]] == [[field]], result
    held = (await hold(api, org.token, customer, 40))["hold"]
    assert (await capture(api, org.token, held["id"], 41))["__typename"] == "ValidationError"
    assert (await capture(api, org.token, held["id"], -1))["__typename"] == "ValidationError"
    assert (await capture(api, org.token, "not-an-id"))["__typename"] == "NotFoundError"
    assert await _wallet_row(session_factory) == [(100, 40)]


async def test_capture_for_usage_captures_at_most_the_hold_of_that_wallet(session_factory, org):
    subject = merchant(org.id)
    async with tenant_session(session_factory, subject.scope) as session:
        from tests.orders.factories import make_customer

        ann = await make_customer(session, subject, email="ann@example.com")
        bob = await make_customer(session, subject, email="bob@example.com")
        await wallets.adjust(session, subject, ann.id, "usd", 1000, reason="x")
        await wallets.adjust(session, subject, bob.id, "usd", 1000, reason="x")
        row = await wallet_holds.hold(session, subject, ann.id, None, "usd", 300, 60)
        bob_wallet = await wallets.wallet_for(session, subject.scope, bob.id, "usd", lock=True)
        kw = dict(member_id=None, meter_id=None, product_price_id=None, quantity=Decimal(3))
        assert await wallet_holds.capture_for_usage(session, subject.scope, bob_wallet, row.id, 100, **kw) == 0
        ann_wallet = await wallets.wallet_for(session, subject.scope, ann.id, "usd", lock=True)
        assert await wallet_holds.capture_for_usage(session, subject.scope, ann_wallet, row.id, 500, **kw) == 300
        assert await wallet_holds.capture_for_usage(session, subject.scope, ann_wallet, row.id, 100, **kw) == 0
        assert (ann_wallet.balance, ann_wallet.held) == (700, 0)
        with pytest.raises(HoldNotActive):
            await wallet_holds.capture(session, subject, row.id)
        await session.commit()


# -- concurrency ------------------------------------------------------------------------------------


async def test_200_concurrent_holds_captures_releases_and_adjustments_never_overdraw(live):
    org = await make_org(live.session_factory, name="Busy")
    subject = merchant(org.id)
    async with tenant_session(live.session_factory, subject.scope) as session:
        from tests.orders.factories import make_customer

        customer = await make_customer(session, subject)
        await wallets.adjust(session, subject, customer.id, "usd", 5_000, reason="opening")
        await session.commit()

    rng = random.Random(7)
    granted = {"hold": 0, "captured": 0, "credited": 0, "debited": 0}
    refused = {"hold": 0}
    active: list[uuid.UUID] = []

    async def one(i: int) -> None:
        kind = rng.choice(("hold", "hold", "hold", "capture", "release", "credit", "debit"))
        async with tenant_session(live.session_factory, subject.scope) as session:
            try:
                if kind == "hold" or not active:
                    amount = rng.randint(50, 400)
                    row = await wallet_holds.hold(session, subject, customer.id, None, "usd", amount, 600)
                    await session.commit()
                    granted["hold"] += amount
                    active.append(row.id)
                elif kind in ("capture", "release"):
                    hold_id = active.pop(rng.randrange(len(active)))
                    if kind == "capture":
                        _wallet, row = await wallet_holds.capture(session, subject, hold_id, rng.randint(0, 50))
                        await session.commit()
                        granted["captured"] += row.captured_amount
                    else:
                        await wallet_holds.release(session, subject, hold_id)
                        await session.commit()
                elif kind == "credit":
                    await wallets.adjust(session, subject, customer.id, "usd", 100, reason="top")
                    await session.commit()
                    granted["credited"] += 100
                else:
                    await wallets.adjust(session, subject, customer.id, "usd", -150, reason="take")
                    await session.commit()
                    granted["debited"] += 150
            except InsufficientFunds:
                await session.rollback()
                refused["hold"] += 1
            except HoldNotActive:
                await session.rollback()

    await asyncio.gather(*(one(i) for i in range(200)))
    async with live.session_factory() as session, as_owner(session):
        balance, held = (await session.execute(text("SELECT balance, held FROM wallets"))).one()
        active_sum = await session.scalar(text("SELECT COALESCE(sum(amount), 0) FROM wallet_holds WHERE status = 'active'"))
        ledger = await session.scalar(text("SELECT sum(amount) FROM wallet_entries"))
        min_running = await session.scalar(text("SELECT min(s) FROM (SELECT sum(amount) OVER (ORDER BY sequence) AS s FROM wallet_entries) t"))
    assert balance == ledger == 5_000 + granted["credited"] - granted["debited"] - granted["captured"]
    assert held == active_sum and held <= balance
    assert min_running >= 0
    assert refused["hold"] > 0  # the wallet ran short at some point: the refusals were exercised


async def test_racing_holds_never_reserve_more_than_the_wallet_and_a_hold_is_captured_once(live):
    org = await make_org(live.session_factory, name="Race")
    subject = merchant(org.id)
    async with tenant_session(live.session_factory, subject.scope) as session:
        from tests.orders.factories import make_customer

        customer = await make_customer(session, subject)
        await wallets.adjust(session, subject, customer.id, "usd", 1_000, reason="opening")
        await session.commit()

    async def take() -> uuid.UUID | None:
        async with tenant_session(live.session_factory, subject.scope) as session:
            try:
                row = await wallet_holds.hold(session, subject, customer.id, None, "usd", 100, 600)
            except InsufficientFunds:
                return None
            await session.commit()
            return row.id

    won = [h for h in await asyncio.gather(*(take() for _ in range(40))) if h is not None]
    assert len(won) == 10

    async def capture_once(hold_id: uuid.UUID) -> bool:
        async with tenant_session(live.session_factory, subject.scope) as session:
            try:
                await wallet_holds.capture(session, subject, hold_id, 60)
            except HoldNotActive:
                return False
            await session.commit()
            return True

    results = await asyncio.gather(*(capture_once(won[0]) for _ in range(8)))
    assert results.count(True) == 1
    async with live.session_factory() as session, as_owner(session):
        assert tuple((await session.execute(text("SELECT balance, held FROM wallets"))).one()) == (940, 900)


async def test_a_capture_racing_the_usage_drain_for_the_same_hold_waits_instead_of_deadlocking(live):
    """The usage drain locks the wallet, then the hold it captures; a capture takes the same two
    locks in the same order (its statement joins the locked wallet row before it updates the
    hold). Taking the hold first, it deadlocked with the drain: each waited for the other."""
    org = await make_org(live.session_factory, name="Order")
    subject = merchant(org.id)
    async with tenant_session(live.session_factory, subject.scope) as session:
        from tests.orders.factories import make_customer

        customer = await make_customer(session, subject)
        await wallets.adjust(session, subject, customer.id, "usd", 1_000, reason="opening")
        row = await wallet_holds.hold(session, subject, customer.id, None, "usd", 300, 600)
        await session.commit()

    async def capture() -> str:
        async with tenant_session(live.session_factory, subject.scope) as session:
            try:
                await wallet_holds.capture(session, subject, row.id, 200)
            except HoldNotActive as exc:
                return exc.status
            await session.commit()
            return "captured"

    async with tenant_session(live.session_factory, subject.scope) as drain:
        wallet = await wallets.wallet_for(drain, subject.scope, customer.id, "usd", lock=True)  # the drain's first lock
        racing = asyncio.create_task(capture())
        await asyncio.sleep(0.5)  # the capture reads the hold, then waits for the wallet's lock
        assert not racing.done()
        kw = dict(member_id=None, meter_id=None, product_price_id=None, quantity=Decimal(3))
        assert await wallet_holds.capture_for_usage(drain, subject.scope, wallet, row.id, 100, **kw) == 100
        await drain.commit()
    assert await asyncio.wait_for(racing, 10) == "captured"  # the hold it read was captured by the drain
    async with live.session_factory() as session, as_owner(session):
        assert tuple((await session.execute(text("SELECT balance, held FROM wallets"))).one()) == (900, 0)


async def test_a_grant_expiring_while_a_debit_holds_the_wallet_waits_instead_of_deadlocking(live, clock):
    """A debit locks the wallet, then spends its lots; the grants' expiry takes the same locks in
    the same order (it read the expired lots without locking them). Locking the lots first, it
    deadlocked with the debit (the usage drain locks a thousand wallets at once)."""
    from datetime import datetime, timezone

    clock.set(datetime(2027, 1, 1, tzinfo=timezone.utc))
    org = await make_org(live.session_factory, name="Expiry")
    subject = merchant(org.id)
    async with tenant_session(live.session_factory, subject.scope) as session:
        from tests.orders.factories import make_customer

        customer = await make_customer(session, subject)
        await wallets.grant(session, subject, customer.id, "usd", 100, expires_at=clock.now() + timedelta(days=1), reason="promo")
        await wallets.adjust(session, subject, customer.id, "usd", 500, reason="opening")
        await session.commit()
    clock.set(clock.now() + timedelta(days=2))

    async def expire() -> int:
        async with tenant_session(live.session_factory, subject.scope) as session:
            done = await wallets.expire_grants(session, subject.scope)
            await session.commit()
            return done

    async with tenant_session(live.session_factory, subject.scope) as debit:
        wallet = await wallets.wallet_for(debit, subject.scope, customer.id, "usd", lock=True)  # the debit's first lock
        racing = asyncio.create_task(expire())
        await asyncio.sleep(0.5)  # the expiry reads the expired grant, then waits for the wallet's lock
        assert not racing.done()
        await wallets.debit(debit, subject.scope, wallet, "usage", 30)  # spends the grant first (its lot)
        await debit.commit()
    assert await asyncio.wait_for(racing, 10) == 1  # then it expires what the debit left of the grant
    async with live.session_factory() as session, as_owner(session):
        assert tuple((await session.execute(text("SELECT balance, held FROM wallets"))).one()) == (500 + 100 - 30 - 70, 0)
        entries = (await session.execute(text("SELECT type, amount FROM wallet_entries ORDER BY sequence"))).all()
    assert [tuple(e) for e in entries][-2:] == [("usage", -30), ("expiry", -70)]
