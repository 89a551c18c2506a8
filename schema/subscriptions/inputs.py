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
