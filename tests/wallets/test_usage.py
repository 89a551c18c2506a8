"""The usage drain (app/wallets/usage.py): usage of a wallet-enabled metered price ingested over
REST is paid from the customer's wallet by the organization's drain job (`wallets.drain`), once,
priced on the period's total; what the wallet or a member's budget does not cover is recorded as
uncovered, exactly.

The tests run on real commits (the `live` fixture): the drain reads events by transaction id
against the snapshot xmin."""

from __future__ import annotations

import asyncio
import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from decimal import Decimal

import pytest
from sqlalchemy import insert, select, text

from app.auth.service import job_scope
from app.catalog import service as catalog
from app.catalog.service import PriceDraft, ProductDraft
from app.catalog.usage_pricing import metered_amount
from app.kit import jobs
from app.kit.errors import ValidationFailed
from app.kit.ids import to_global_id
from app.kit.tenancy import tenant_session
from app.members.service import MemberDraft
from app.meters import service as meters
from app.models import ProductPrice
from app.models.subscription import Subscription
from app.wallets import service as wallets
from app.wallets.usage import drain_organization
from tests.conftest import make_org
from tests.meters.helpers import ingest_rest, settle_xmin
from tests.orders.factories import make_customer, merchant, rows
from workers.wallets import drain

NOW = datetime(2027, 3, 20, 12, 0, tzinfo=timezone.utc)
PERIOD_START = datetime(2027, 3, 10, 12, 0, tzinfo=timezone.utc)
PERIOD_END = datetime(2027, 4, 10, 12, 0, tzinfo=timezone.utc)
CALLS = {"conjunction": "and", "clauses": [{"property": "name", "operator": "eq", "value": "api_call"}]}


@dataclass
class Setup:
    org_id: uuid.UUID
    token: str
    subject: object
    meter_id: uuid.UUID
    price: ProductPrice
    customer_id: uuid.UUID
    subscription_id: uuid.UUID
    members: dict[str, uuid.UUID]


async def _setup(
    live, *, unit_amount: str = "1", balance: int = 0, status: str = "active", members=("ann", "bob"), aggregation=None,
    started_at: datetime = PERIOD_START, currency: str = "usd",
) -> Setup:
    org = await make_org(live.session_factory, name=f"Org {uuid.uuid4().hex[:6]}")
    subject = merchant(org.id)
    async with tenant_session(live.session_factory, subject.scope) as session:
        meter = await meters.create_meter(session, subject, name="API calls", filter=CALLS, aggregation=aggregation or {"func": "count", "property": None})
        product = await catalog.create_product(
            session, subject,
            ProductDraft(
                name="Pro", recurring_interval="month",
                prices=[
                    PriceDraft(type="fixed", amount=1000, currency=currency),
                    PriceDraft(type="metered_unit", meter_id=meter.id, unit_amount=Decimal(unit_amount), wallet_enabled=True, currency=currency),
                ],
            ),
        )
        fixed = await session.scalar(select(ProductPrice).where(ProductPrice.product_id == product.id, ProductPrice.type == "fixed"))
        price = await session.scalar(select(ProductPrice).where(ProductPrice.product_id == product.id, ProductPrice.type == "metered_unit"))
        customer = await make_customer(
            session, subject, type="business", email=f"c-{uuid.uuid4().hex[:6]}@example.com",
            owner=MemberDraft(email="owner@example.com", name="Olga"),
            members=[MemberDraft(email=f"{m}@example.com", name=m) for m in members],
        )
        member_rows = await rows(session, "SELECT name, id FROM members WHERE customer_id = :c", c=customer.id)
        subscription_id = uuid.uuid4()
        trial = status == "trialing"
        await session.execute(
            insert(Subscription).values(
                id=subscription_id, organization_id=org.id, customer_id=customer.id, product_id=product.id, product_price_id=fixed.id,
                processor="manual", status=status, currency=currency, amount=1000, recurring_interval="month", anchor_at=PERIOD_START,
                period_number=-1 if trial else 0, current_period_start=PERIOD_START, current_period_end=PERIOD_END, started_at=started_at,
                trial_start=PERIOD_START if trial else None, trial_end=PERIOD_END if trial else None,
                user_metadata={}, created_at=PERIOD_START, modified_at=PERIOD_START,
            )
        )
        if balance:
            await wallets.adjust(session, subject, customer.id, currency, balance, reason="opening balance")
        await session.commit()
    return Setup(org.id, org.token, subject, meter.id, price, customer.id, subscription_id, {n: i for n, i in member_rows if n})


def _events(s: Setup, count: int, *, member: str | None = None, at: datetime = NOW, tokens: int | None = None, prefix: str | None = None) -> list[dict]:
    prefix = prefix or uuid.uuid4().hex
    batch = []
    for i in range(count):
        event = {"name": "api_call", "customer_id": str(s.customer_id), "timestamp": at.isoformat(), "external_id": f"{prefix}-{i}", "metadata": {}}
        if member is not None:
            event["member_id"] = str(s.members[member])
        if tokens is not None:
            event["metadata"]["tokens"] = tokens
        batch.append(event)
    return batch


async def _ingest(live, s: Setup, events: list[dict]) -> None:
    for start in range(0, len(events), 1000):
        response = await ingest_rest(live.api, s.token, events[start:start + 1000])
        assert response.status_code == 200, response.text


async def _settle(live) -> None:
    """The renewal's and the meter job's watermark: every committed event below the snapshot xmin."""
    await settle_xmin(live.session_factory)


async def _run_job(live, s: Setup, *, settle: bool = True) -> None:
    """The organization's drain job, as the worker runs it."""
    if settle:
        await _settle(live)
    await drain({"session_factory": live.session_factory, "redis": live.redis}, job_scope(s.org_id))


@dataclass
class WalletState:
    balance: int | None
    debits: list[tuple[uuid.UUID | None, int, Decimal]]  # (member, amount paid, quantity), oldest first
    uncovered: list[tuple[str, uuid.UUID | None, int, Decimal]]  # (reason, member, amount, quantity)

    @property
    def paid(self) -> int:
        return sum(amount for _, amount, _ in self.debits)

    @property
    def lost(self) -> int:
        return sum(amount for _, _, amount, _ in self.uncovered)


async def _state(live, s: Setup) -> WalletState:
    async with live.session_factory() as session:
        wallet = await rows(session, "SELECT balance FROM wallets WHERE customer_id = :c", c=s.customer_id)
        debits = await rows(
            session,
            "SELECT member_id, -amount, quantity FROM wallet_entries WHERE customer_id = :c AND type = 'usage' ORDER BY sequence",
            c=s.customer_id,
        )
        checks = await rows(
            session,
            "SELECT count(*) FROM wallet_entries WHERE customer_id = :c AND type = 'usage'"
            " AND (meter_id <> :m OR product_price_id <> :p OR quantity IS NULL)",
            c=s.customer_id, m=s.meter_id, p=s.price.id,
        )
        assert checks[0][0] == 0, "every usage debit names its meter, price and quantity"
        uncovered = await rows(
            session,
            "SELECT reason, member_id, amount, quantity FROM wallet_uncovered_usage WHERE customer_id = :c ORDER BY created_at, reason, member_id",
            c=s.customer_id,
        )
    return WalletState(wallet[0][0] if wallet else None, [tuple(r) for r in debits], [tuple(r) for r in uncovered])


# -- pricing: the period total, to the cent ------------------------------------------------------------


async def test_a_fractional_unit_amount_is_debited_exactly_over_many_batches(live, clock):
    clock.set(NOW)
    s = await _setup(live, unit_amount="0.05", balance=10_000)
    for batch in range(10):  # 33 calls a batch: 1.65 cents each, 16.5 -> 17 cents in all (not 10 x 2)
        await _ingest(live, s, _events(s, 33, member="ann" if batch % 2 else "bob"))
        await _run_job(live, s)
    state = await _state(live, s)
    assert state.paid == 17 == metered_amount(s.price, Decimal(330))
    assert state.balance == 10_000 - 17
    assert sum(q for _, _, q in state.debits) <= 330
    assert not state.uncovered
    # the totals kept: units and amount of the period
    async with live.session_factory() as session:
        [(units, amount)] = await rows(session, "SELECT units, amount FROM wallet_usage_totals WHERE subscription_id = :s", s=s.subscription_id)
    assert (units, amount) == (Decimal(330), 17)


async def test_a_batch_is_split_across_members_by_their_units_and_sums_exactly(live, clock):
    clock.set(NOW)
    s = await _setup(live, unit_amount="3", balance=10_000)
    await _ingest(live, s, _events(s, 2, member="ann") + _events(s, 1, member="bob") + _events(s, 4))
    await _run_job(live, s)
    state = await _state(live, s)
    def by_member(debits):
        return sorted(debits, key=lambda r: (r[0] is None, str(r[0])))

    assert by_member(state.debits) == by_member([(s.members["ann"], 6, Decimal(2)), (s.members["bob"], 3, Decimal(1)), (None, 12, Decimal(4))])
    assert state.balance == 10_000 - 21


async def test_a_sum_meter_pays_for_its_summed_property(live, clock):
    clock.set(NOW)
    s = await _setup(live, unit_amount="0.01", balance=10_000, aggregation={"func": "sum", "property": "tokens"})
    await _ingest(live, s, _events(s, 3, tokens=1500, member="ann"))  # 4,500 tokens at 0.01 cent
    await _run_job(live, s)
    state = await _state(live, s)
    assert state.debits == [(s.members["ann"], 45, Decimal(4500))]


# -- not enough money: uncovered, never negative ----------------------------------------------------------


async def test_usage_beyond_the_balance_is_uncovered_and_the_balance_stops_at_zero(live, clock):
    clock.set(NOW)
    s = await _setup(live, unit_amount="7", balance=100)
    await _ingest(live, s, _events(s, 20, member="ann"))  # 140
    await _run_job(live, s)
    state = await _state(live, s)
    assert state.balance == 0
    assert state.debits == [(s.members["ann"], 100, (Decimal(20) * 100 / 140).quantize(Decimal("0.000000000001")))]
    [(reason, member, amount, quantity)] = state.uncovered
    assert (reason, member, amount) == ("insufficient_balance", s.members["ann"], 40)
    assert quantity + state.debits[0][2] == 20
    await _ingest(live, s, _events(s, 5))  # 35 more, nothing to pay it with
    await _run_job(live, s)
    state = await _state(live, s)
    assert state.balance == 0 and state.paid == 100
    assert [(r, m, a, q) for r, m, a, q in state.uncovered][-1] == ("insufficient_balance", None, 35, Decimal(5))
    assert state.paid + state.lost == 175


async def test_without_a_wallet_in_the_currency_the_usage_is_uncovered_and_no_wallet_is_made(live, clock):
    clock.set(NOW)
    s = await _setup(live, unit_amount="2", balance=0)
    await _ingest(live, s, _events(s, 3))
    await _run_job(live, s)
    state = await _state(live, s)
    assert state.balance is None
    assert state.uncovered == [("no_wallet", None, 6, Decimal(3))]


async def test_a_member_over_its_budget_is_uncovered_for_that_member_only(live, clock):
    clock.set(NOW)
    s = await _setup(live, unit_amount="10", balance=10_000)
    async with tenant_session(live.session_factory, s.subject.scope) as session:
        await wallets.set_member_budget(session, s.subject, s.members["ann"], "usd", 50, "month")
        await session.commit()
    await _ingest(live, s, _events(s, 10, member="ann") + _events(s, 3, member="bob"))  # ann 100 (budget 50), bob 30
    await _run_job(live, s)
    state = await _state(live, s)
    assert sorted(state.debits, key=lambda r: str(r[0])) == sorted(
        [(s.members["ann"], 50, Decimal(5)), (s.members["bob"], 30, Decimal(3))], key=lambda r: str(r[0])
    )
    assert state.uncovered == [("member_budget", s.members["ann"], 50, Decimal(5))]
    async with live.session_factory() as session:
        [(spent,)] = await rows(session, "SELECT spent FROM member_budgets WHERE member_id = :m", m=s.members["ann"])
    assert spent == 50
    await _ingest(live, s, _events(s, 1, member="ann"))  # the budget is spent: all uncovered
    await _run_job(live, s)
    state = await _state(live, s)
    assert state.uncovered[-1] == ("member_budget", s.members["ann"], 10, Decimal(1))
    assert state.balance == 10_000 - 80


# -- one drain, many customers -------------------------------------------------------------------------


async def _sibling(live, s: Setup, *, balance: int, wallet_currency: str = "usd") -> Setup:
    """Another business customer of `s`'s organization, subscribed to the same product, its wallet
    in `wallet_currency` credited with `balance` (none when 0)."""
    async with tenant_session(live.session_factory, s.subject.scope) as session:
        fixed = await session.scalar(select(ProductPrice).where(ProductPrice.product_id == s.price.product_id, ProductPrice.type == "fixed"))
        customer = await make_customer(
            session, s.subject, type="business", email=f"c-{uuid.uuid4().hex[:6]}@example.com",
            owner=MemberDraft(email="owner@example.com", name="Olga"), members=[MemberDraft(email=f"{m}@example.com", name=m) for m in ("ann", "bob")],
        )
        member_rows = await rows(session, "SELECT name, id FROM members WHERE customer_id = :c", c=customer.id)
        subscription_id = uuid.uuid4()
        await session.execute(
            insert(Subscription).values(
                id=subscription_id, organization_id=s.org_id, customer_id=customer.id, product_id=s.price.product_id, product_price_id=fixed.id,
                processor="manual", status="active", currency="usd", amount=1000, recurring_interval="month", anchor_at=PERIOD_START,
                period_number=0, current_period_start=PERIOD_START, current_period_end=PERIOD_END, started_at=PERIOD_START,
                user_metadata={}, created_at=PERIOD_START, modified_at=PERIOD_START,
            )
        )
        if balance:
            await wallets.adjust(session, s.subject, customer.id, wallet_currency, balance, reason="opening balance")
        await session.commit()
    return Setup(s.org_id, s.token, s.subject, s.meter_id, s.price, customer.id, subscription_id, {n: i for n, i in member_rows if n})


async def test_one_drain_pays_every_customer_of_the_organization(live, clock):
    """One run: customers whose wallet covers their usage are paid together, the others (a member
    over its budget, too little money, no wallet in the currency) one by one, each exactly."""
    clock.set(NOW)
    covered = await _setup(live, unit_amount="2", balance=1_000)
    short = await _sibling(live, covered, balance=15)
    budgeted = await _sibling(live, covered, balance=1_000)
    walletless = await _sibling(live, covered, balance=500, wallet_currency="eur")
    async with tenant_session(live.session_factory, covered.subject.scope) as session:
        await wallets.set_member_budget(session, covered.subject, budgeted.members["ann"], "usd", 6, "month")
        await session.commit()
    for s in (covered, short, budgeted, walletless):
        await _ingest(live, s, _events(s, 5, member="ann") + _events(s, 3, member="bob"))  # 16 cents each
    await _run_job(live, covered)
    assert (await _state(live, covered)).debits and (await _state(live, covered)).balance == 1_000 - 16
    assert sorted((await _state(live, covered)).debits, key=lambda d: d[1]) == [(covered.members["bob"], 6, Decimal(3)), (covered.members["ann"], 10, Decimal(5))]
    state = await _state(live, short)
    assert state.balance == 0 and state.paid == 15 and state.lost == 1
    state = await _state(live, budgeted)
    assert state.balance == 1_000 - 12 and [(r, m, a) for r, m, a, _ in state.uncovered] == [("member_budget", budgeted.members["ann"], 4)]
    state = await _state(live, walletless)
    assert state.balance is not None and not state.debits and sorted(a for _, _, a, _ in state.uncovered) == [6, 10]
    assert {r for r, _, _, _ in state.uncovered} == {"no_wallet"}
    await _run_job(live, covered)  # nothing new: nothing paid twice
    assert (await _state(live, covered)).paid == 16 and (await _state(live, short)).paid == 15


async def test_a_drain_costs_the_same_statements_for_two_customers_or_twelve(live, clock):
    """The common case is set-based: the number of statements does not grow with the customers."""
    from app.kit.db import statement_counter

    clock.set(NOW)

    async def statements(customers: int) -> int:
        first = await _setup(live, unit_amount="1", balance=1_000)
        others = [await _sibling(live, first, balance=1_000) for _ in range(customers - 1)]
        for s in (first, *others):
            await _ingest(live, s, _events(s, 3, member="ann") + _events(s, 2))
        await _settle(live)
        jobs.forget_committed_slots()  # the balance-changed jobs always written (else: as the clock falls)
        counter = [0]
        token = statement_counter.set(counter)
        try:  # one run (the job runs again while another test's transaction holds usage back)
            async with tenant_session(live.session_factory, first.subject.scope) as session:
                await drain_organization(session, first.subject.scope)
                await session.commit()
        finally:
            statement_counter.reset(token)
        for s in (first, *others):
            assert (await _state(live, s)).paid == 5
        return counter[0]

    assert await statements(2) == await statements(12)


# -- what is not paid from the wallet, and exactly once ------------------------------------------------


async def test_a_trial_is_not_debited(live, clock):
    clock.set(NOW)
    s = await _setup(live, unit_amount="5", balance=1000, status="trialing")
    await _ingest(live, s, _events(s, 4))
    await _run_job(live, s)
    state = await _state(live, s)
    assert state.balance == 1000 and not state.debits and not state.uncovered


async def test_events_before_the_subscription_started_are_not_debited(live, clock):
    clock.set(NOW)
    s = await _setup(live, unit_amount="5", balance=1000, started_at=PERIOD_START + timedelta(days=2))
    await _ingest(live, s, _events(s, 3, at=PERIOD_START - timedelta(days=1)))  # the previous period
    await _ingest(live, s, _events(s, 2, at=PERIOD_START + timedelta(days=1)))  # in the period, before the start
    await _ingest(live, s, _events(s, 1, at=PERIOD_START + timedelta(days=3)))  # counted
    await _run_job(live, s)
    state = await _state(live, s)
    assert state.paid == 5 and state.balance == 995


async def test_a_job_run_twice_debits_once(live, clock):
    clock.set(NOW)
    s = await _setup(live, unit_amount="4", balance=1000)
    await _ingest(live, s, _events(s, 5, member="bob"))
    await _run_job(live, s)
    await _run_job(live, s)
    await asyncio.gather(*(_run_job(live, s, settle=False) for _ in range(3)))
    state = await _state(live, s)
    assert state.debits == [(s.members["bob"], 20, Decimal(5))]
    assert state.balance == 980
    # a replayed ingestion (same external ids) is a duplicate: nothing more to pay
    await _ingest(live, s, _events(s, 5, member="bob", prefix="replay"))
    await _ingest(live, s, _events(s, 5, member="bob", prefix="replay"))
    await _run_job(live, s)
    assert (await _state(live, s)).paid == 40


async def test_the_catalog_refuses_a_wallet_price_on_a_max_meter(live):
    org = await make_org(live.session_factory, name="Org max")
    subject = merchant(org.id)
    async with tenant_session(live.session_factory, subject.scope) as session:
        meter = await meters.create_meter(session, subject, name="Peak", filter=CALLS, aggregation={"func": "max", "property": "n"})
        with pytest.raises(ValidationFailed) as failure:
            await catalog.create_product(
                session, subject,
                ProductDraft(name="Pro", recurring_interval="month", prices=[
                    PriceDraft(type="fixed", amount=1000),
                    PriceDraft(type="metered_unit", meter_id=meter.id, unit_amount=Decimal(1), wallet_enabled=True),
                ]),
            )
        assert any(issue.code == "wallet_aggregation" for issue in failure.value.issues)
        await session.rollback()


# -- concurrency: ingesters and jobs at once -------------------------------------------------------------


@pytest.mark.parametrize("trial", range(20))
async def test_concurrent_ingestion_and_jobs_pay_all_usage_exactly_once(live, clock, trial):
    """Four ingesters and four job runs at once, then a last run: what the wallet paid plus what
    is uncovered equals the price of all the usage, to the cent; the balance never below zero."""
    clock.set(NOW)
    s = await _setup(live, unit_amount="0.85", balance=400)  # 650 calls: 552.5 -> 553 cents
    who = ("ann", "bob", None)

    async def ingester(n: int) -> int:
        sent = 0
        for round_ in range(5):
            size = 20 + 7 * n + round_
            await _ingest(live, s, _events(s, size, member=who[(n + round_) % 3]))
            sent += size
        return sent

    async def jobs() -> None:
        for _ in range(6):
            await _run_job(live, s, settle=False)
            await asyncio.sleep(0)

    results = await asyncio.gather(*(ingester(n) for n in range(4)), *(jobs() for _ in range(4)))
    sent = sum(r for r in results if isinstance(r, int))
    await _run_job(live, s)
    state = await _state(live, s)
    expected = metered_amount(s.price, Decimal(sent))
    assert state.paid + state.lost == expected, (trial, sent, state.paid, state.lost)
    assert state.paid == 400 and state.balance == 0  # the usage costs more than the balance
    assert sum(q for _, _, q in state.debits) + sum(q for _, _, _, q in state.uncovered) == sent
    async with live.session_factory() as session:
        [(units, amount)] = await rows(session, "SELECT units, amount FROM wallet_usage_totals WHERE subscription_id = :s", s=s.subscription_id)
    assert (units, amount) == (Decimal(sent), expected)


# -- events naming a hold ----------------------------------------------------------------------------------


async def _hold(live, s: Setup, amount: int, member: str | None = None):
    from app.wallets import holds

    async with tenant_session(live.session_factory, s.subject.scope) as session:
        row = await holds.hold(session, s.subject, s.customer_id, s.members[member] if member else None, "usd", amount, 300)
        await session.commit()
    return row.id


async def _hold_row(live, hold_id: uuid.UUID) -> tuple[str, int | None]:
    async with live.session_factory() as session:
        [(status, captured)] = await rows(session, "SELECT status, captured_amount FROM wallet_holds WHERE id = :h", h=hold_id)
    return status, captured


def _naming(events: list[dict], hold_id: uuid.UUID) -> list[dict]:
    for event in events:
        event["metadata"]["hold_id"] = str(hold_id)
    return events


async def test_events_naming_a_hold_capture_it_for_their_cost_and_release_the_rest(live, clock):
    clock.set(NOW)
    s = await _setup(live, unit_amount="7", balance=1000)
    hold_id = await _hold(live, s, 100, member="ann")
    await _ingest(live, s, _naming(_events(s, 6, member="ann"), hold_id) + _events(s, 2, member="bob"))  # 42 from the hold, 14 paid
    await _run_job(live, s)
    assert await _hold_row(live, hold_id) == ("captured", 42)
    async with live.session_factory() as session:
        captures = await rows(
            session, "SELECT -amount, member_id, meter_id, product_price_id, quantity FROM wallet_entries WHERE hold_id = :h AND type = 'hold_capture'",
            h=hold_id,
        )
        [(balance, held)] = await rows(session, "SELECT balance, held FROM wallets WHERE customer_id = :c", c=s.customer_id)
    assert captures == [(42, s.members["ann"], s.meter_id, s.price.id, Decimal(6))]
    state = await _state(live, s)
    assert state.debits == [(s.members["bob"], 14, Decimal(2))]
    assert (balance, held) == (1000 - 56, 0)  # the 58 left of the hold released
    # the hold is spent: later events naming it are paid like other usage
    await _ingest(live, s, _naming(_events(s, 1, member="ann"), hold_id))
    await _run_job(live, s)
    assert (await _state(live, s)).debits[-1] == (s.members["ann"], 7, Decimal(1))
    assert await _hold_row(live, hold_id) == ("captured", 42)


async def test_usage_beyond_its_hold_is_paid_from_what_is_available(live, clock):
    clock.set(NOW)
    s = await _setup(live, unit_amount="10", balance=100)
    hold_id = await _hold(live, s, 30)
    await _ingest(live, s, _naming(_events(s, 5), hold_id))  # 50: 30 from the hold, 20 from the 70 available
    await _run_job(live, s)
    assert await _hold_row(live, hold_id) == ("captured", 30)
    state = await _state(live, s)
    assert state.debits == [(None, 20, Decimal(2))] and state.balance == 50 and not state.uncovered


async def test_a_members_usage_captures_a_hold_without_member_within_the_members_budget(live, clock):
    """A hold made for the customer (no member) was not checked against any budget: captured by
    ann's usage, it is ann's spend, so at most ann's budget left (less ann's own holds) is taken
    from it; the rest of ann's usage is uncovered for her budget and the rest of the hold released."""
    clock.set(NOW)
    s = await _setup(live, unit_amount="10", balance=1000)
    async with tenant_session(live.session_factory, s.subject.scope) as session:
        await wallets.set_member_budget(session, s.subject, s.members["ann"], "usd", 70, "month")
        await session.commit()
    own = await _hold(live, s, 20, member="ann")  # counts against ann's budget: 50 left
    shared = await _hold(live, s, 100)
    await _ingest(live, s, _naming(_events(s, 8, member="ann"), shared))  # 80 owed
    await _run_job(live, s)
    assert await _hold_row(live, shared) == ("captured", 50)
    assert await _hold_row(live, own) == ("active", None)
    state = await _state(live, s)
    assert state.debits == [] and [(r, m, a) for r, m, a, _ in state.uncovered] == [("member_budget", s.members["ann"], 30)]
    async with live.session_factory() as session:
        [(spent,)] = await rows(session, "SELECT spent FROM member_budgets WHERE member_id = :m", m=s.members["ann"])
        [(balance, held)] = await rows(session, "SELECT balance, held FROM wallets WHERE customer_id = :c", c=s.customer_id)
    assert spent == 50 and (balance, held) == (950, 20)
    # the budget is spent: a hold without member named by ann's usage captures nothing, and is resolved
    another = await _hold(live, s, 40)
    await _ingest(live, s, _naming(_events(s, 1, member="ann"), another))
    await _run_job(live, s)
    assert await _hold_row(live, another) == ("captured", 0)
    assert (await _state(live, s)).uncovered[-1][:3] == ("member_budget", s.members["ann"], 10)


async def test_a_hold_of_another_customer_or_released_is_not_captured(live, clock):
    clock.set(NOW)
    s = await _setup(live, unit_amount="5", balance=500)
    other = await _setup(live, unit_amount="5", balance=500)
    foreign = await _hold(live, other, 100)
    released = await _hold(live, s, 100)
    from app.wallets import holds

    async with tenant_session(live.session_factory, s.subject.scope) as session:
        await holds.release(session, s.subject, released)
        await session.commit()
    await _ingest(live, s, _naming(_events(s, 2), foreign) + _naming(_events(s, 2), released))
    await _ingest(live, s, [dict(e, metadata={"hold_id": "not-a-uuid"}) for e in _events(s, 1)])
    await _run_job(live, s)
    assert await _hold_row(live, foreign) == ("active", None)
    assert await _hold_row(live, released) == ("released", None)
    state = await _state(live, s)
    assert state.paid == 25 and state.balance == 475


# -- everything at once on one wallet ---------------------------------------------------------------------


@pytest.mark.parametrize("trial", range(3))
async def test_usage_holds_captures_top_ups_and_spending_at_once_on_one_wallet(live, clock, trial):
    """About 230 operations from as many tasks on one shared wallet: usage batches (some naming
    holds) and drain jobs, holds then captures or releases, top-ups through checkout (some
    confirmed twice at once), negative adjustments. Afterwards: the balance equals the ledger and
    its running sum never went below zero; every top-up credited once; what usage paid (usage
    debits and the captures it made) plus what is uncovered is the price of all the usage, to the
    cent; the member over its budget spent at most the budget."""
    import random

    from app.kit.errors import KassaError
    from app.wallets import holds
    from tests.wallets.top_up_operations import confirm, create_top_up_checkout

    clock.set(NOW)
    rng = random.Random(trial)
    s = await _setup(live, unit_amount="3", balance=500)
    async with tenant_session(live.session_factory, s.subject.scope) as session:
        await wallets.set_member_budget(session, s.subject, s.members["ann"], "usd", 300, "month")
        await session.commit()
    customer_gid = to_global_id("Customer", s.customer_id)
    hold_ids: list[uuid.UUID] = []
    sent = 0
    outcomes: dict[str, int] = {}

    def outcome(name: str) -> None:
        outcomes[name] = outcomes.get(name, 0) + 1

    async def usage(n: int) -> None:
        nonlocal sent
        await asyncio.sleep(rng.random() * 1.0)
        events = _events(s, 5 + n % 11, member=("ann", "bob", None)[n % 3])
        if hold_ids and n % 4 == 0:
            _naming(events, rng.choice(hold_ids))
        await _ingest(live, s, events)
        sent += len(events)

    async def job() -> None:
        await asyncio.sleep(rng.random() * 1.5)
        await _run_job(live, s, settle=False)

    async def hold_then(n: int) -> None:
        await asyncio.sleep(rng.random() * 1.0)
        member = s.members[("ann", "bob")[n % 2]] if n % 3 else None
        try:
            async with tenant_session(live.session_factory, s.subject.scope) as session:
                row = await holds.hold(session, s.subject, s.customer_id, member, "usd", 40 + n % 7 * 15, 300)
                await session.commit()
        except KassaError as error:
            outcome(type(error).__name__)
            return
        hold_ids.append(row.id)
        await asyncio.sleep(rng.random() * 0.1)
        try:
            async with tenant_session(live.session_factory, s.subject.scope) as session:
                if n % 5 == 0:
                    await holds.release(session, s.subject, row.id)
                else:
                    await holds.capture(session, s.subject, row.id, row.amount - n % 3 * 10)
                await session.commit()
            outcome("resolved")
        except KassaError as error:  # a usage event named it first
            outcome(type(error).__name__)

    async def top_up(n: int) -> None:
        created = await create_top_up_checkout(live.api, s.token, customerId=customer_gid, currency="usd", amount=100 + n * 10, paymentProcessor="MANUAL")
        assert created["__typename"] == "CreateWalletTopUpCheckoutSuccess", created
        confirmations = 2 if n % 6 == 0 else 1  # a double click: credited once
        answers = await asyncio.gather(*(confirm(live.api, s.token, created["checkout"]["id"]) for _ in range(confirmations)))
        assert sum(a["__typename"] == "ConfirmCheckoutSuccess" for a in answers) == 1, answers

    async def spend(n: int) -> None:
        await asyncio.sleep(rng.random() * 1.0)
        try:
            async with tenant_session(live.session_factory, s.subject.scope) as session:
                await wallets.adjust(session, s.subject, s.customer_id, "usd", -(30 + n), reason="manual spend")
                await session.commit()
            outcome("spent")
        except KassaError as error:
            outcome(type(error).__name__)

    tasks = (
        [usage(n) for n in range(60)] + [job() for _ in range(20)] + [hold_then(n) for n in range(50)]
        + [top_up(n) for n in range(30)] + [spend(n) for n in range(20)]
    )
    rng.shuffle(tasks)
    await asyncio.gather(*tasks)
    await _run_job(live, s)

    async with live.session_factory() as session:
        [(balance, held, entries, low, top_ups, credited)] = await rows(
            session,
            """
            SELECT w.balance, w.held, (SELECT sum(amount) FROM wallet_entries e WHERE e.wallet_id = w.id),
                   (SELECT min(running) FROM (SELECT sum(amount) OVER (ORDER BY sequence) AS running FROM wallet_entries e WHERE e.wallet_id = w.id) r),
                   (SELECT count(*) FROM wallet_entries e WHERE e.wallet_id = w.id AND type = 'top_up'),
                   (SELECT coalesce(sum(amount), 0) FROM wallet_entries e WHERE e.wallet_id = w.id AND type = 'top_up')
            FROM wallets w WHERE w.customer_id = :c
            """,
            c=s.customer_id,
        )
        [(usage_paid,)] = await rows(
            session,
            "SELECT coalesce(sum(-amount), 0) FROM wallet_entries WHERE customer_id = :c AND (type = 'usage' OR (type = 'hold_capture' AND meter_id IS NOT NULL))",
            c=s.customer_id,
        )
        [(ann_spent,)] = await rows(
            session, "SELECT coalesce(sum(-amount), 0) FROM wallet_entries WHERE member_id = :m AND type IN ('usage', 'hold_capture')", m=s.members["ann"],
        )
    state = await _state(live, s)
    assert balance == entries and low >= 0 and held >= 0
    assert (top_ups, credited) == (30, sum(100 + n * 10 for n in range(30)))
    assert usage_paid + state.lost == metered_amount(s.price, Decimal(sent)), (trial, outcomes, usage_paid, state.lost, sent)
    assert ann_spent <= 300
    assert outcomes.get("resolved", 0) > 0, outcomes
