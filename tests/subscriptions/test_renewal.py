"""Subscriptions through their services: created by a checkout, renewed once per period on the
test clock (anchored to their first day), charged off-session, trials ending into their first
charge, cancellation at the period's end."""

from __future__ import annotations

import uuid
from datetime import datetime, timedelta, timezone

from sqlalchemy import select

from app.catalog.service import PriceDraft
from app.checkouts import service as checkouts
from app.checkouts.service import CheckoutDraft, CustomerData
from app.models.order import BillingReason, Order
from app.orders import service as orders
from app.orders.service import OrderAmounts, OrderLine
from app.models.subscription import BillingEntry, Subscription
from app.subscriptions import service as subscriptions
from tests.conftest import tenant_factory
from tests.orders.factories import count, make_product, merchant, rows

MONTHLY = PriceDraft(type="fixed", amount=1000)


async def _subscribe(session, subject, *, trial_days=None, amount=1000):
    _, price = await make_product(session, subject, PriceDraft(type="fixed", amount=amount), recurring_interval="month", trial_days=trial_days)
    checkout = await checkouts.create_checkout(
        session, subject, CheckoutDraft(product_price_id=price.id, customer=CustomerData(email="sub@example.com"), payment_processor="manual"), stripe_configured=False
    )
    done = await checkouts.confirm_checkout(session, subject, checkout.id, payment_method=None, processor=None)
    assert done.status == "succeeded"
    return await session.scalar(select(Subscription).where(Subscription.checkout_id == checkout.id))


async def test_a_monthly_subscription_renews_once_per_period_anchored_to_its_first_day(session_factory, org, clock):
    clock.set(datetime(2027, 1, 31, 9, 30, tzinfo=timezone.utc))
    subject = merchant(org.id)
    async with tenant_factory(session_factory, org.id)() as session:
        subscription = await _subscribe(session, subject)
        assert (subscription.status, subscription.period_number) == ("active", 0)
        assert (subscription.current_period_start, subscription.current_period_end) == (
            datetime(2027, 1, 31, 9, 30, tzinfo=timezone.utc),
            datetime(2027, 2, 28, 9, 30, tzinfo=timezone.utc),
        )
        assert await subscriptions.renew_due(session, subject.scope) == 0  # not due yet
        ends = []
        for _ in range(14):
            clock.set(subscription.current_period_end + timedelta(seconds=1))
            assert await subscriptions.renew_due(session, subject.scope) == 1
            assert await subscriptions.renew_due(session, subject.scope) == 0  # once per period
            ends.append(subscription.current_period_end.date().isoformat())
        assert ends[:4] == ["2027-03-31", "2027-04-30", "2027-05-31", "2027-06-30"]
        assert ends[-2:] == ["2028-03-31", "2028-04-30"]  # 2028-02-29 on the way
        assert "2028-02-29" in ends
        orders = (await session.scalars(select(Order).where(Order.subscription_id == subscription.id).order_by(Order.invoice_number))).all()
        assert [o.billing_reason for o in orders] == ["subscription_create"] + ["subscription_cycle"] * 14
        assert await count(session, "SELECT count(*) FROM billing_entries WHERE type = 'cycle'") == 15
        # the renewal orders are charged by their job
        for order in orders[1:]:
            assert order.status == "pending"
            assert await subscriptions.charge_order(session, subject.scope, order.id, stripe=None) == "paid"
            assert await subscriptions.charge_order(session, subject.scope, order.id, stripe=None) == "already paid"
        assert await count(session, "SELECT count(*) FROM transactions WHERE type = 'payment'") == 15
        await session.rollback()


async def test_a_trial_ends_into_its_first_charge_and_a_cancellation_ends_at_the_period_end(session_factory, org, clock):
    clock.set(datetime(2027, 3, 1, tzinfo=timezone.utc))
    subject = merchant(org.id)
    async with tenant_factory(session_factory, org.id)() as session:
        subscription = await _subscribe(session, subject, trial_days=14)
        assert (subscription.status, subscription.period_number, subscription.current_period_end) == ("trialing", -1, datetime(2027, 3, 15, tzinfo=timezone.utc))
        clock.set(datetime(2027, 3, 15, 0, 0, 1, tzinfo=timezone.utc))
        assert await subscriptions.renew_due(session, subject.scope) == 1
        assert (subscription.status, subscription.period_number) == ("active", 0)
        assert (subscription.current_period_start, subscription.current_period_end) == (
            datetime(2027, 3, 15, tzinfo=timezone.utc),
            datetime(2027, 4, 15, tzinfo=timezone.utc),
        )
        [first] = (await session.scalars(select(Order).where(Order.subscription_id == subscription.id, Order.billing_reason == "subscription_cycle"))).all()
        assert (first.subtotal_amount, first.status) == (1000, "pending")
        await subscriptions.cancel(session, subject, subscription.id)
        assert (subscription.status, subscription.cancel_at_period_end) == ("active", True)
        clock.set(datetime(2027, 4, 15, 0, 0, 1, tzinfo=timezone.utc))
        assert await subscriptions.renew_due(session, subject.scope) == 1
        assert (subscription.status, subscription.ended_at) == ("canceled", datetime(2027, 4, 15, tzinfo=timezone.utc))
        assert await count(session, "SELECT count(*) FROM orders WHERE billing_reason = 'subscription_cycle'") == 1
        entries = (await session.scalars(select(BillingEntry).where(BillingEntry.subscription_id == subscription.id))).all()
        assert [(e.type, e.amount) for e in entries] == [("cycle", 1000)]
        await session.rollback()


async def test_the_processors_event_settles_a_renewal_order_once_and_a_failure_makes_it_past_due(session_factory, org, clock):
    """A renewal charge still processing when its job ran is settled by Stripe's event
    (app/checkouts/stripe_handlers.py routes `kassa_order_id` payments here)."""
    clock.set(datetime(2027, 5, 10, tzinfo=timezone.utc))
    subject = merchant(org.id)
    async with tenant_factory(session_factory, org.id)() as session:
        subscription = await _subscribe(session, subject)
        clock.set(subscription.current_period_end + timedelta(seconds=1))
        await subscriptions.renew_due(session, subject.scope)
        order = await session.scalar(select(Order).where(Order.subscription_id == subscription.id, Order.billing_reason == "subscription_cycle"))
        failed = await subscriptions.settle_order_payment(session, subject.scope, order.id, succeeded=False, payment_id="pi_1", charge_id=None, amount=0, failure_code="card_declined")
        assert failed == "handled: declined (card_declined): past due, next attempt 2027-06-12T00:00:01+00:00"  # the first wait: 2 days
        assert (subscription.status, order.status) == ("past_due", "pending")
        wrong = await subscriptions.settle_order_payment(session, subject.scope, order.id, succeeded=True, payment_id="pi_2", charge_id="ch_2", amount=1)
        assert wrong.startswith("needs attention") and order.status == "pending"
        paid = await subscriptions.settle_order_payment(session, subject.scope, order.id, succeeded=True, payment_id="pi_2", charge_id="ch_2", amount=1000)
        assert paid == "handled: order paid"
        assert (subscription.status, subscription.past_due_at, order.status, order.charge_id) == ("active", None, "paid", "ch_2")
        again = await subscriptions.settle_order_payment(session, subject.scope, order.id, succeeded=True, payment_id="pi_2", charge_id="ch_2", amount=1000)
        assert again == "already recorded"
        events = [row[0] for row in await rows(session, "SELECT type FROM webhook_events WHERE type LIKE 'subscription.%' ORDER BY sequence")]
        assert events[-4:] == ["subscription.past_due", "subscription.updated", "subscription.active", "subscription.updated"]
        await session.rollback()


async def test_one_batch_mixes_renewals_free_renewals_and_endings_each_written_once(session_factory, org, clock):
    """In one batch: a paying subscription (its order left for the charge job), one fully
    discounted forever (its order paid at once, nothing to charge) and one canceled at the
    period's end (it ends; no order). The charge job's outcome for each order it is handed."""
    from app.discounts import service as discounts
    from app.discounts.service import DiscountDraft
    from app.kit.jobs import _PENDING
    from tests.orders.factories import make_customer

    clock.set(datetime(2027, 3, 1, tzinfo=timezone.utc))
    subject = merchant(org.id)
    async with tenant_factory(session_factory, org.id)() as session:
        paying = await _subscribe(session, subject)
        free_discount = await discounts.create_discount(session, subject, DiscountDraft(name="Free", type="percentage", duration="forever", basis_points=10_000))
        _, price = await make_product(session, subject, MONTHLY, recurring_interval="month")
        checkout = await checkouts.create_checkout(
            session, subject, CheckoutDraft(product_price_id=price.id, customer=CustomerData(email="free@example.com"), discount_id=free_discount.id, payment_processor="manual"), stripe_configured=False
        )
        await checkouts.confirm_checkout(session, subject, checkout.id, payment_method=None, processor=None)
        free = await session.scalar(select(Subscription).where(Subscription.checkout_id == checkout.id))
        ending = await _subscribe(session, subject)
        await subscriptions.cancel(session, subject, ending.id)
        session.sync_session.info.pop(_PENDING, None)  # the jobs asked so far are not this test's

        clock.set(datetime(2027, 4, 1, 0, 0, 1, tzinfo=timezone.utc))
        assert await subscriptions.renew_due(session, subject.scope) == 3
        assert [(s.status, s.period_number) for s in (paying, free, ending)] == [("active", 1), ("active", 1), ("canceled", 0)]
        cycle_orders = {o.subscription_id: o for o in (await session.scalars(select(Order).where(Order.billing_reason == "subscription_cycle"))).all()}
        assert set(cycle_orders) == {paying.id, free.id}
        assert (cycle_orders[free.id].status, cycle_orders[free.id].due_amount, cycle_orders[free.id].discount_amount) == ("paid", 0, 1000)
        assert (cycle_orders[paying.id].status, cycle_orders[paying.id].due_amount) == ("pending", 1000)
        asked = session.sync_session.info[_PENDING]
        assert [(r.name, r.args[1:]) for r in asked if r.name.startswith("subscriptions.")] == [("subscriptions.charge_orders", ([str(cycle_orders[paying.id].id)],))]
        events = [r[0] for r in await rows(session, "SELECT type FROM webhook_events WHERE created_at = :t ORDER BY sequence", t=clock.now())]
        assert sorted(events) == sorted(["order.created", "order.created", "order.paid", "order.updated", "subscription.canceled", "subscription.updated"] + ["subscription.cycled", "subscription.updated"] * 2)

        not_a_subscriptions = await orders.create_order(
            session, subject.scope, customer_id=(await make_customer(session, subject, email="one@example.com")).id, product_id=None,
            billing_reason=BillingReason.purchase, amounts=OrderAmounts(currency="usd", subtotal=500, discount=0, tax=0),
            lines=[OrderLine(label="Once", unit_amount=500)], processor="manual",
        )
        unknown = uuid.uuid4()
        handed = [cycle_orders[paying.id].id, cycle_orders[free.id].id, not_a_subscriptions.id, unknown, cycle_orders[paying.id].id]
        assert await subscriptions.charge_orders(session, subject.scope, handed, stripe=None) == {
            cycle_orders[paying.id].id: "paid",
            cycle_orders[free.id].id: "already paid",
            not_a_subscriptions.id: "ignored: no such subscription order",
            unknown: "ignored: no such subscription order",
        }
        assert await count(session, "SELECT count(*) FROM transactions WHERE order_id = :id", id=cycle_orders[paying.id].id) == 1
        await session.rollback()
