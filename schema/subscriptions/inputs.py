"""Inputs of the subscription queries and mutations."""

from __future__ import annotations

import enum
from datetime import datetime

import strawberry

from app.kit.errors import FieldIssue, NotFound, ValidationFailed
from app.kit.ids import parse_global_id
from app.subscriptions.changes import ChangeRequest
from app.subscriptions.changes import ProrationBehavior as ProrationBehaviorData
from app.subscriptions.repository import SubscriptionFilter as SubscriptionFilterData
from schema.subscriptions.errors import SubscriptionStatus


@strawberry.input(description="Which subscriptions to list; every condition given must hold.")
class SubscriptionFilter:
    status: SubscriptionStatus | None = strawberry.field(default=None, description="Only subscriptions in this status.")
    product_id: strawberry.ID | None = strawberry.field(default=None, description="Only subscriptions of this product.")
    customer_id: strawberry.ID | None = strawberry.field(default=None, description="Only this customer's subscriptions.")
    renewing_before: datetime | None = strawberry.field(
        default=None,
        description="Only subscriptions that will renew before this moment: trialing or active, not canceled at the period's end, "
        "their current period ending before it.",
    )

    def to_data(self) -> SubscriptionFilterData:
        return SubscriptionFilterData(
            status=self.status.value if self.status else None,
            product_id=parse_global_id(self.product_id, "Product") if self.product_id else None,
            customer_id=parse_global_id(self.customer_id, "Customer") if self.customer_id else None,
            renewing_before=self.renewing_before,
        )


@strawberry.input(description="Cancel a subscription at the end of its current period.")
class CancelSubscriptionInput:
    id: strawberry.ID = strawberry.field(description="The subscription's id.")


@strawberry.input(description="Take back a cancellation at the end of the period.")
class UncancelSubscriptionInput:
    id: strawberry.ID = strawberry.field(description="The subscription's id.")


@strawberry.input(description="End a subscription now.")
class RevokeSubscriptionInput:
    id: strawberry.ID = strawberry.field(description="The subscription's id.")


@strawberry.input(description="The payment method a subscription's renewals are charged with from now on.")
class UpdateSubscriptionPaymentMethodInput:
    id: strawberry.ID = strawberry.field(description="The subscription's id.")
    payment_method: str = strawberry.field(description="A Stripe payment method id (`pm_...`), from Stripe.js in the customer's browser.")


@strawberry.input(description="Give a seat of a per-seat subscription to a member of its customer, or offer it by email. Give one of `memberId` and `email`.")
class AssignSeatInput:
    subscription_id: strawberry.ID = strawberry.field(description="The subscription.")
    member_id: strawberry.ID | None = strawberry.field(default=None, description="A member of the subscription's customer: the seat is theirs at once.")
    email: str | None = strawberry.field(default=None, description="Whom to invite: the seat is pending until claimed with the claim token.")


@strawberry.input(description="Take the seat an invitation offers.")
class ClaimSeatInput:
    token: str = strawberry.field(description="The claim token `assignSeat` returned (`kassa_seat_...`).")
    name: str | None = strawberry.field(default=None, description="The new member's name, when the invited email is not a member yet.")


@strawberry.input(description="Which seat to take back.")
class RevokeSeatInput:
    id: strawberry.ID = strawberry.field(description="The seat's id.")


@strawberry.input(description="Pause a subscription at the end of its current period.")
class PauseSubscriptionInput:
    id: strawberry.ID = strawberry.field(description="The subscription's id.")


@strawberry.input(description="Take back a pause at the period's end, or start a paused subscription again (it is charged a new period).")
class ResumeSubscriptionInput:
    id: strawberry.ID = strawberry.field(description="The subscription's id.")
    idempotency_key: str = strawberry.field(
        description="Your idempotency key (1 to 255 printable characters), required because resuming charges a period: a retry with the same key "
        "and input replays the first answer instead of charging again; with a different input it is `IDEMPOTENCY_KEY_REUSED`."
    )


@strawberry.enum(description="How a product or seat change bills the rest of the current period.")
class SubscriptionProrationBehavior(enum.Enum):
    PRORATE = strawberry.enum_value(
        "prorate", description="Per-second proration entries (credit for the old, debit for the new) billed by the next order (the renewal)."
    )
    INVOICE = strawberry.enum_value(
        "invoice", description="The same entries billed by an order now, charged off-session; if they net to a credit, it waits for the next order."
    )
    NEXT_PERIOD = strawberry.enum_value("next_period", description="No proration: the new price applies now and the next renewal bills it.")


def _change(id: str, product_id: str | None, seats: int | None, behavior: "SubscriptionProrationBehavior") -> tuple:
    """The subscription's id and the change asked for; a product id that is not one is a field error."""
    subscription_id = parse_global_id(id, "Subscription")
    product = None
    if product_id is not None:
        try:
            product = parse_global_id(product_id, "Product")
        except NotFound:
            raise ValidationFailed([FieldIssue(("productId",), "is not a product id", "not_found")]) from None
    return subscription_id, ChangeRequest(behavior=ProrationBehaviorData(behavior.value), product_id=product, seats=seats)


@strawberry.input(description="Change a subscription's product and/or seats now. Give `productId`, `seats` or both.")
class UpdateSubscriptionInput:
    id: strawberry.ID = strawberry.field(description="The subscription's id.")
    product_id: strawberry.ID | None = strawberry.field(
        default=None, description="The new product: recurring at the same interval, with an active fixed, free or per-seat price in the subscription's currency."
    )
    seats: int | None = strawberry.field(default=None, description="The new number of seats (per-seat prices only), 1 to 10000, not below the seats held.")
    proration_behavior: SubscriptionProrationBehavior = strawberry.field(description="How the rest of the current period is billed.")
    idempotency_key: str = strawberry.field(
        description="Your idempotency key (1 to 255 printable characters), required because a change can move money: a retry with the same key "
        "and input replays the first answer instead of changing again; with a different input it is `IDEMPOTENCY_KEY_REUSED`."
    )

    def to_change(self) -> tuple:
        return _change(self.id, self.product_id, self.seats, self.proration_behavior)


@strawberry.input(description="A product and/or seat change to preview at a moment of the current period.")
class PreviewSubscriptionUpdateInput:
    id: strawberry.ID = strawberry.field(description="The subscription's id.")
    product_id: strawberry.ID | None = strawberry.field(default=None, description="The new product, as for `updateSubscription`.")
    seats: int | None = strawberry.field(default=None, description="The new number of seats, as for `updateSubscription`.")
    proration_behavior: SubscriptionProrationBehavior = strawberry.field(description="How the rest of the current period would be billed.")
    at: datetime | None = strawberry.field(default=None, description="The moment of the change, within the current period; now by default.")

    def to_change(self) -> tuple:
        return _change(self.id, self.product_id, self.seats, self.proration_behavior)
