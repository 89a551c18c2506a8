"""Subscriptions: created from a succeeded checkout, renewed exactly once per period, charged
off-session, canceled, uncanceled and revoked.

**Renewal.** The worker's sweep claims due subscriptions (period ended, trialing or active) with
`FOR UPDATE SKIP LOCKED` in batches: two workers take different rows, and a subscription is
renewed in the transaction that holds its lock, which moves its `period_number` by one, writes
the period's `cycle` billing entry (unique per subscription and period start) and its renewal
order, and asks for the order's charge (after commit). A worker killed mid-batch rolls the whole
batch back; the next sweep renews those subscriptions, once. A second run of the same sweep
finds them renewed (their period end is in the future). A batch is written in a fixed number of
statements whatever its size (`renew_due`), its invoice numbers taken together at its end.

**Charging** is its own job, on the orders' row locks: a pending order is charged off-session
with the subscription's saved payment method; the processor's idempotency key is the order's, so
the job run twice, or retried after a crash between the processor's answer and the commit,
charges once. The manual processor's orders of a renewal batch are charged by one job, in one
transaction (`subscriptions.charge_orders`); a processor's (Stripe) each by a job of its own
(`subscriptions.charge_order`), a network call each, run in parallel by the workers. A failed
charge (or no payment method, as after a trial started without one) makes the subscription
`past_due`; a payment that succeeds makes it `active` again.

**Amounts** come from the kit (app/discounts/amounts.py): the period's price (times the seats),
less the subscription's discount while it lasts (`once`: the first order only, made at checkout;
`repeating`: orders of periods starting within its months; `forever`), plus the tax of the
customer's billing country.
"""

from __future__ import annotations

import logging
import uuid
from datetime import datetime, timedelta
from typing import Any, Sequence

from dateutil.relativedelta import relativedelta
from sqlalchemy.ext.asyncio import AsyncSession

from app.auth.subject import Subject
from app.discounts import service as discounts
from app.discounts.amounts import DiscountTerms, compute_amounts
from app.discounts.tax_rates import tax_rates_for
from app.kit import clock
from app.kit.batches import grouped, in_order
from app.kit.errors import FieldIssue, NotFound, ValidationFailed
from app.kit.jobs import enqueue_after_commit
from app.kit.money import Money
from app.kit.pagination import Page, check_page_size
from app.kit.periods import period_bounds
from app.kit.tenancy import TenantScope
from app.kit.validation import check_text
from app.models import Customer
from app.models.discount import Discount, DiscountDuration
from app.models.order import BillingReason, Order, OrderStatus
from app.models.subscription import BillingEntry, BillingEntryType, Subscription, SubscriptionStatus
from app.models.webhook import WebhookEventType
from app.orders import repository as orders_repository
from app.orders import service as orders
from app.orders.service import OrderAmounts, OrderDraft, OrderLine, Payment
from app.payments import methods
from app.payments.manual import ManualProcessor
from app.payments.processors import PaymentProcessor, ProcessorNotConfigured
from app.subscriptions import dunning, proration, repository
from app.subscriptions import metered as metered_billing
from app.subscriptions.metered import MeteredBill
from app.subscriptions.errors import SubscriptionNotChangeable
from app.subscriptions.payloads import subscription_data
from app.subscriptions.repository import SubscriptionFilter
from app.webhooks import service as webhooks

__all__ = ["SubscriptionFilter", "cancel", "charge_order", "charge_orders", "create_from_checkout", "renew_due", "revoke", "set_payment_method", "uncancel"]

logger = logging.getLogger("kassa.subscriptions")

CHARGE_JOB = "subscriptions.charge_order"
CHARGE_MANY_JOB = "subscriptions.charge_orders"
RENEW_BATCH = 200


# -- reads ---------------------------------------------------------------------------------


async def list_subscriptions(
    session: AsyncSession, subject: Subject, filter: SubscriptionFilter, *, descending: bool = True, first: int = 50, after: str | None = None, max_page_size: int = 100
) -> Page[Subscription]:
    check_page_size(first, max_page_size)
    return await repository.list_page(session, subject.scope, filter, descending=descending, first=first, after=after)


async def count_subscriptions(session: AsyncSession, subject: Subject, filter: SubscriptionFilter) -> int:
    return await repository.count(session, subject.scope, filter)


async def get_subscription(session: AsyncSession, subject: Subject, subscription_id: uuid.UUID) -> Subscription:
    subscription = await repository.get(session, subject.scope, subscription_id)
    if subscription is None:
        raise NotFound("Subscription not found")
    return subscription


async def load_subscriptions(session: AsyncSession, scope: TenantScope, ids: list[uuid.UUID]) -> list[Subscription | None]:
    return in_order(await repository.get_many(session, scope, ids), ids)


async def load_subscriptions_of_customers(session: AsyncSession, scope: TenantScope, customer_ids: list[uuid.UUID]) -> list[list[Subscription]]:
    return grouped(await repository.of_customers(session, scope, customer_ids), customer_ids, key=lambda row: row.customer_id)


async def load_entries_of(session: AsyncSession, scope: TenantScope, subscription_ids: list[uuid.UUID]) -> list[list[BillingEntry]]:
    return grouped(await repository.entries_of(session, scope, subscription_ids), subscription_ids, key=lambda row: row.subscription_id)


async def load_orders_of(session: AsyncSession, scope: TenantScope, subscription_ids: list[uuid.UUID]) -> list[list[Order]]:
    return grouped(await repository.orders_of(session, scope, subscription_ids), subscription_ids, key=lambda row: row.subscription_id)


def _events(subscription: Subscription, *types: WebhookEventType) -> list[tuple[WebhookEventType, dict[str, Any]]]:
    """The events `types` about the subscription as it is now (for `webhooks.emit_many`)."""
    data = subscription_data(subscription)
    return [(type, data) for type in types]


async def _emit(session: AsyncSession, scope: TenantScope, subscription: Subscription, *types: WebhookEventType) -> None:
    await webhooks.emit_many(session, scope, _events(subscription, *types))


# -- creation ------------------------------------------------------------------------------


async def create_from_checkout(
    session: AsyncSession,
    scope: TenantScope,
    *,
    checkout_id: uuid.UUID,
    customer: Customer,
    product_id: uuid.UUID,
    product_price_id: uuid.UUID,
    recurring_interval: str,
    currency: str,
    amount: int,
    seats: int | None,
    discount_id: uuid.UUID | None,
    trial_days: int | None,
    processor: str,
    payment_method_id: uuid.UUID | None,
    member_id: uuid.UUID | None,
    metadata: dict[str, Any],
    order_id: uuid.UUID,
) -> Subscription:
    """The subscription a succeeded checkout of a recurring product starts: trialing for
    `trial_days`, else active with its first period paid by the checkout's order (`order_id`:
    the first period's billing entry points at it). Emits
    `subscription.created` (and `subscription.active`). Never commits."""
    now = clock.now()
    trial_end = now + timedelta(days=trial_days) if trial_days else None
    anchor = trial_end or now
    number = -1 if trial_end else 0
    start, end = (now, trial_end) if trial_end else period_bounds(anchor, recurring_interval, 0)
    subscription = Subscription(
        id=uuid.uuid4(),
        organization_id=scope.organization_id,
        customer_id=customer.id,
        member_id=member_id,
        product_id=product_id,
        product_price_id=product_price_id,
        checkout_id=checkout_id,
        discount_id=discount_id,
        payment_method_id=payment_method_id,
        processor=processor,
        status=SubscriptionStatus.trialing.value if trial_end else SubscriptionStatus.active.value,
        currency=currency,
        amount=amount,
        seats=seats,
        recurring_interval=recurring_interval,
        anchor_at=anchor,
        period_number=number,
        current_period_start=start,
        current_period_end=end,
        trial_start=now if trial_end else None,
        trial_end=trial_end,
        started_at=now,
        user_metadata=dict(metadata),
    )
    session.add(subscription)
    await session.flush()
    if not trial_end:
        session.add(
            BillingEntry(
                organization_id=scope.organization_id,
                subscription_id=subscription.id,
                order_id=order_id,
                product_price_id=product_price_id,
                type=BillingEntryType.cycle.value,
                direction="debit",
                amount=amount,
                currency=currency,
                start_at=start,
                end_at=end,
            )
        )
        await session.flush()
    types = [WebhookEventType.subscription_created]
    if subscription.status == SubscriptionStatus.active.value:
        types.append(WebhookEventType.subscription_active)
    await _emit(session, scope, subscription, *types)
    return subscription


# -- renewal -------------------------------------------------------------------------------


def _discount_applies(discount: Discount | None, subscription: Subscription, number: int, period_start: datetime) -> bool:
    """Whether the subscription's discount takes part in the order of period `number` starting
    then: `once`, the first paid period only (the checkout's order, or the first order after a
    trial); `repeating`, periods starting within its months from the start; `forever`, all."""
    if discount is None:
        return False
    if discount.duration == DiscountDuration.once.value:
        return number == 0
    if discount.duration == DiscountDuration.repeating.value:
        return period_start < subscription.started_at + relativedelta(months=discount.duration_in_months or 0)
    return True


def _cycle(
    subscription: Subscription,
    customer: Customer | None,
    discount: Discount | None,
    rate: int,
    pending: Sequence[OrderLine] = (),
    metered: MeteredBill | None = None,
) -> tuple[OrderDraft, BillingEntry, list[WebhookEventType]]:
    """Move one locked, due subscription into its next period (in memory: the caller writes the
    batch): its renewal order to create, its cycle entry (its order set once the order exists)
    and the events to emit. The order bills the new period, then `pending`: lines of earlier
    changes (prorations: app/subscriptions/proration.py `bill_pending`), then the closed period's
    `metered` lines (app/subscriptions/metered.py)."""
    was_trialing = subscription.status == SubscriptionStatus.trialing.value
    number = subscription.period_number + 1
    start, end = period_bounds(subscription.anchor_at, subscription.recurring_interval, number)
    subscription.period_number = number
    subscription.current_period_start = start
    subscription.current_period_end = end
    if was_trialing:
        subscription.status = SubscriptionStatus.active.value

    entry = BillingEntry(
        id=uuid.uuid4(),
        organization_id=subscription.organization_id,
        subscription_id=subscription.id,
        product_price_id=subscription.product_price_id,
        type=BillingEntryType.cycle.value,
        direction="debit",
        amount=subscription.amount,
        currency=subscription.currency,
        start_at=start,
        end_at=end,
    )
    period = OrderLine(label=f"Period {start:%Y-%m-%d} to {end:%Y-%m-%d}", unit_amount=subscription.amount, product_price_id=subscription.product_price_id)
    lines = [period, *pending, *(metered.lines if metered is not None else [])]
    draft = _order_draft(subscription, customer, discount, rate, number, start, lines)
    types = [WebhookEventType.subscription_cycled, WebhookEventType.subscription_updated]
    if was_trialing:
        types.append(WebhookEventType.subscription_active)
    return draft, entry, types


def _final_usage(subscription: Subscription, customer: Customer | None, discount: Discount | None, rate: int, metered: MeteredBill) -> OrderDraft:
    """The last order of a subscription that ends at its period's end: its usage (metered lines
    only), discounted as the renewal order it replaces would have been."""
    return _order_draft(subscription, customer, discount, rate, subscription.period_number + 1, subscription.current_period_end, list(metered.lines))


def _order_draft(
    subscription: Subscription,
    customer: Customer | None,
    discount: Discount | None,
    rate: int,
    number: int,
    start: datetime,
    lines: list[OrderLine],
    *,
    billing_reason: BillingReason = BillingReason.subscription_cycle,
) -> OrderDraft:
    """A subscription's order of `lines` (a renewal's; or a change's, app/subscriptions/changes.py)
    in period `number`, starting at `start`: the subscription's discount where it applies to
    that period, the tax `rate` of the customer's place."""
    address = (customer.billing_address if customer is not None else None) or {}
    terms = DiscountTerms.of(discount) if discount is not None and _discount_applies(discount, subscription, number, start) else None
    amounts = compute_amounts([Money(line.unit_amount * line.quantity, subscription.currency) for line in lines], discount=terms, tax_basis_points=rate)
    return OrderDraft(
        customer_id=subscription.customer_id,
        product_id=subscription.product_id,
        billing_reason=billing_reason,
        amounts=OrderAmounts(
            currency=subscription.currency, subtotal=amounts.subtotal.amount, discount=amounts.discount_amount.amount, tax=amounts.tax_amount.amount
        ),
        lines=lines,
        processor=subscription.processor,
        discount_id=discount.id if terms is not None and discount is not None else None,
        tax_basis_points=rate,
        tax_country=address.get("country"),
        billing_name=customer.billing_name if customer is not None else None,
        billing_address=address or None,
        subscription_id=subscription.id,
    )


def _place(customer: Customer | None) -> tuple[str | None, str | None]:
    address = (customer.billing_address if customer is not None else None) or {}
    return address.get("country"), address.get("state")


async def renew_due(session: AsyncSession, scope: TenantScope, *, limit: int = RENEW_BATCH) -> int:
    """Renew a batch of the organization's due subscriptions in this transaction (the caller
    commits); returns how many were claimed (a full batch: call again).

    The batch is written in a fixed number of statements, whatever its size: the closed periods'
    usage (app/subscriptions/metered.py: a few statements per meter, before the periods move;
    its lines join the renewal orders, and a subscription ending now gets a last order for its
    usage), the subscriptions' new periods (one flush), then their renewal orders (`orders.create_orders`, which takes the
    batch's invoice numbers together: last, so that the organization's counter is locked only
    while the batch finishes and a second worker's batch waits as little as possible), their
    cycle entries, their events, and the charges asked for (see `_ask_charges`)."""
    due = await repository.claim_due(session, scope, clock.now(), limit)
    if not due:
        return 0
    customers = await repository.customers_by_id(session, scope, list({s.customer_id for s in due}))
    discount_ids = list({s.discount_id for s in due if s.discount_id is not None})
    found = await discounts.load_discounts(session, scope, discount_ids) if discount_ids else []
    by_id = {d.id: d for d in found if d is not None}
    metered = await metered_billing.bill_batch(session, scope, due, customers)  # before the periods move
    renewing = [s for s in due if not s.cancel_at_period_end and not s.pause_at_period_end]
    pending = await _pending_of(session, scope, renewing)
    ordering = [s for s in due if s.id in metered or not (s.cancel_at_period_end or s.pause_at_period_end)]
    rates = await tax_rates_for(session, scope, {_place(customers.get(s.customer_id)) for s in ordering}) if ordering else {}

    events: list[tuple[WebhookEventType, dict[str, Any]]] = []
    drafts: list[OrderDraft] = []
    entries: list[list[BillingEntry]] = []  # each draft's
    cycled: list[tuple[Subscription, list[WebhookEventType]]] = []
    carried: list[BillingEntry] = []  # the parts of credits left for a later order
    for subscription in due:
        customer = customers.get(subscription.customer_id)
        discount = by_id.get(subscription.discount_id) if subscription.discount_id else None
        usage = metered.get(subscription.id)
        if subscription.cancel_at_period_end or subscription.pause_at_period_end:  # no next period
            if usage is not None and usage.amount > 0:  # but its last period's usage to pay
                drafts.append(_final_usage(subscription, customer, discount, rates[_place(customer)], usage))
                entries.append(usage.entries)
            if subscription.pause_at_period_end and not subscription.cancel_at_period_end:  # paused from now, unbilled
                events += _pause_now(subscription)
                continue
            subscription.status = SubscriptionStatus.canceled.value  # canceled at the end of this period: it ends now
            subscription.ended_at = subscription.current_period_end
            events += _events(subscription, WebhookEventType.subscription_canceled, WebhookEventType.subscription_updated)
            continue
        billed = proration.bill_pending(pending.get(subscription.id, []), subscription.amount + (usage.amount if usage is not None else 0))
        draft, entry, types = _cycle(subscription, customer, discount, rates[_place(customer)], billed.lines, usage)
        drafts.append(draft)
        entries.append([entry, *billed.billed, *(usage.entries if usage is not None else [])])
        carried += billed.carried
        cycled.append((subscription, types))
    await session.flush()  # the new periods and statuses

    made = await orders.create_orders(session, scope, drafts)
    for drafted, order in zip(entries, made):
        for entry in drafted:
            entry.order_id = order.id
        session.add_all(drafted)
    session.add_all(carried)
    await session.flush()
    await _settle_new(session, scope, made)
    for subscription, types in cycled:
        events += _events(subscription, *types)
    await webhooks.emit_many(session, scope, events)
    return len(due)


async def _settle_new(session: AsyncSession, scope: TenantScope, made: Sequence[Order]) -> None:
    """New subscription orders (a renewal batch's, a resume's, a change's): those with nothing
    due are paid now; the others' charges are asked for after commit (`_ask_charges`)."""
    await orders.mark_paid_many(session, scope, [Payment(order, order.processor, None, None, 0) for order in made if order.due_amount == 0])
    _ask_charges(session, [order for order in made if order.due_amount > 0])


async def _pending_of(session: AsyncSession, scope: TenantScope, subscriptions: Sequence[Subscription]) -> dict[uuid.UUID, list[BillingEntry]]:
    """The billing entries no order has billed yet (prorations), of each subscription, oldest
    first: the next order bills them. One statement for a batch."""
    if not subscriptions:
        return {}
    rows = await repository.pending_entries(session, scope, [s.id for s in subscriptions])
    by_subscription: dict[uuid.UUID, list[BillingEntry]] = {}
    for row in rows:
        by_subscription.setdefault(row.subscription_id, []).append(row)
    return by_subscription


def _pause_now(subscription: Subscription) -> list[tuple[WebhookEventType, dict[str, Any]]]:
    """A subscription to be paused reached its period's end: paused from then, unbilled."""
    subscription.status = SubscriptionStatus.paused.value
    subscription.paused_at = subscription.current_period_end
    subscription.pause_at_period_end = False
    return _events(subscription, WebhookEventType.subscription_paused, WebhookEventType.subscription_updated)


def _ask_charges(session: AsyncSession, pending: list[Order]) -> None:
    """After commit, charge the batch's pending orders: the manual processor's all in one job
    (nothing to wait for: one transaction records them all), a processor's each in a job of its
    own (a network call each, which the workers make in parallel)."""
    manual = [str(order.id) for order in pending if order.processor == ManualProcessor.name]
    if manual:
        enqueue_after_commit(session, CHARGE_MANY_JOB, manual)
    for order in pending:
        if order.processor != ManualProcessor.name:
            enqueue_after_commit(session, CHARGE_JOB, order.id)


# -- charging ------------------------------------------------------------------------------


def _past_due(subscription: Subscription) -> list[tuple[WebhookEventType, dict[str, Any]]]:
    if subscription.status not in (SubscriptionStatus.active.value, SubscriptionStatus.trialing.value):
        return []
    subscription.status = SubscriptionStatus.past_due.value
    subscription.past_due_at = clock.now()
    return _events(subscription, WebhookEventType.subscription_past_due, WebhookEventType.subscription_updated)


async def _failed(
    session: AsyncSession, scope: TenantScope, order: Order, subscription: Subscription, failure_code: str | None
) -> tuple[str, list[tuple[WebhookEventType, dict[str, Any]]]]:
    """A renewal charge failed: dunning decides (app/subscriptions/dunning.py); the subscription
    is past due until a retry succeeds, or ends as the organization chose. Returns what happened
    and the subscription's events (the caller emits them with the batch's)."""
    outcome = await dunning.charge_failed(session, scope, order, subscription, failure_code=failure_code)
    if outcome.final_status is not None:
        types = [WebhookEventType.subscription_updated]
        if outcome.final_status == SubscriptionStatus.canceled.value:
            types.insert(0, WebhookEventType.subscription_canceled)
        await orders.emit_updated(session, scope, order)
        return outcome.describe(failure_code or "payment_failed"), _events(subscription, *types)
    return outcome.describe(failure_code or "payment_failed"), _past_due(subscription)


async def charge_order(session: AsyncSession, scope: TenantScope, order_id: uuid.UUID, *, stripe: PaymentProcessor | None) -> str:
    """Charge a subscription's pending order off-session (see the module's docstring). Returns
    what happened. Never commits."""
    return (await charge_orders(session, scope, [order_id], stripe=stripe))[order_id]


async def charge_orders(session: AsyncSession, scope: TenantScope, order_ids: Sequence[uuid.UUID], *, stripe: PaymentProcessor | None) -> dict[uuid.UUID, str]:
    """`charge_order` for many orders (a batch of renewals) in one transaction: every order's row
    locked, then every subscription's (each in the order of their ids: two jobs over the same
    orders queue up instead of deadlocking), each order charged (the processor asked one order
    at a time), then the payments recorded together (`orders.mark_paid_many`). Returns what
    happened to each order. Never commits."""
    outcomes = {order_id: "ignored: no such subscription order" for order_id in order_ids}
    locked = {order.id: order for order in await orders_repository.lock_many(session, scope, list(outcomes)) if order.subscription_id is not None}
    subscriptions = {s.id: s for s in await repository.lock_many(session, scope, list({o.subscription_id for o in locked.values()}))}  # type: ignore[misc]
    method_ids = list({s.payment_method_id for s in subscriptions.values() if s.payment_method_id is not None})
    methods = await repository.payment_methods(session, scope, method_ids) if method_ids else {}
    payments: list[Payment] = []
    events: list[tuple[WebhookEventType, dict[str, Any]]] = []
    for order_id in outcomes:
        order = locked.get(order_id)
        if order is None:
            continue
        if order.status != OrderStatus.pending.value:
            outcomes[order_id] = f"already {order.status}"
            continue
        subscription = subscriptions[order.subscription_id]  # type: ignore[index]
        if subscription.ended_at is not None or subscription.status in (SubscriptionStatus.canceled.value, SubscriptionStatus.unpaid.value):
            await _void(session, scope, order)  # ended meanwhile (revoked, its customer deleted): nothing more is owed
            outcomes[order_id] = f"void: the subscription has ended ({subscription.status})"
            continue
        method = methods.get(subscription.payment_method_id) if subscription.payment_method_id else None
        order.payment_attempts += 1  # each attempt its own processor key: a retry is a new charge, a rerun the same
        order.next_payment_attempt_at = None
        key = f"kassa-order-{order.id}-{order.payment_attempts}"
        if subscription.processor == ManualProcessor.name:
            result = await ManualProcessor().charge(
                customer_id=str(subscription.customer_id), payment_method="offline", amount=order.due_amount, currency=order.currency,
                off_session=True, idempotency_key=key, metadata={},
            )
        elif method is None:
            outcomes[order_id], failed_events = await _failed(session, scope, order, subscription, "no_payment_method")
            events += failed_events
            continue
        elif stripe is None:
            order.payment_attempts -= 1  # not an attempt: the dunning sweep asks again once Stripe is configured
            order.next_payment_attempt_at = clock.now() + timedelta(hours=1)
            outcomes[order_id] = "waiting: Stripe is not configured (STRIPE_SECRET_KEY)"
            continue
        else:
            result = await stripe.charge(
                customer_id=method.processor_customer_id,
                payment_method=method.processor_id,
                amount=order.due_amount,
                currency=order.currency,
                off_session=True,
                idempotency_key=key,
                metadata={"kassa_organization_id": str(scope.organization_id), "kassa_order_id": str(order.id)},
            )
        if result.status == "succeeded":
            payments.append(Payment(order, subscription.processor, result.payment_id, result.charge_id, order.due_amount, result.fee))
            if subscription.status == SubscriptionStatus.past_due.value:
                subscription.status = SubscriptionStatus.active.value
                subscription.past_due_at = None
                events += _events(subscription, WebhookEventType.subscription_active, WebhookEventType.subscription_updated)
            outcomes[order_id] = "paid"
        elif result.status == "failed":
            outcomes[order_id], failed_events = await _failed(session, scope, order, subscription, result.failure_code)
            events += failed_events
        else:
            order.payment_id = result.payment_id  # the processor's event decides
            outcomes[order_id] = f"waiting: {result.status}"
    await orders.mark_paid_many(session, scope, payments)
    await session.flush()
    await webhooks.emit_many(session, scope, events)
    return outcomes


# -- changes -------------------------------------------------------------------------------


async def _locked(session: AsyncSession, subject: Subject, subscription_id: uuid.UUID) -> Subscription:
    subscription = await repository.get(session, subject.scope, subscription_id, for_update=True)
    if subscription is None:
        raise NotFound("Subscription not found")
    if subscription.status in (SubscriptionStatus.canceled.value, SubscriptionStatus.unpaid.value) or subscription.ended_at is not None:
        raise SubscriptionNotChangeable(SubscriptionStatus(subscription.status))
    return subscription


async def cancel(session: AsyncSession, subject: Subject, subscription_id: uuid.UUID) -> Subscription:
    """Cancel at the end of the current period (it stays usable until then); a paused one ends
    now (no period runs). Twice is a no-op."""
    subscription = await _locked(session, subject, subscription_id)
    if subscription.status == SubscriptionStatus.paused.value:  # no period runs: it ends now
        now = clock.now()
        subscription.status = SubscriptionStatus.canceled.value
        subscription.canceled_at = now
        subscription.ended_at = now
        await session.flush()
        await _emit(session, subject.scope, subscription, WebhookEventType.subscription_canceled, WebhookEventType.subscription_updated)
    elif not subscription.cancel_at_period_end:
        subscription.cancel_at_period_end = True
        subscription.canceled_at = clock.now()
        await session.flush()
        await _emit(session, subject.scope, subscription, WebhookEventType.subscription_canceled, WebhookEventType.subscription_updated)
    return subscription


async def uncancel(session: AsyncSession, subject: Subject, subscription_id: uuid.UUID) -> Subscription:
    """Take back a cancellation at the period's end. Not canceled: a no-op."""
    subscription = await _locked(session, subject, subscription_id)
    if subscription.cancel_at_period_end:
        subscription.cancel_at_period_end = False
        subscription.canceled_at = None
        await session.flush()
        await _emit(session, subject.scope, subscription, WebhookEventType.subscription_uncanceled, WebhookEventType.subscription_updated)
    return subscription


async def revoke(session: AsyncSession, subject: Subject, subscription_id: uuid.UUID) -> Subscription:
    """End the subscription now: no more renewals, and its renewal orders still waiting for their
    payment (a past-due one's) are voided, so no retry charges them afterwards (what was paid for
    is not refunded here). The orders are locked before the subscription, as the charge job does."""
    await orders_repository.lock_many(session, subject.scope, await repository.pending_order_ids(session, subject.scope, [subscription_id]))
    subscription = await _locked(session, subject, subscription_id)
    await _end_now(session, subject.scope, subscription)
    return subscription


async def _end_now(session: AsyncSession, scope: TenantScope, subscription: Subscription) -> None:
    now = clock.now()
    subscription.status = SubscriptionStatus.canceled.value
    subscription.canceled_at = subscription.canceled_at or now
    subscription.ended_at = now
    subscription.cancel_at_period_end = False
    await session.flush()
    for order in await orders_repository.lock_many(session, scope, await repository.pending_order_ids(session, scope, [subscription.id])):
        await _void(session, scope, order)
    await _emit(session, scope, subscription, WebhookEventType.subscription_revoked, WebhookEventType.subscription_updated)


async def _void(session: AsyncSession, scope: TenantScope, order: Order) -> None:
    order.status = OrderStatus.void.value
    order.next_payment_attempt_at = None
    await session.flush()
    await orders.emit_updated(session, scope, order)


async def end_for_deleted_customer(session: AsyncSession, scope: TenantScope, customer_id: uuid.UUID) -> int:
    """A deleted customer's subscriptions end now (revoked, as `revoke` does): nobody is billed
    for a customer that is gone. Called in the deletion's transaction. Returns how many."""
    ids = await repository.live_of_customer(session, scope, customer_id)
    if not ids:
        return 0
    await orders_repository.lock_many(session, scope, await repository.pending_order_ids(session, scope, ids))
    for subscription in await repository.lock_many(session, scope, ids):
        if subscription.ended_at is None and subscription.status not in (SubscriptionStatus.canceled.value, SubscriptionStatus.unpaid.value):
            await _end_now(session, scope, subscription)
    return len(ids)


async def set_payment_method(
    session: AsyncSession, subject: Subject, subscription_id: uuid.UUID, *, payment_method: str, processor: PaymentProcessor | None
) -> Subscription:
    """Save a payment method (a Stripe `pm_...` from Stripe.js) at the processor for the
    subscription's customer and charge the subscription's renewals with it from now on: a trial
    started without a card needs one, and a card that expired is replaced. A past-due
    subscription's renewal order is charged again with it at once (a job after commit, the order's
    next attempt, with its own processor key), so the customer does not wait for the next retry.
    The subscription's row is locked while the processor saves the method: one change at a time."""
    issues: list[FieldIssue] = []
    payment_method = check_text(issues, ("paymentMethod",), payment_method, max_length=255, required=True) or ""
    if issues:
        raise ValidationFailed(issues)
    pending = await orders_repository.lock_many(session, subject.scope, await repository.pending_order_ids(session, subject.scope, [subscription_id]))
    subscription = await _locked(session, subject, subscription_id)
    if subscription.processor == ManualProcessor.name:
        raise ValidationFailed([FieldIssue(("paymentMethod",), "this subscription is paid offline (MANUAL): it has no payment method", "manual_processor")])
    if processor is None:
        raise ProcessorNotConfigured("Stripe is not configured on this Kassa (STRIPE_SECRET_KEY)")
    customers = await repository.customers_by_id(session, subject.scope, [subscription.customer_id])
    customer = customers[subscription.customer_id]
    processor_customer = await methods.processor_customer(session, customer, processor)
    saved = await methods.record_saved(
        session, subject.scope, customer, processor, processor_customer, await processor.save_payment_method(customer_id=processor_customer, payment_method=payment_method)
    )
    changed = subscription.payment_method_id != saved.id
    subscription.payment_method_id = saved.id
    for order in pending:
        order.next_payment_attempt_at = None
        enqueue_after_commit(session, CHARGE_JOB, order.id)
    await session.flush()
    if changed:
        await _emit(session, subject.scope, subscription, WebhookEventType.subscription_updated)
    return subscription


# -- the processor's word on a renewal order --------------------------------------------------


async def settle_order_payment(
    session: AsyncSession,
    scope: TenantScope,
    order_id: uuid.UUID,
    *,
    succeeded: bool,
    payment_id: str,
    charge_id: str | None,
    amount: int,
    failure_code: str | None = None,
) -> str:
    """Stripe's event on a renewal order's payment that was still processing (or waiting for the
    customer) when its charge job ran: paid, or dunning. Once: the order's row lock and status."""
    order = await orders_repository.get(session, scope, order_id, for_update=True)
    if order is None or order.subscription_id is None:
        return "ignored: no such subscription order"
    if order.status != OrderStatus.pending.value:
        return "already recorded"
    subscription = await repository.get(session, scope, order.subscription_id, for_update=True)
    assert subscription is not None
    if not succeeded:
        outcome, events = await _failed(session, scope, order, subscription, failure_code)
        await session.flush()
        await webhooks.emit_many(session, scope, events)
        return "handled: " + outcome
    if amount != order.due_amount:
        logger.error("payment %s of %s for order %s, which is due %s: not recorded, see the processor", payment_id, amount, order.id, order.due_amount)
        return f"needs attention: paid {amount}, the order is due {order.due_amount}"
    await orders.mark_paid(session, scope, order, processor=subscription.processor, payment_id=payment_id, charge_id=charge_id, amount=amount)
    if subscription.status == SubscriptionStatus.past_due.value:
        subscription.status = SubscriptionStatus.active.value
        subscription.past_due_at = None
        await session.flush()
        await _emit(session, scope, subscription, WebhookEventType.subscription_active, WebhookEventType.subscription_updated)
    return "handled: order paid"
