"""Metered billing at a subscription's cycle end (app/subscriptions/metered.py) and the pricing
of tiered metered prices (app/catalog/usage_pricing.py).

The billing tests run on real commits (the `live` fixture): billing reads events by their
transaction id against a watermark (pg_snapshot_xmin), which a single rolled-back test
transaction could not show. Time is the kit's clock; nothing sleeps."""

from __future__ import annotations

import asyncio
import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from decimal import Decimal
from types import SimpleNamespace

import pytest
from sqlalchemy import insert, select, text

from app.catalog import service as catalog
from app.catalog.service import MeteredTierDraft, PriceDraft, ProductDraft
from app.catalog.usage_pricing import metered_amount
from app.events import service as events
from app.kit import jobs
from app.kit.ids import to_global_id
from app.kit.tenancy import tenant_session
from app.meters import service as meters
from app.members.service import MemberDraft
from app.models import Product, ProductPrice
from app.models.order import Order, OrderItem
from app.models.subscription import BillingEntry, Subscription
from app.subscriptions import service as subscriptions
from tests.conftest import as_owner, make_org
from tests.meters.helpers import settle_xmin
from tests.orders.factories import make_customer, merchant, rows

ANCHOR = datetime(2027, 3, 10, 12, 0, tzinfo=timezone.utc)
END = datetime(2027, 4, 10, 12, 0, tzinfo=timezone.utc)  # period 0's end
NEXT_END = datetime(2027, 5, 10, 12, 0, tzinfo=timezone.utc)
CALLS = {"conjunction": "and", "clauses": [{"property": "name", "operator": "eq", "value": "api_call"}]}


# -- pricing: a table of hand-computed amounts -------------------------------------------------------


def _price(unit=None, *, mode=None, tiers=None, size=None, package=None, cap=None):
    return SimpleNamespace(
        unit_amount=Decimal(unit) if unit is not None else None, cap_amount=cap, tier_mode=mode,
        tiers=[{"up_to": u, "unit_amount": a, "flat_amount": f} for u, a, f in tiers] if tiers else None,
        package_size=size, package_amount=package,
    )


GRADUATED = _price(mode="graduated", tiers=[("1000", "0", 0), ("10000", "0.5", 0), (None, "0.25", 0)])
GRADUATED_FLAT = _price(mode="graduated", tiers=[("100", "10", 500), (None, "5", 200)])
VOLUME = _price(mode="volume", tiers=[("1000", "2", 0), ("10000", "1.5", 0), (None, "1", 1000)])
PACKAGE = _price(mode="package", size=1000, package=500)

PRICING_TABLE = [
    # (price, units, expected minor units, how it is computed by hand)
    (_price("0.05"), "333", 17, "333 x 0.05 = 16.65 -> 17 (half away from zero)"),
    (_price("0.05"), "330", 17, "330 x 0.05 = 16.5 -> 17"),
    (_price("0.05"), "329", 16, "329 x 0.05 = 16.45 -> 16"),
    (_price("2.5"), "1.5", 4, "1.5 units x 2.5 = 3.75 -> 4"),
    (_price("100", cap=5000), "49", 4900, "under the cap"),
    (_price("100", cap=5000), "51", 5000, "5100 capped at 5000"),
    (GRADUATED, "0", 0, "no usage"),
    (GRADUATED, "1000", 0, "all in the free tier"),
    (GRADUATED, "1001", 1, "1 x 0.5 = 0.5 -> 1"),
    (GRADUATED, "5000", 2000, "4000 x 0.5"),
    (GRADUATED, "12000", 5000, "9000 x 0.5 + 2000 x 0.25 = 4500 + 500"),
    (GRADUATED_FLAT, "1", 510, "flat 500 + 1 x 10"),
    (GRADUATED_FLAT, "100", 1500, "flat 500 + 100 x 10"),
    (GRADUATED_FLAT, "101", 1705, "500 + 1000 + flat 200 + 1 x 5"),
    (VOLUME, "1000", 2000, "1000 x 2 (the first tier includes its bound)"),
    (VOLUME, "1001", 1502, "1001 x 1.5 = 1501.5 -> 1502"),
    (VOLUME, "20000", 21000, "20000 x 1 + flat 1000"),
    (PACKAGE, "1", 500, "1 package"),
    (PACKAGE, "1000", 500, "exactly 1 package"),
    (PACKAGE, "1001", 1000, "rounded up to 2 packages"),
    (PACKAGE, "2500.5", 1500, "3 packages"),
    (_price(mode="package", size=1000, package=500, cap=800), "5000", 800, "2500 capped at 800"),
    (_price("0.4"), "3", 1, "JPY (no minor unit): 3 x 0.4 yen = 1.2 -> 1 yen"),
    (_price(mode="volume", tiers=[("10", "150", 0), (None, "120", 0)]), "11", 1320, "JPY volume: 11 x 120 yen"),
]


@pytest.mark.parametrize("price, units, expected, why", PRICING_TABLE, ids=[row[3] for row in PRICING_TABLE])
def test_metered_amount_against_a_table_of_hand_computed_amounts(price, units, expected, why):
    assert metered_amount(price, Decimal(units)) == expected, why


def test_metered_amount_refuses_negative_units_and_floats():
    with pytest.raises(ValueError):
        metered_amount(_price("1"), Decimal("-1"))
    with pytest.raises(TypeError):
        metered_amount(_price("1"), 1.5)  # type: ignore[arg-type]


# -- billing at cycle end ---------------------------------------------------------------------------


@dataclass
class Setup:
    org_id: uuid.UUID
    subject: object
    meter_id: uuid.UUID
    price_id: uuid.UUID
    customer_id: uuid.UUID
    subscription_id: uuid.UUID
    members: dict[str, uuid.UUID]
    token: str = ""


async def _setup(
    live, *, metered: PriceDraft, aggregation=None, customer_type="individual", members=(), status="active",
    cancel_at_period_end=False, period_number=0, wallet=False, name="Org",
) -> Setup:
    org = await make_org(live.session_factory, name=name)
    subject = merchant(org.id)
    async with tenant_session(live.session_factory, subject.scope) as session:
        meter = await meters.create_meter(session, subject, name="API calls", filter=CALLS, aggregation=aggregation or {"func": "count", "property": None})
        metered.meter_id = meter.id
        metered.wallet_enabled = wallet
        product = await catalog.create_product(
            session, subject, ProductDraft(name="Pro", recurring_interval="month", prices=[PriceDraft(type="fixed", amount=1000), metered])
        )
        price = await session.scalar(select(ProductPrice).where(ProductPrice.product_id == product.id, ProductPrice.type == "fixed"))
        metered_price = await session.scalar(select(ProductPrice).where(ProductPrice.product_id == product.id, ProductPrice.type == "metered_unit"))
        extra = {"owner": MemberDraft(email="owner@example.com", name="Olga")} if customer_type == "business" else {}
        customer = await make_customer(
            session, subject, type=customer_type, email=f"c-{uuid.uuid4().hex[:6]}@example.com", external_id=f"ext-{uuid.uuid4().hex[:8]}",
            members=[MemberDraft(email=f"{m}@example.com", name=m.title()) for m in members], **extra,
        )
        member_rows = await rows(session, "SELECT name, id FROM members WHERE customer_id = :c", c=customer.id)
        subscription_id = uuid.uuid4()
        start = ANCHOR if period_number >= 0 else ANCHOR - timedelta(days=14)
        await session.execute(
            insert(Subscription).values(
                id=subscription_id, organization_id=org.id, customer_id=customer.id, product_id=product.id, product_price_id=price.id,
                processor="manual", status=status, currency="usd", amount=1000, recurring_interval="month",
                anchor_at=ANCHOR if period_number >= 0 else END, period_number=period_number,
                current_period_start=start, current_period_end=END, started_at=start, user_metadata={},
                cancel_at_period_end=cancel_at_period_end, trial_start=start if period_number < 0 else None,
                trial_end=END if period_number < 0 else None,
                created_at=ANCHOR, modified_at=ANCHOR,
            )
        )
        await session.commit()
    return Setup(org.id, subject, meter.id, metered_price.id, customer.id, subscription_id, {n.lower(): i for n, i in member_rows if n}, org.token)


async def _ingest(live, s: Setup, *stamps: datetime, member: str | None = None, value: int | None = None, **more) -> None:
    """One committed ingestion: an `api_call` per timestamp."""
    async with tenant_session(live.session_factory, s.subject.scope) as session:
        batch = []
        for at in stamps:
            event = {"name": "api_call", "timestamp": at.isoformat(), "customer_id": str(s.customer_id), "metadata": dict(more)}
            if member is not None:
                event["member_id"] = str(s.members[member])
            if value is not None:
                event["metadata"]["tokens"] = value
            batch.append(event)
        await events.ingest(session, s.subject, batch)
        await session.commit()


async def _settle(live) -> None:
    """The renewal's and the meter job's watermark: every committed event below the snapshot xmin."""
    await settle_xmin(live.session_factory)


async def _renew(live, s: Setup, *, settle: bool = True) -> int:
    if settle:
        await _settle(live)
    async with tenant_session(live.session_factory, s.subject.scope) as session:
        renewed = await subscriptions.renew_due(session, s.subject.scope)
        await session.commit()
    return renewed


async def _metered(live, s: Setup) -> list[BillingEntry]:
    async with tenant_session(live.session_factory, s.subject.scope) as session:
        return list(
            (await session.scalars(select(BillingEntry).where(BillingEntry.subscription_id == s.subscription_id, BillingEntry.type == "metered").order_by(BillingEntry.created_at, BillingEntry.amount))).all()
        )


async def _lines(live, s: Setup) -> list[tuple[int, str, int]]:
    """(invoice number, label, amount) of every line of the subscription's orders."""
    async with tenant_session(live.session_factory, s.subject.scope) as session:
        result = await session.execute(
            select(Order.invoice_number, OrderItem.label, OrderItem.amount)
            .join(OrderItem, OrderItem.order_id == Order.id)
            .where(Order.subscription_id == s.subscription_id)
            .order_by(Order.invoice_number, OrderItem.label)
        )
        return [tuple(row) for row in result]


def _in_period(minutes: int) -> datetime:
    return ANCHOR + timedelta(minutes=minutes)


async def test_usage_of_the_closed_period_is_billed_on_the_renewal_order_with_its_entries(live, clock):
    s = await _setup(live, metered=PriceDraft(type="metered_unit", unit_amount=Decimal("0.5")))
    clock.set(END - timedelta(minutes=1))
    await _ingest(live, s, *[_in_period(i) for i in range(7)], ANCHOR - timedelta(seconds=1))  # one before the period: not billed
    clock.set(END + timedelta(minutes=1))
    assert await _renew(live, s) == 1
    [entry] = await _metered(live, s)
    assert (entry.amount, entry.quantity, entry.start_at, entry.end_at, entry.direction, entry.meter_id) == (4, Decimal(7), ANCHOR, END, "debit", s.meter_id)
    lines = await _lines(live, s)
    assert [(label, amount) for _, label, amount in lines] == [
        ("API calls: 7 units, 2027-03-10 to 2027-04-10", 4),  # 3.5 -> 4
        ("Period 2027-04-10 to 2027-05-10", 1000),
    ]
    async with tenant_session(live.session_factory, s.subject.scope) as session:
        [(subtotal,)] = await rows(session, "SELECT subtotal_amount FROM orders WHERE subscription_id = :s", s=s.subscription_id)
        assert subtotal == 1004
        # the meter's new period starts at the period's end: a reset event timestamped then
        resets = await rows(session, "SELECT timestamp, metadata->>'meter_id' FROM events WHERE name = 'kassa.meter_reset' AND customer_id = :c", c=s.customer_id)
        assert resets == [(END, str(s.meter_id))]
        [(watermark,)] = await rows(session, "SELECT metered_watermark FROM subscriptions WHERE id = :s", s=s.subscription_id)
        assert watermark is not None
    assert await _renew(live, s) == 0  # run again: nothing due, nothing billed twice
    assert len(await _metered(live, s)) == 1


async def test_credits_granted_in_the_period_are_deducted_and_usage_never_goes_below_zero(live, clock):
    s = await _setup(live, metered=PriceDraft(type="metered_unit", unit_amount=Decimal("10")))
    clock.set(_in_period(60))
    await _ingest(live, s, *[_in_period(i) for i in range(5)])
    async with tenant_session(live.session_factory, s.subject.scope) as session:
        await events.grant_credit(session, s.subject, s.customer_id, s.meter_id, "3")
        await session.commit()
    clock.set(END + timedelta(minutes=1))
    await _renew(live, s)
    [entry] = await _metered(live, s)
    assert (entry.amount, entry.quantity) == (20, Decimal(2))  # (5 - 3) x 10
    assert "(5 used, 3 credited)" in [label for _, label, _ in await _lines(live, s)][0]


async def test_more_credits_than_usage_bill_nothing(live, clock):
    s = await _setup(live, metered=PriceDraft(type="metered_unit", unit_amount=Decimal("10")))
    clock.set(_in_period(60))
    await _ingest(live, s, _in_period(1))
    async with tenant_session(live.session_factory, s.subject.scope) as session:
        await events.grant_credit(session, s.subject, s.customer_id, s.meter_id, "3")
        await session.commit()
    clock.set(END + timedelta(minutes=1))
    await _renew(live, s)
    assert await _metered(live, s) == []
    assert [label for _, label, _ in await _lines(live, s)] == ["Period 2027-04-10 to 2027-05-10"]


async def test_graduated_tiers_with_a_cap_in_a_renewal(live, clock):
    tiers = [MeteredTierDraft(Decimal(2), Decimal(0)), MeteredTierDraft(None, Decimal("150"), 100)]
    s = await _setup(live, metered=PriceDraft(type="metered_unit", tier_mode="graduated", tiers=tiers, cap_amount=400))
    clock.set(_in_period(60))
    await _ingest(live, s, *[_in_period(i) for i in range(4)])
    clock.set(END + timedelta(minutes=1))
    await _renew(live, s)
    [entry] = await _metered(live, s)
    assert entry.amount == 400  # 2 free, then flat 100 + 2 x 150 = 400 (at the cap)


async def test_business_usage_is_split_per_member_and_the_lines_add_up_to_the_total(live, clock):
    s = await _setup(live, metered=PriceDraft(type="metered_unit", unit_amount=Decimal("1"), cap_amount=100), customer_type="business", members=["ann", "bob"])
    clock.set(_in_period(600))
    await _ingest(live, s, *[_in_period(i) for i in range(100)], member="ann")
    await _ingest(live, s, *[_in_period(i) for i in range(50)], member="bob")
    await _ingest(live, s, *[_in_period(i) for i in range(50)])  # no member
    clock.set(END + timedelta(minutes=1))
    await _renew(live, s)
    entries = await _metered(live, s)
    by_member = {e.member_id: (e.amount, e.quantity) for e in entries}
    # 200 units x 1 = 200, capped at 100, split 100 : 50 : 50
    assert by_member == {s.members["ann"]: (50, Decimal(100)), s.members["bob"]: (25, Decimal(50)), None: (25, Decimal(50))}
    labels = [label for _, label, _ in await _lines(live, s)]
    assert "API calls: 100 units by Ann, 2027-03-10 to 2027-04-10" in labels
    assert "API calls: 50 units by no member, 2027-03-10 to 2027-04-10" in labels
    assert sum(amount for _, label, amount in await _lines(live, s) if label.startswith("API")) == 100


async def test_per_member_shares_use_the_kits_allocate_and_sum_exactly(live, clock):
    s = await _setup(live, metered=PriceDraft(type="metered_unit", unit_amount=Decimal("1"), cap_amount=100), customer_type="business", members=["ann", "bob"])
    clock.set(_in_period(600))
    for member in ("ann", "bob", None):
        await _ingest(live, s, *[_in_period(i) for i in range(100)], member=member)
    clock.set(END + timedelta(minutes=1))
    await _renew(live, s)
    amounts = sorted(e.amount for e in await _metered(live, s))
    assert amounts == [33, 33, 34] and sum(amounts) == 100  # largest remainder


async def test_late_usage_is_billed_once_on_the_next_order_labelled_with_its_period(live, clock):
    """Events timestamped in period 0 that arrive after its renewal (one ingested later, one
    whose transaction was still open when the renewal read its watermark) are billed on the
    next order, as entries of period 0; an event timestamped after the period's end, sent
    before the renewal, waits for period 1. Two renewals later, nothing is billed twice."""
    s = await _setup(live, metered=PriceDraft(type="metered_unit", unit_amount=Decimal("100")))
    clock.set(END - timedelta(minutes=1))
    await _ingest(live, s, _in_period(1), _in_period(2))
    await _ingest(live, s, END + timedelta(minutes=2))  # a future timestamp: period 1's

    # an ingestion whose transaction is open while the renewal runs
    clock.set(END + timedelta(minutes=1))
    await _settle(live)
    async with tenant_session(live.session_factory, s.subject.scope) as open_session:
        await events.ingest(open_session, s.subject, [{"name": "api_call", "timestamp": _in_period(3).isoformat(), "customer_id": str(s.customer_id)}])
        await open_session.flush()
        assert await _renew(live, s, settle=False) == 1
        await open_session.commit()
    [first] = await _metered(live, s)
    assert (first.amount, first.quantity, first.start_at) == (200, Decimal(2), ANCHOR)

    clock.set(END + timedelta(days=3))
    await _ingest(live, s, _in_period(4))  # late: period 0
    await _ingest(live, s, END + timedelta(days=2))  # period 1
    clock.set(NEXT_END + timedelta(minutes=1))
    assert await _renew(live, s) == 1
    entries = await _metered(live, s)
    late = [e for e in entries if e.start_at == ANCHOR and e.id != first.id]
    current = [e for e in entries if e.start_at == END]
    assert [(e.amount, e.quantity, e.end_at) for e in late] == [(200, Decimal(2), END)]
    assert [(e.amount, e.quantity) for e in current] == [(200, Decimal(2))]
    lines = await _lines(live, s)
    assert ("API calls: 2 units, 2027-03-10 to 2027-04-10 (late usage)", 200) in [(label, amount) for _, label, amount in lines]

    # a third renewal: no late usage left, nothing billed twice
    clock.set(datetime(2027, 6, 10, 12, 1, tzinfo=timezone.utc))
    assert await _renew(live, s) == 1
    assert len(await _metered(live, s)) == 3
    async with tenant_session(live.session_factory, s.subject.scope) as session:
        [(billed,)] = await rows(session, "SELECT sum(amount) FROM billing_entries WHERE type = 'metered' AND subscription_id = :s", s=s.subscription_id)
    assert billed == 600  # 6 calls x 100, each once


async def test_late_usage_under_graduated_tiers_is_priced_as_the_increment_of_the_period_total(live, clock):
    tiers = [MeteredTierDraft(Decimal(2), Decimal(10)), MeteredTierDraft(None, Decimal(1))]
    s = await _setup(live, metered=PriceDraft(type="metered_unit", tier_mode="graduated", tiers=tiers))
    clock.set(END - timedelta(minutes=1))
    await _ingest(live, s, _in_period(1))
    clock.set(END + timedelta(minutes=1))
    await _renew(live, s)
    clock.set(END + timedelta(days=1))
    await _ingest(live, s, _in_period(2), _in_period(3))  # the period's total: 3 = 2 x 10 + 1 x 1 = 21
    clock.set(NEXT_END + timedelta(minutes=1))
    await _renew(live, s)
    assert sorted(e.amount for e in await _metered(live, s) if e.start_at == ANCHOR) == [10, 11]  # 21 - 10


async def test_late_usage_of_a_max_meter_bills_the_difference_only(live, clock):
    s = await _setup(live, metered=PriceDraft(type="metered_unit", unit_amount=Decimal(1)), aggregation={"func": "max", "property": "tokens"})
    clock.set(END - timedelta(minutes=1))
    await _ingest(live, s, _in_period(1), value=40)
    clock.set(END + timedelta(minutes=1))
    await _renew(live, s)
    clock.set(END + timedelta(days=1))
    await _ingest(live, s, _in_period(2), value=30)  # lower: nothing more
    await _ingest(live, s, _in_period(3), value=70)  # higher: 30 more
    clock.set(NEXT_END + timedelta(minutes=1))
    await _renew(live, s)
    assert sorted(e.amount for e in await _metered(live, s)) == [30, 40]


async def test_wallet_enabled_prices_are_not_billed_by_the_renewal(live, clock):
    s = await _setup(live, metered=PriceDraft(type="metered_unit", unit_amount=Decimal(5)), wallet=True)
    clock.set(END - timedelta(minutes=1))
    await _ingest(live, s, _in_period(1))
    clock.set(END + timedelta(minutes=1))
    await _renew(live, s)
    assert await _metered(live, s) == []
    assert [label for _, label, _ in await _lines(live, s)] == ["Period 2027-04-10 to 2027-05-10"]


async def test_usage_during_a_trial_is_not_billed(live, clock):
    s = await _setup(live, metered=PriceDraft(type="metered_unit", unit_amount=Decimal(5)), status="trialing", period_number=-1)
    clock.set(END - timedelta(minutes=1))
    await _ingest(live, s, END - timedelta(days=1))
    clock.set(END + timedelta(minutes=1))
    assert await _renew(live, s) == 1
    assert await _metered(live, s) == []
    # and a late event of the trial, after it ended, is not billed either
    clock.set(END + timedelta(days=1))
    await _ingest(live, s, END - timedelta(hours=1))
    clock.set(NEXT_END + timedelta(minutes=1))
    assert await _renew(live, s) == 1
    assert await _metered(live, s) == []


async def test_a_subscription_canceled_at_period_end_gets_a_final_order_for_its_usage(live, clock):
    s = await _setup(live, metered=PriceDraft(type="metered_unit", unit_amount=Decimal(25)), cancel_at_period_end=True)
    clock.set(END - timedelta(minutes=1))
    await _ingest(live, s, _in_period(1), _in_period(2))
    clock.set(END + timedelta(minutes=1))
    assert await _renew(live, s) == 1
    assert [label for _, label, _ in await _lines(live, s)] == ["API calls: 2 units, 2027-03-10 to 2027-04-10"]
    async with tenant_session(live.session_factory, s.subject.scope) as session:
        [(status, reason, total)] = await rows(
            session, "SELECT s.status, o.billing_reason, o.total_amount FROM subscriptions s JOIN orders o ON o.subscription_id = s.id WHERE s.id = :s", s=s.subscription_id
        )
    assert (status, reason, total) == ("canceled", "subscription_cycle", 50)


async def test_a_subscription_canceled_at_period_end_without_usage_gets_no_order(live, clock):
    s = await _setup(live, metered=PriceDraft(type="metered_unit", unit_amount=Decimal(25)), cancel_at_period_end=True)
    clock.set(END + timedelta(minutes=1))
    assert await _renew(live, s) == 1
    assert await _lines(live, s) == []


async def test_the_reset_does_not_hide_late_events_from_billing_and_the_customer_meter_shows_the_new_period(live, clock):
    s = await _setup(live, metered=PriceDraft(type="metered_unit", unit_amount=Decimal(1)))
    clock.set(END - timedelta(minutes=1))
    await _ingest(live, s, _in_period(1))
    clock.set(END + timedelta(minutes=1))
    await _renew(live, s)
    await _ingest(live, s, _in_period(2))  # late, before the reset's timestamp
    await _ingest(live, s, END + timedelta(seconds=30))  # the new period
    from app.meters.aggregation import update_customer_meters

    async with tenant_session(live.session_factory, s.subject.scope) as session:
        await update_customer_meters(session, s.subject.scope, s.customer_id)
        [(consumed,)] = await rows(session, "SELECT consumed FROM customer_meters WHERE customer_id = :c", c=s.customer_id)
        await session.commit()
    assert consumed == 1  # only the new period's event
    clock.set(NEXT_END + timedelta(minutes=1))
    await _renew(live, s)
    assert sorted((e.start_at, e.amount) for e in await _metered(live, s)) == [(ANCHOR, 1), (ANCHOR, 1), (END, 1)]


ENTRIES = "query($id: ID!) { subscription(id: $id) { id billingEntries { type amount quantity meterId memberId startAt endAt } } }"


async def test_metered_entries_on_graphql_with_their_meter_member_and_quantity_and_not_for_another_organization(live, clock):
    s = await _setup(live, metered=PriceDraft(type="metered_unit", unit_amount=Decimal("2")), customer_type="business", members=["ann"])
    other = await make_org(live.session_factory, name="Other")
    clock.set(_in_period(60))
    await _ingest(live, s, _in_period(1), _in_period(2), member="ann")
    clock.set(END + timedelta(minutes=1))
    await _renew(live, s)
    subscription_id = to_global_id("Subscription", s.subscription_id)
    org_token = s.token
    data = await live.api.data(ENTRIES, {"id": subscription_id}, token=org_token)
    metered = [e for e in data["subscription"]["billingEntries"] if e["type"] == "METERED"]
    assert metered == [
        {"type": "METERED", "amount": 4, "quantity": "2", "meterId": to_global_id("Meter", s.meter_id),
         "memberId": to_global_id("Member", s.members["ann"]), "startAt": ANCHOR.isoformat(), "endAt": END.isoformat()}
    ]
    assert (await live.api.data(ENTRIES, {"id": subscription_id}, token=other.token))["subscription"] is None


async def _meter_row(live, s: Setup):
    async with tenant_session(live.session_factory, s.subject.scope) as session:
        return (await rows(session, "SELECT consumed, credited, status, last_reset_at FROM customer_meters WHERE customer_id = :c", c=s.customer_id))[0]


async def _update_meters(live, s: Setup) -> None:
    from app.meters.aggregation import update_customer_meters

    async with tenant_session(live.session_factory, s.subject.scope) as session:
        await update_customer_meters(session, s.subject.scope, s.customer_id)
        await session.commit()


async def _from_scratch(live, s: Setup) -> dict:
    from app.meters.aggregation import compute_from_scratch
    from app.models import Customer, Meter

    async with tenant_session(live.session_factory, s.subject.scope) as session:
        customer, meter = await session.get(Customer, s.customer_id), await session.get(Meter, s.meter_id)
        return await compute_from_scratch(session, customer, meter)


async def _update_jobs(live) -> list[str]:
    async with live.session_factory() as session, as_owner(session):
        outbox = await rows(session, "SELECT jobs::text FROM job_outbox")
    return [text for (text,) in outbox if "meters.update_customer" in text]


async def test_the_renewal_starts_the_customer_meters_new_period_in_the_row_without_a_meter_job(live, clock):
    """A customer meter counted up to the period's end (usage beyond its credits: EXCEEDED) is
    reset by the renewal itself: empty, `last_reset_at` the period's end, its status back to OK
    with `customer.state_changed`, and no meter update job asked for. The update job later goes
    on from there: its totals equal a count from scratch, the old period's events left out."""
    s = await _setup(live, metered=PriceDraft(type="metered_unit", unit_amount=Decimal(1)))
    clock.set(END - timedelta(minutes=5))
    await _ingest(live, s, _in_period(1), _in_period(2), _in_period(3))
    async with tenant_session(live.session_factory, s.subject.scope) as session:
        await events.grant_credit(session, s.subject, s.customer_id, s.meter_id, "2")
        await session.commit()
    await _settle(live)
    await _update_meters(live, s)
    consumed, credited, status, last_reset = await _meter_row(live, s)
    assert (consumed, credited, status, last_reset) == (3, 2, "exceeded", None)
    async with live.session_factory() as session, as_owner(session):
        await session.execute(text("DELETE FROM job_outbox"))
        await session.commit()
    jobs.forget_committed_slots()  # the rows deleted held this process's meter job requests

    clock.set(END + timedelta(seconds=20))
    assert await _renew(live, s) == 1
    assert await _meter_row(live, s) == (0, 0, "ok", END)
    assert await _update_jobs(live) == []
    from app.meters import repository as meters_repository

    async with tenant_session(live.session_factory, s.subject.scope) as session:  # nor does the meter sweep ask for one
        assert s.customer_id not in await meters_repository.customers_behind(session, s.subject.scope)
        [(metadata,)] = await rows(session, "SELECT metadata FROM events WHERE name = 'kassa.meter_reset' AND customer_id = :c", c=s.customer_id)
    assert metadata == {"meter_id": str(s.meter_id), "applied": True}
    async with tenant_session(live.session_factory, s.subject.scope) as session:
        changed = await rows(session, "SELECT payload FROM webhook_events WHERE type = 'customer.state_changed' ORDER BY sequence DESC LIMIT 1")
    assert (changed[0][0]["data"]["previousStatus"], changed[0][0]["data"]["status"], changed[0][0]["data"]["consumed"]) == ("EXCEEDED", "OK", "0")

    await _ingest(live, s, END + timedelta(seconds=40), _in_period(4))  # one in the new period, one late for the old
    await _settle(live)
    await _update_meters(live, s)
    scratch = await _from_scratch(live, s)
    consumed, credited, _, last_reset = await _meter_row(live, s)
    assert (consumed, credited, last_reset) == (scratch["consumed"], scratch["credited"], END) == (1, 0, END)


async def test_a_customer_with_new_period_events_already_counted_gets_the_meter_job_instead(live, clock):
    """An event of the new period counted before the renewal ran: the row is left to the update
    job (asked for), which counts the new period from the reset: equal to a count from scratch."""
    s = await _setup(live, metered=PriceDraft(type="metered_unit", unit_amount=Decimal(1)))
    clock.set(END + timedelta(seconds=10))
    await _ingest(live, s, _in_period(1), END + timedelta(seconds=5))
    await _settle(live)
    await _update_meters(live, s)
    assert (await _meter_row(live, s))[0] == 2
    async with live.session_factory() as session, as_owner(session):
        await session.execute(text("DELETE FROM job_outbox"))
        await session.commit()
    jobs.forget_committed_slots()  # the rows deleted held this process's meter job requests

    clock.set(END + timedelta(seconds=30))
    assert await _renew(live, s) == 1
    assert (await _meter_row(live, s))[0] == 2  # untouched: the job recounts it
    assert len(await _update_jobs(live)) == 1
    from app.meters import repository as meters_repository

    async with tenant_session(live.session_factory, s.subject.scope) as session:  # and the sweep would ask again, were the job lost
        assert s.customer_id in await meters_repository.customers_behind(session, s.subject.scope)
    await _settle(live)
    await _update_meters(live, s)
    scratch = await _from_scratch(live, s)
    assert ((await _meter_row(live, s))[0], scratch["consumed"]) == (1, 1)
