"""Subscription errors and their GraphQL form."""

from __future__ import annotations

import enum

import strawberry

from app.subscriptions.errors import SeatLimitReached, SeatsBelowHeld, SubscriptionNotChangeable
from schema.kit.errors import Error, register_error


@strawberry.enum(description="Where a subscription stands.")
class SubscriptionStatus(enum.Enum):
    INCOMPLETE = strawberry.enum_value("incomplete", description="Created, its first payment not made yet.")
    TRIALING = strawberry.enum_value("trialing", description="In its free trial; the first period is charged when the trial ends.")
    ACTIVE = strawberry.enum_value("active", description="Paid and renewing each period.")
    PAST_DUE = strawberry.enum_value("past_due", description="A renewal's payment failed (or there was no payment method); still usable while it is retried.")
    CANCELED = strawberry.enum_value("canceled", description="Ended: revoked, or canceled and its last period over. It never renews again.")
    UNPAID = strawberry.enum_value("unpaid", description="Ended because its renewal was never paid; kept for the record.")


@strawberry.type(description="The subscription has ended (canceled or unpaid), so it cannot change any more; `status` says which. Nothing was changed.")
class SubscriptionNotChangeableError(Error):
    status: SubscriptionStatus = strawberry.field(description="The subscription's status.")


register_error(
    SubscriptionNotChangeable,
    "The subscription has ended (canceled or unpaid): it cannot change any more.",
    SubscriptionNotChangeableError,
    lambda e: SubscriptionNotChangeableError(message=e.message, code=e.code, status=SubscriptionStatus(e.status.value)),
)


@strawberry.type(description="Every seat of the subscription is given or offered; nothing was changed (revoke one, or buy more).")
class SeatLimitReachedError(Error):
    seats: int = strawberry.field(description="The subscription's seats.")


register_error(
    SeatLimitReached,
    "Every seat of the subscription is given or offered.",
    SeatLimitReachedError,
    lambda e: SeatLimitReachedError(message=e.message, code=e.code, seats=e.seats),
)
register_error(SeatsBelowHeld, "A seat count below the seats given or offered now; revoke some first.")
