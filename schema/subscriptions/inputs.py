"""Inputs of the subscription queries and mutations."""

from __future__ import annotations

from datetime import datetime

import strawberry

from app.kit.ids import parse_global_id
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
