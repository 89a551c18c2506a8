"""GraphQL types of subscriptions and their billing entries."""

from __future__ import annotations

import enum
from datetime import datetime
from decimal import Decimal
from typing import Annotated

import strawberry
from strawberry.scalars import JSON

from app.kit.ids import to_global_id
from app.models.subscription import BillingEntry as BillingEntryModel
from app.models.subscription import Subscription as SubscriptionModel
from schema.catalog.types import RecurringInterval
from schema.kit.loaders import loader
from schema.kit.relay import Connection, Node
from schema.kit.scalars import BigInt
from schema.kit.money import Money
from schema.subscriptions.errors import SubscriptionStatus
from schema.subscriptions.inputs import SubscriptionProrationBehavior
from app.subscriptions.changes import ChangePlan
from app.models.seat import CustomerSeat as CustomerSeatModel
from schema.subscriptions.loaders import entries_of_subscription, orders_of_subscription, seats_of_subscription


@strawberry.enum(description="Where a seat stands.")
class SeatStatus(enum.Enum):
    PENDING = strawberry.enum_value("pending", description="Offered by email; taken with its claim token.")
    CLAIMED = strawberry.enum_value("claimed", description="Held by a member.")
    REVOKED = strawberry.enum_value("revoked", description="Taken back; it no longer counts.")


@strawberry.type(description="One seat of a per-seat subscription: held by a member of its customer, or offered by email.")
class CustomerSeat(Node):
    model: strawberry.Private[CustomerSeatModel]
    status: SeatStatus = strawberry.field(description="Where it stands.")
    email: str = strawberry.field(description="Who it is for: the invited email, or the member's.")
    subscription_id: strawberry.ID = strawberry.field(description="The subscription.")
    member_id: strawberry.ID | None = strawberry.field(description="The member holding it; null while pending.")
    invited_at: datetime | None = strawberry.field(description="When it was offered by email.")
    claimed_at: datetime | None = strawberry.field(description="When a member took it.")
    revoked_at: datetime | None = strawberry.field(description="When it was taken back.")

    @classmethod
    def from_model(cls, row: CustomerSeatModel) -> "CustomerSeat":
        return cls(
            model=row,
            id=strawberry.ID(to_global_id("CustomerSeat", row.id)),
            status=SeatStatus(row.status),
            email=row.email,
            subscription_id=strawberry.ID(to_global_id("Subscription", row.subscription_id)),
            member_id=strawberry.ID(to_global_id("Member", row.member_id)) if row.member_id else None,
            invited_at=row.invited_at,
            claimed_at=row.claimed_at,
            revoked_at=row.revoked_at,
        )


@strawberry.enum(description="What a billing entry bills or credits.")
class BillingEntryType(enum.Enum):
    CYCLE = strawberry.enum_value("cycle", description="One period of the subscription's price.")
    PRORATION = strawberry.enum_value("proration", description="The unused or added part of a period after a change of plan.")
    METERED = strawberry.enum_value("metered", description="Usage of a metered price over the period.")
    SEATS_INCREASE = strawberry.enum_value("seats_increase", description="Seats added during a period, for the rest of it.")
    SEATS_DECREASE = strawberry.enum_value("seats_decrease", description="Seats removed during a period, for the rest of it.")


@strawberry.enum(description="Whether a billing entry is owed by the customer or given back.")
class BillingEntryDirection(enum.Enum):
    DEBIT = strawberry.enum_value("debit", description="The customer owes it.")
    CREDIT = strawberry.enum_value("credit", description="The customer is credited it.")


def _gid(type_name: str, value) -> strawberry.ID | None:
    return strawberry.ID(to_global_id(type_name, value)) if value is not None else None


@strawberry.type(
    description="One thing a subscription is billed (`DEBIT`) or credited (`CREDIT`) for, over a span of time, and the order that billed it. "
    "Append-only: a correction is a new entry."
)
class BillingEntry:
    id: strawberry.ID = strawberry.field(description="The entry's id.")
    type: BillingEntryType = strawberry.field(description="What it bills.")
    direction: BillingEntryDirection = strawberry.field(description="Owed or credited.")
    amount: BigInt = strawberry.field(description="The amount, in minor units of `currency` (never negative: `direction` gives the sign), before discount and tax.")
    currency: str = strawberry.field(description="The currency, lowercase ISO 4217.")
    start_at: datetime = strawberry.field(description="The start of the span it bills.")
    end_at: datetime = strawberry.field(description="The end of the span it bills.")
    order_id: strawberry.ID | None = strawberry.field(description="The order that billed it; null until one did.")
    product_price_id: strawberry.ID | None = strawberry.field(description="The price it bills.")
    meter_id: strawberry.ID | None = strawberry.field(description="METERED: the meter that counted the usage; null for other entries.")
    member_id: strawberry.ID | None = strawberry.field(
        description="METERED, business customers: the member whose usage it bills; null for usage without a member and for other entries."
    )
    quantity: Decimal | None = strawberry.field(
        description="METERED: the units it bills (the period's usage less credits; a member's units; for late usage, the late units); null for other entries."
    )
    created_at: datetime = strawberry.field(description="When it was written.")

    @classmethod
    def from_model(cls, row: BillingEntryModel) -> "BillingEntry":
        return cls(
            id=strawberry.ID(to_global_id("BillingEntry", row.id)),
            type=BillingEntryType(row.type),
            direction=BillingEntryDirection(row.direction),
            amount=BigInt(row.amount),
            currency=row.currency,
            start_at=row.start_at,
            end_at=row.end_at,
            order_id=_gid("Order", row.order_id),
            product_price_id=_gid("ProductPrice", row.product_price_id),
            meter_id=_gid("Meter", row.meter_id),
            member_id=_gid("Member", row.member_id),
            quantity=row.quantity,
            created_at=row.created_at,
        )


@strawberry.type(
    description="A customer's recurring purchase of a product price, billed each period. Periods are anchored to the first "
    "paid period's start (the day of the month comes back after a short month: Jan 31, Feb 28, Mar 31); the workers renew "
    "each subscription once per period, with a billing entry and a renewal order charged off-session."
)
class Subscription(Node):
    model: strawberry.Private[SubscriptionModel]
    status: SubscriptionStatus = strawberry.field(description="Where it stands.")
    customer_id: strawberry.ID = strawberry.field(description="The customer who pays.")
    member_id: strawberry.ID | None = strawberry.field(description="For a business customer: the member who bought it (its owner); null for an individual.")
    product_id: strawberry.ID = strawberry.field(description="The product subscribed to.")
    product_price_id: strawberry.ID = strawberry.field(description="The price billed each period.")
    checkout_id: strawberry.ID | None = strawberry.field(description="The checkout that started it.")
    discount_id: strawberry.ID | None = strawberry.field(description="The discount it was bought with (applied to its orders while the discount's duration lasts).")
    currency: str = strawberry.field(description="The currency, lowercase ISO 4217.")
    amount: BigInt = strawberry.field(description="What one period costs before discount and tax, in minor units (the price, times the seats for a per-seat price).")
    seats: int | None = strawberry.field(description="How many seats, for a per-seat price.")
    recurring_interval: RecurringInterval = strawberry.field(description="How long a period is.")
    current_period_start: datetime = strawberry.field(description="The start of the current period (of the trial, while trialing).")
    current_period_end: datetime = strawberry.field(description="The end of the current period: it renews (or ends, if canceled) then.")
    trial_start: datetime | None = strawberry.field(description="When its free trial started; null without one.")
    trial_end: datetime | None = strawberry.field(description="When its free trial ends (into its first charge); null without one.")
    cancel_at_period_end: bool = strawberry.field(description="Whether it ends at `currentPeriodEnd` instead of renewing (`cancelSubscription`).")
    canceled_at: datetime | None = strawberry.field(description="When it was canceled (at period end, or revoked).")
    ended_at: datetime | None = strawberry.field(description="When it ended; null while it runs.")
    started_at: datetime = strawberry.field(description="When it started (its checkout succeeded).")
    past_due_at: datetime | None = strawberry.field(description="Since when a renewal's payment is missing; null unless `PAST_DUE`.")
    pause_at_period_end: bool = strawberry.field(description="Whether it pauses at `currentPeriodEnd` instead of renewing (`pauseSubscription`).")
    paused_at: datetime | None = strawberry.field(description="Since when it is paused (the end of its last period); null unless `PAUSED`.")
    metadata: JSON = strawberry.field(description="The merchant's key-value data (from the checkout).")
    created_at: datetime = strawberry.field(description="When it was created.")
    modified_at: datetime = strawberry.field(description="When it last changed.")

    @strawberry.field(description="Its orders, oldest first: the checkout's, then one per renewal.")
    async def orders(self, info: strawberry.Info) -> list[Annotated["Order", strawberry.lazy("schema.orders.types")]] | None:
        from schema.orders.types import Order

        return [Order.from_model(row) for row in await loader(info, orders_of_subscription).load(self.model.id)]

    @strawberry.field(description="Its billing entries, oldest first: one `CYCLE` per paid period, and the prorations of its changes.")
    async def billing_entries(self, info: strawberry.Info) -> list[BillingEntry]:
        return [BillingEntry.from_model(row) for row in await loader(info, entries_of_subscription).load(self.model.id)]

    @strawberry.field(description="Its seats (per-seat subscriptions), oldest first, revoked ones included.")
    async def customer_seats(self, info: strawberry.Info) -> list["CustomerSeat"]:
        return [CustomerSeat.from_model(row) for row in await loader(info, seats_of_subscription).load(self.model.id)]

    @strawberry.field(description="The customer who pays.")
    async def customer(self, info: strawberry.Info) -> Annotated["Customer", strawberry.lazy("schema.customers.types")] | None:
        from schema.customers.loaders import customer_by_id
        from schema.customers.types import customer_from_model

        row = await loader(info, customer_by_id).load(self.model.customer_id)
        return customer_from_model(row) if row is not None else None

    @strawberry.field(description="The product subscribed to.")
    async def product(self, info: strawberry.Info) -> Annotated["Product", strawberry.lazy("schema.catalog.types")] | None:
        from schema.catalog.loaders import product_by_id
        from schema.catalog.types import Product

        row = await loader(info, product_by_id).load(self.model.product_id)
        return Product.from_model(row) if row is not None else None

    @classmethod
    def from_model(cls, row: SubscriptionModel) -> "Subscription":
        return cls(
            model=row,
            id=strawberry.ID(to_global_id("Subscription", row.id)),
            status=SubscriptionStatus(row.status),
            customer_id=strawberry.ID(to_global_id("Customer", row.customer_id)),
            member_id=_gid("Member", row.member_id),
            product_id=strawberry.ID(to_global_id("Product", row.product_id)),
            product_price_id=strawberry.ID(to_global_id("ProductPrice", row.product_price_id)),
            checkout_id=_gid("Checkout", row.checkout_id),
            discount_id=_gid("Discount", row.discount_id),
            currency=row.currency,
            amount=BigInt(row.amount),
            seats=row.seats,
            recurring_interval=RecurringInterval(row.recurring_interval),
            current_period_start=row.current_period_start,
            current_period_end=row.current_period_end,
            trial_start=row.trial_start,
            trial_end=row.trial_end,
            cancel_at_period_end=row.cancel_at_period_end,
            canceled_at=row.canceled_at,
            ended_at=row.ended_at,
            started_at=row.started_at,
            past_due_at=row.past_due_at,
            pause_at_period_end=row.pause_at_period_end,
            paused_at=row.paused_at,
            metadata=row.user_metadata,
            created_at=row.created_at,
            modified_at=row.modified_at,
        )


SubscriptionConnection = Connection[Subscription]


@strawberry.type(description="One billing entry a product or seat change writes (or would write): its line on an order, negative for a credit.")
class SubscriptionChangeLine:
    type: BillingEntryType = strawberry.field(description="`PRORATION` for a change of product, `SEATS_INCREASE` or `SEATS_DECREASE` for seats alone.")
    direction: BillingEntryDirection = strawberry.field(description="Owed (`DEBIT`) or credited (`CREDIT`).")
    amount: Money = strawberry.field(description="The entry's amount (never negative; `direction` gives the sign), before discount and tax.")
    start_at: datetime = strawberry.field(description="The moment of the change.")
    end_at: datetime = strawberry.field(description="The end of the current period.")
    label: str = strawberry.field(description="The line's label on the order.")


@strawberry.type(
    description="What a product or seat change does at a moment: the same numbers a preview shows and the change applies. "
    "For `INVOICE` with lines that net to a debit, the amounts are the order's, made now (`dueNow`); otherwise `subtotal` and `total` are "
    "the lines' net (negative for a credit) and `addedToNextOrder` says what the next order's subtotal takes (its discount and tax apply there)."
)
class SubscriptionUpdatePreview:
    at: datetime = strawberry.field(description="The moment of the change.")
    proration_behavior: SubscriptionProrationBehavior = strawberry.field(description="How the rest of the period is billed.")
    product_id: strawberry.ID = strawberry.field(description="The product after the change.")
    product_price_id: strawberry.ID = strawberry.field(description="The price after the change.")
    seats: int | None = strawberry.field(description="The seats after the change (per-seat prices).")
    lines: list[SubscriptionChangeLine] = strawberry.field(description="The billing entries, credit for the old price first; none for `NEXT_PERIOD` or a trial.")
    subtotal: Money = strawberry.field(description="The lines' sum.")
    discount: Money = strawberry.field(description="The discount of the order made now (`INVOICE`); 0 otherwise.")
    tax: Money = strawberry.field(description="The tax of the order made now (`INVOICE`); 0 otherwise.")
    total: Money = strawberry.field(description="subtotal - discount + tax.")
    due_now: Money = strawberry.field(description="What is charged now (`INVOICE` netting a debit); 0 otherwise.")
    added_to_next_order: Money = strawberry.field(description="What the next order's subtotal takes (`PRORATE`, or `INVOICE` netting a credit); 0 otherwise.")
    new_period_amount: Money = strawberry.field(description="One period of the new price (times the seats): what the next renewals bill.")

    @classmethod
    def from_plan(cls, plan: ChangePlan) -> "SubscriptionUpdatePreview":
        currency = plan.currency

        def money(amount: int) -> Money:
            return Money(amount=BigInt(amount), currency=currency)

        amounts = plan.amounts
        return cls(
            at=plan.at,
            proration_behavior=SubscriptionProrationBehavior(plan.behavior.value),
            product_id=strawberry.ID(to_global_id("Product", plan.product.id)),
            product_price_id=strawberry.ID(to_global_id("ProductPrice", plan.price.id)),
            seats=plan.seats,
            lines=[
                SubscriptionChangeLine(
                    type=BillingEntryType(e.type.value), direction=BillingEntryDirection(e.direction), amount=money(e.amount),
                    start_at=e.start_at, end_at=e.end_at, label=e.label,
                )
                for e in plan.entries
            ],
            subtotal=money(amounts.subtotal),
            discount=money(amounts.discount),
            tax=money(amounts.tax),
            total=money(amounts.total),
            due_now=money(plan.due_now),
            added_to_next_order=money(plan.added_to_next_order),
            new_period_amount=money(plan.new_amount),
        )
