"""Changes of a running subscription: pause and resume; product and seat changes with per-second
proration, previewed and applied by one computation.

**Pause.** `pause` marks the subscription to pause at the end of its current period (it stays
usable until then); the renewal sweep then makes it `paused` (no order, not billed, not usable)
instead of renewing it. `resume` takes a scheduled pause back, or starts a paused subscription
again: a new period from now (the subscription is anchored again there), its order made and
charged as a renewal's (app/subscriptions/service.py `_cycle`: the same amounts, discount and
tax), its charge asked for after commit; a failed charge goes through dunning.

**Product and seat changes** (`preview_update`, `update`): `plan_change` computes everything a
change does at a moment (the billing entries, the order's amounts, where the money goes, the new
period amount) without writing; `update` writes what it computed, at the clock's now, under the
subscription's row lock. The preview and the change are the same function's answer, so they
cannot differ. The proration formula is app/subscriptions/proration.py's. Behaviours:

- `prorate`: the entries are written with no order; the next order of the subscription (its
  renewal) bills them as lines.
- `invoice`: an order now (billing reason `subscription_update`) bills them, with the
  subscription's discount (while it applies to the current period) and the customer's tax, charged
  off-session by the renewal charge job. Lines that net to a credit (or to 0) make no order: the
  entries stay for the next order, as with `prorate`.
- `next_period`: no entries: the new price and seats apply now, the next renewal bills them.

During a trial no money moves: the change applies with no entries, whatever the behaviour (the
first paid period bills the new price).
"""

from __future__ import annotations

import dataclasses
import enum
import uuid
from dataclasses import dataclass, field
from datetime import datetime

from sqlalchemy.ext.asyncio import AsyncSession

from app.auth.subject import Subject
from app.catalog import repository as catalog
from app.discounts import service as discounts
from app.discounts.tax_rates import tax_rates_for
from app.kit import clock
from app.kit.errors import FieldIssue, NotFound, ValidationFailed
from app.kit.tenancy import TenantScope
from app.models import Customer
from app.models.discount import Discount, DiscountDuration
from app.models.order import BillingReason, Order
from app.models.product import BASE_PRICE_TYPES, PriceType, Product, ProductPrice, seat_price
from app.models.subscription import BillingEntry, Subscription, SubscriptionStatus
from app.models.webhook import WebhookEventType
from app.orders import service as orders
from app.orders.service import OrderAmounts, OrderDraft, OrderLine
from app.subscriptions import proration, repository, seats
from app.subscriptions import service as subscriptions
from app.subscriptions.errors import ChangeNotAllowedReason, SubscriptionChangeNotAllowed, SubscriptionNotChangeable
from app.subscriptions.proration import PlannedEntry

MAX_SEATS = 10_000
ENDED = (SubscriptionStatus.canceled.value, SubscriptionStatus.unpaid.value)


class ProrationBehavior(str, enum.Enum):
    prorate = "prorate"
    invoice = "invoice"
    next_period = "next_period"


@dataclass(frozen=True)
class ChangeRequest:
    """A product and/or seat change; `None` keeps the current one."""

    behavior: ProrationBehavior
    product_id: uuid.UUID | None = None
    seats: int | None = None


@dataclass
class ChangePlan:
    """What a change does at `at` (see `plan_change`)."""

    subscription: Subscription
    at: datetime
    behavior: ProrationBehavior
    product: Product
    price: ProductPrice
    seats: int | None
    new_amount: int  # one period of the new price (times the seats)
    entries: list[PlannedEntry]
    amounts: OrderAmounts  # of the entries' lines: an order's (`invoice` with a debit), else their net
    due_now: int  # charged now (`invoice`)
    added_to_next_order: int  # the net the next order's subtotal takes (`prorate`, or an `invoice` netting a credit)
    lines: list[OrderLine] = field(default_factory=list)
    draft: OrderDraft | None = None  # the order made now (`invoice` netting a debit)

    @property
    def currency(self) -> str:
        return self.subscription.currency


# -- pause and resume ----------------------------------------------------------------------


async def pause(session: AsyncSession, subject: Subject, subscription_id: uuid.UUID) -> Subscription:
    """Pause at the end of the current period: usable until then, then `paused` instead of
    renewed (no order). Emits `subscription.updated`. Twice, or on a paused one, is a no-op. Only
    a trialing or active subscription (past due: its renewal is not paid; ended: never)."""
    subscription = await subscriptions._locked(session, subject, subscription_id)
    if subscription.status == SubscriptionStatus.paused.value or subscription.pause_at_period_end:
        return subscription
    if subscription.status not in (SubscriptionStatus.trialing.value, SubscriptionStatus.active.value):
        raise SubscriptionNotChangeable(SubscriptionStatus(subscription.status))
    subscription.pause_at_period_end = True
    await session.flush()
    await subscriptions._emit(session, subject.scope, subscription, WebhookEventType.subscription_updated)
    return subscription


async def resume(session: AsyncSession, subject: Subject, subscription_id: uuid.UUID) -> tuple[Subscription, Order | None]:
    """Take a scheduled pause back, or start a paused subscription again (see the module's
    docstring); returns the subscription and the new period's order (None when only a scheduled
    pause was taken back). Emits `subscription.resumed` and `subscription.updated`; on a
    subscription neither paused nor to be paused, nothing happens."""
    scope = subject.scope
    subscription = await subscriptions._locked(session, subject, subscription_id)
    if subscription.status != SubscriptionStatus.paused.value:
        if subscription.pause_at_period_end:
            subscription.pause_at_period_end = False
            await session.flush()
            await subscriptions._emit(session, scope, subscription, WebhookEventType.subscription_resumed, WebhookEventType.subscription_updated)
        return subscription, None

    customer = (await repository.customers_by_id(session, scope, [subscription.customer_id])).get(subscription.customer_id)
    discount = await _discount(session, scope, subscription)
    if discount is not None and discount.duration == DiscountDuration.once.value and subscription.period_number >= 0:
        discount = None  # its one period was paid before the pause
    rate = await _rate(session, scope, customer)
    # A new first period from now: `_cycle` moves period -1 of the new anchor to period 0.
    subscription.anchor_at = clock.now()
    subscription.period_number = -1
    subscription.status = SubscriptionStatus.active.value
    subscription.paused_at = None
    pending = await repository.pending_entries(session, scope, [subscription.id], for_update=True)
    billed = proration.bill_pending(pending, subscription.amount)
    draft, entry, _types = subscriptions._cycle(subscription, customer, discount, rate, billed.lines)
    await session.flush()
    [order] = await orders.create_orders(session, scope, [draft])
    entry.order_id = order.id
    for pending_entry in billed.billed:
        pending_entry.order_id = order.id
    session.add_all([entry, *billed.carried])
    await session.flush()
    await subscriptions._settle_new(session, scope, [order])
    await subscriptions._emit(session, scope, subscription, WebhookEventType.subscription_resumed, WebhookEventType.subscription_updated)
    return subscription, order


async def _discount(session: AsyncSession, scope: TenantScope, subscription: Subscription) -> Discount | None:
    if subscription.discount_id is None:
        return None
    [discount] = await discounts.load_discounts(session, scope, [subscription.discount_id])
    return discount


async def _rate(session: AsyncSession, scope: TenantScope, customer: Customer | None) -> int:
    place = subscriptions._place(customer)
    return (await tax_rates_for(session, scope, {place}))[place]


# -- product and seat changes ----------------------------------------------------------------


def _refuse(reason: ChangeNotAllowedReason, message: str) -> SubscriptionChangeNotAllowed:
    return SubscriptionChangeNotAllowed(reason, message)


def _check_changeable(subscription: Subscription) -> None:
    if subscription.status in ENDED or subscription.ended_at is not None or subscription.status in (
        SubscriptionStatus.paused.value,
        SubscriptionStatus.incomplete.value,
    ):
        raise SubscriptionNotChangeable(SubscriptionStatus(subscription.status))


async def _target(session: AsyncSession, scope: TenantScope, subscription: Subscription, request: ChangeRequest) -> tuple[Product, ProductPrice, int | None]:
    """The product, base price and seats the subscription would have: refused with a reason
    (`SubscriptionChangeNotAllowed`), a field error, or `SeatsBelowHeld`."""
    if request.seats is not None and (isinstance(request.seats, bool) or not 1 <= request.seats <= MAX_SEATS):
        raise ValidationFailed([FieldIssue(("seats",), f"must be an integer from 1 to {MAX_SEATS}", "out_of_range")])
    product_id = request.product_id or subscription.product_id
    product = await catalog.get(session, scope, product_id)
    if product is None:
        raise ValidationFailed([FieldIssue(("productId",), "no such product", "not_found")])
    if product_id == subscription.product_id:
        price = await catalog.get_price(session, scope, subscription.product_price_id)
        assert price is not None
    else:
        if product.archived_at is not None:
            raise _refuse(ChangeNotAllowedReason.archived, "The product is archived")
        if product.recurring_interval is None:
            raise _refuse(ChangeNotAllowedReason.not_recurring, "The product is not a subscription")
        if product.recurring_interval != subscription.recurring_interval:
            raise _refuse(ChangeNotAllowedReason.other_interval, f"The product renews each {product.recurring_interval}, the subscription each {subscription.recurring_interval}")
        prices = [p for p in await catalog.list_prices_for_products(session, scope, [product.id], active_only=True) if p.type in BASE_PRICE_TYPES]
        if not prices:
            raise _refuse(ChangeNotAllowedReason.no_base_price, "The product has no active base price")
        in_currency = [p for p in prices if p.currency == subscription.currency]
        if not in_currency:
            raise _refuse(ChangeNotAllowedReason.other_currency, f"The product has no active base price in {subscription.currency}")
        price = in_currency[0]
        if price.type == PriceType.custom.value:
            raise _refuse(ChangeNotAllowedReason.custom_price, "A pay-what-you-want price is chosen at checkout: it cannot be changed to")
    per_seat = price.type == PriceType.seat_unit.value
    if not per_seat and request.seats is not None:
        raise _refuse(ChangeNotAllowedReason.not_seat_priced, "Only a per-seat price takes seats")
    new_seats = (request.seats or subscription.seats) if per_seat else None
    if per_seat and new_seats is None:
        raise ValidationFailed([FieldIssue(("seats",), "is required for a per-seat price", "required")])
    if per_seat and seat_price(price, new_seats) is None:  # type: ignore[arg-type]
        raise ValidationFailed([FieldIssue(("seats",), "no seat tier of this price holds that many seats", "out_of_range")])
    if price.id == subscription.product_price_id and new_seats == subscription.seats:
        raise _refuse(ChangeNotAllowedReason.same_as_current, "The subscription has this product and these seats already")
    if subscription.seats is not None and new_seats != subscription.seats:
        await seats.check_seat_count(session, scope, subscription, new_seats or 0)
    return product, price, new_seats


def period_amount(price: ProductPrice, seats: int | None) -> int:
    """One period of `price` (times the seats, at the volume tier holding them), as checkout has it."""
    if price.type == PriceType.fixed.value:
        return int(price.amount or 0)
    if price.type == PriceType.seat_unit.value:
        return (seat_price(price, seats or 1) or 0) * (seats or 1)
    return 0


async def plan_change(session: AsyncSession, scope: TenantScope, subscription: Subscription, request: ChangeRequest, at: datetime) -> ChangePlan:
    """Everything the change does at `at` (inside the current period), written nowhere: what the
    preview shows and what `update` writes."""
    _check_changeable(subscription)
    start, end = subscription.current_period_start, subscription.current_period_end
    if not start <= at < end:
        raise ValidationFailed([FieldIssue(("at",), "must be within the subscription's current period", "out_of_range")])
    product, price, new_seats = await _target(session, scope, subscription, request)
    new_amount = period_amount(price, new_seats)
    entries: list[PlannedEntry] = []
    moves_money = request.behavior != ProrationBehavior.next_period and subscription.status != SubscriptionStatus.trialing.value
    if moves_money and price.id != subscription.product_price_id:
        old_product = await catalog.get(session, scope, subscription.product_id)
        entries = proration.product_change(
            at=at, start=start, end=end,
            old_amount=subscription.amount, old_price_id=subscription.product_price_id, old_name=_name(old_product, subscription.seats),
            new_amount=new_amount, new_price_id=price.id, new_name=_name(product, new_seats),
        )
    elif moves_money:
        entries = proration.seat_change(
            at=at, start=start, end=end, old_amount=subscription.amount, old_seats=subscription.seats or 1,
            new_amount=new_amount, new_seats=new_seats or 1, price_id=price.id,
        )
    net = sum(e.signed for e in entries)
    currency = subscription.currency
    plan = ChangePlan(
        subscription=subscription, at=at, behavior=request.behavior, product=product, price=price, seats=new_seats, new_amount=new_amount,
        entries=entries, amounts=OrderAmounts(currency=currency, subtotal=net, discount=0, tax=0), due_now=0, added_to_next_order=net,
        lines=[e.line() for e in entries],
    )
    if request.behavior == ProrationBehavior.invoice and net > 0:
        customer = (await repository.customers_by_id(session, scope, [subscription.customer_id])).get(subscription.customer_id)
        plan.draft = subscriptions._order_draft(
            subscription, customer, await _discount(session, scope, subscription), await _rate(session, scope, customer),
            subscription.period_number, start, plan.lines, billing_reason=BillingReason.subscription_update,
        )
        plan.amounts = plan.draft.amounts
        plan.due_now = plan.amounts.due
        plan.added_to_next_order = 0
    return plan


def _name(product: Product | None, seats: int | None) -> str:
    name = product.name if product is not None else "the previous product"
    return f"{name} ({seats} seats)" if seats else name


async def preview_update(session: AsyncSession, subject: Subject, subscription_id: uuid.UUID, request: ChangeRequest, at: datetime | None = None) -> ChangePlan:
    """What `update` would do at `at` (default: now). Writes nothing."""
    subscription = await subscriptions.get_subscription(session, subject, subscription_id)
    return await plan_change(session, subject.scope, subscription, request, at or clock.now())


async def update(session: AsyncSession, subject: Subject, subscription_id: uuid.UUID, request: ChangeRequest) -> tuple[Subscription, Order | None, ChangePlan]:
    """Change the subscription's product and/or seats now, as `plan_change` computes it, under
    its row lock (a concurrent change waits and then sees this one). Emits
    `subscription.updated` (and the order's events, for `invoice`)."""
    scope = subject.scope
    subscription = await repository.get(session, scope, subscription_id, for_update=True)
    if subscription is None:
        raise NotFound("Subscription not found")
    now = clock.now()
    _check_changeable(subscription)
    if now >= subscription.current_period_end:
        raise _refuse(ChangeNotAllowedReason.renewal_due, "The subscription's period has ended and its renewal is due; change it after the renewal")
    plan = await plan_change(session, scope, subscription, request, now)
    rows = [
        BillingEntry(
            id=uuid.uuid4(), organization_id=scope.organization_id, subscription_id=subscription.id, product_price_id=e.product_price_id,
            type=e.type.value, direction=e.direction, amount=e.amount, currency=subscription.currency, start_at=e.start_at, end_at=e.end_at,
        )
        for e in plan.entries
    ]
    subscription.product_id = plan.product.id
    subscription.product_price_id = plan.price.id
    subscription.amount = plan.new_amount
    subscription.seats = plan.seats
    session.add_all(rows)
    await session.flush()
    await subscriptions._emit(session, scope, subscription, WebhookEventType.subscription_updated)
    order = None
    if plan.draft is not None:  # for the new product
        [order] = await orders.create_orders(session, scope, [dataclasses.replace(plan.draft, product_id=plan.product.id)])
        for row in rows:
            row.order_id = order.id
        await session.flush()
        await subscriptions._settle_new(session, scope, [order])
    return subscription, order, plan
