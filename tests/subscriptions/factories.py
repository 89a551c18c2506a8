"""Factories of the subscription tests: many due subscriptions at once, and the checks every
renewal scenario ends with (each subscription cycled at most once, consistently)."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime

from dateutil.relativedelta import relativedelta
from sqlalchemy import insert
from sqlalchemy.ext.asyncio import AsyncSession

from app.auth.subject import Subject
from app.catalog.service import PriceDraft
from app.kit import clock
from app.models import Customer
from app.models.subscription import Subscription
from tests.orders.factories import make_product, rows

CHARGE_JOB_PREFIX = "subscriptions.charge_order"  # the charge jobs: one order or a list of them


async def due_subscriptions(
    session: AsyncSession,
    subject: Subject,
    count: int,
    *,
    period_end: datetime,
    amount: int = 1000,
    billing_address: dict | None = None,
) -> list[uuid.UUID]:
    """`count` active monthly subscriptions of a new product, one new customer each (manual
    processor), in their first period (number 0), which ends at `period_end`; inserted in bulk
    (a checkout each would make the test about checkouts). Their ids, in no order."""
    product, price = await make_product(session, subject, PriceDraft(type="fixed", amount=amount), recurring_interval="month")
    anchor = period_end - relativedelta(months=1)
    assert anchor + relativedelta(months=1) == period_end, "pick a period end that is not a month's last days"
    now = clock.now()
    customer_ids = [uuid.uuid4() for _ in range(count)]
    await session.execute(
        insert(Customer),
        [
            {"id": customer_id, "organization_id": subject.organization_id, "type": "individual", "email": f"renewal{i}@example.com",
             "billing_address": billing_address, "user_metadata": {}, "created_at": now, "modified_at": now}
            for i, customer_id in enumerate(customer_ids)
        ],
    )
    subscription_ids = [uuid.uuid4() for _ in range(count)]
    await session.execute(
        insert(Subscription),
        [
            {
                "id": subscription_id, "organization_id": subject.organization_id, "customer_id": customer_id, "product_id": product.id,
                "product_price_id": price.id, "processor": "manual", "status": "active", "currency": "usd", "amount": amount,
                "recurring_interval": "month", "anchor_at": anchor, "period_number": 0, "current_period_start": anchor,
                "current_period_end": period_end, "started_at": anchor, "user_metadata": {}, "created_at": now, "modified_at": now,
            }
            for subscription_id, customer_id in zip(subscription_ids, customer_ids)
        ],
    )
    return subscription_ids


@dataclass
class RenewalState:
    """Where the renewals of a set of subscriptions stand (read as the database owner)."""

    periods: dict[uuid.UUID, int]  # subscription -> period_number
    cycle_entries: dict[uuid.UUID, int]  # subscription -> its cycle billing entries after period 0
    renewal_orders: dict[uuid.UUID, int]  # subscription -> its subscription_cycle orders
    paid_orders: int
    payments: int  # payment transactions of renewal orders
    invoice_numbers: list[int]  # of every order of the organization, sorted
    invoice_counter: int  # the organization's counter (0: none yet)
    events: dict[str, int]  # webhook event type -> count
    order_ids: set[uuid.UUID]  # the renewal orders
    charges_asked: list[uuid.UUID]  # orders whose charge a committed transaction asked for (the job outbox)

    @property
    def cycled(self) -> int:
        return sum(1 for n in self.periods.values() if n >= 1)

    def assert_consistent(self, *, outbox: bool = True) -> None:
        """Each subscription in period 0 (not cycled) or 1 (cycled once), and its entries and
        orders say the same; invoice numbers 1..N with no gap or repeat, the counter at N; one
        `subscription.cycled` and one `order.created` per cycle; and (`outbox`: while the
        relay has not emptied the job outbox) each renewal order's charge asked for once."""
        for subscription_id, number in self.periods.items():
            assert number in (0, 1), (subscription_id, number)
            assert self.cycle_entries[subscription_id] == number, (subscription_id, number, self.cycle_entries[subscription_id])
            assert self.renewal_orders[subscription_id] == number, (subscription_id, number, self.renewal_orders[subscription_id])
        assert self.invoice_numbers == list(range(1, len(self.invoice_numbers) + 1)), "invoice numbers have a gap or a repeat"
        assert self.invoice_counter == len(self.invoice_numbers)
        assert self.events.get("subscription.cycled", 0) == self.cycled
        assert self.events.get("order.created", 0) == self.cycled
        if outbox:
            assert sorted(self.charges_asked) == sorted(self.order_ids), "each renewal order's charge asked for once, and no other"


async def renewal_state(session_factory, organization_id: uuid.UUID, subscription_ids: list[uuid.UUID]) -> RenewalState:
    async with session_factory() as session:
        ids = list(subscription_ids)
        periods = dict(await rows(session, "SELECT id, period_number FROM subscriptions WHERE id = ANY(:ids)", ids=ids))
        entries = dict(
            await rows(
                session,
                "SELECT s.id, count(e.id) FROM subscriptions s LEFT JOIN billing_entries e ON e.subscription_id = s.id AND e.type = 'cycle'"
                " AND e.start_at >= s.anchor_at + interval '1 month' WHERE s.id = ANY(:ids) GROUP BY s.id",
                ids=ids,
            )
        )
        orders = dict(
            await rows(
                session,
                "SELECT s.id, count(o.id) FROM subscriptions s LEFT JOIN orders o ON o.subscription_id = s.id AND o.billing_reason = 'subscription_cycle'"
                " WHERE s.id = ANY(:ids) GROUP BY s.id",
                ids=ids,
            )
        )
        [(paid, payments)] = await rows(
            session,
            "SELECT count(DISTINCT o.id) FILTER (WHERE o.status = 'paid'), count(t.id) FROM orders o LEFT JOIN transactions t ON t.order_id = o.id"
            " AND t.type = 'payment' WHERE o.subscription_id = ANY(:ids) AND o.billing_reason = 'subscription_cycle'",
            ids=ids,
        )
        numbers = [r[0] for r in await rows(session, "SELECT invoice_number FROM orders WHERE organization_id = :org ORDER BY 1", org=organization_id)]
        counter = await rows(session, "SELECT last_number FROM invoice_counters WHERE organization_id = :org", org=organization_id)
        events = dict(await rows(session, "SELECT type, count(*) FROM webhook_events WHERE organization_id = :org GROUP BY type", org=organization_id))
        order_ids = {r[0] for r in await rows(session, "SELECT id FROM orders WHERE subscription_id = ANY(:ids) AND billing_reason = 'subscription_cycle'", ids=ids)}
        charges: list[uuid.UUID] = []
        for (requests,) in await rows(session, "SELECT jobs FROM job_outbox"):
            for name, args, *_rest in requests:
                if name.startswith(CHARGE_JOB_PREFIX) and args[0] == str(organization_id):  # (organization, order) or (organization, [orders])
                    charges += [uuid.UUID(a) for a in (args[1] if isinstance(args[1], list) else [args[1]])]
    return RenewalState(
        periods=periods,
        cycle_entries=entries,
        renewal_orders=orders,
        paid_orders=paid,
        payments=payments,
        invoice_numbers=numbers,
        invoice_counter=counter[0][0] if counter else 0,
        events=events,
        order_ids=order_ids,
        charges_asked=charges,
    )
