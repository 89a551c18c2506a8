"""Subscription errors and their GraphQL form."""

from __future__ import annotations

import enum

import strawberry

from app.subscriptions.errors import ChangeNotAllowedReason, SeatLimitReached, SeatsBelowHeld, SubscriptionChangeNotAllowed, SubscriptionNotChangeable
from schema.kit.errors import Error, register_error


@strawberry.enum(description="Where a subscription stands.")
class SubscriptionStatus(enum.Enum):
    INCOMPLETE = strawberry.enum_value("incomplete", description="Created, its first payment not made yet.")
    TRIALING = strawberry.enum_value("trialing", description="In its free trial; the first period is charged when the trial ends.")
    ACTIVE = strawberry.enum_value("active", description="Paid and renewing each period.")
    PAST_DUE = strawberry.enum_value("past_due", description="A renewal's payment failed (or there was no payment method); still usable while it is retried.")
    CANCELED = strawberry.enum_value("canceled", description="Ended: revoked, or canceled and its last period over. It never renews again.")
    UNPAID = strawberry.enum_value("unpaid", description="Ended because its renewal was never paid; kept for the record.")
    PAUSED = strawberry.enum_value(
        "paused", description="Paused at the end of a period (`pauseSubscription`): not usable and not billed until `resumeSubscription` starts a new period."
    )


@strawberry.type(
    description="The subscription cannot change this way in its status: it has ended (canceled or unpaid), or it is paused, past due or "
    "incomplete for a change that needs it running; `status` says which. Nothing was changed."
)
class SubscriptionNotChangeableError(Error):
    status: SubscriptionStatus = strawberry.field(description="The subscription's status.")


register_error(
    SubscriptionNotChangeable,
    "The subscription cannot change this way in its status (ended, or paused, past due or incomplete for a change that needs it running).",
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
@strawberry.type(description="The seat count asked for is below the seats given or offered now; nothing was changed (revoke some seats first).")
class SeatsBelowHeldError(Error):
    requested_seats: int = strawberry.field(description="The seat count asked for.")
    seats_held: int = strawberry.field(description="The seats given or offered now (pending or claimed).")


register_error(
    SeatsBelowHeld,
    "A seat count below the seats given or offered now; revoke some first.",
    SeatsBelowHeldError,
    lambda e: SeatsBelowHeldError(message=e.message, code=e.code, requested_seats=e.seats, seats_held=e.held),
)


@strawberry.enum(description="Why a product or seat change of a subscription is refused.")
class SubscriptionChangeNotAllowedReason(enum.Enum):
    SAME_AS_CURRENT = strawberry.enum_value(ChangeNotAllowedReason.same_as_current.value, description="The subscription has this product and these seats already.")
    ARCHIVED = strawberry.enum_value(ChangeNotAllowedReason.archived.value, description="The product is archived.")
    NOT_RECURRING = strawberry.enum_value(ChangeNotAllowedReason.not_recurring.value, description="The product is one-time, not a subscription.")
    OTHER_INTERVAL = strawberry.enum_value(ChangeNotAllowedReason.other_interval.value, description="The product renews at another interval (month or year).")
    OTHER_CURRENCY = strawberry.enum_value(ChangeNotAllowedReason.other_currency.value, description="The product has no active base price in the subscription's currency.")
    NO_BASE_PRICE = strawberry.enum_value(ChangeNotAllowedReason.no_base_price.value, description="The product has no active fixed, free or per-seat price.")
    CUSTOM_PRICE = strawberry.enum_value(
        ChangeNotAllowedReason.custom_price.value, description="The product's price is pay-what-you-want: its amount is chosen at checkout, not by a change."
    )
    NOT_SEAT_PRICED = strawberry.enum_value(ChangeNotAllowedReason.not_seat_priced.value, description="Seats were given for a price that is not per seat.")
    RENEWAL_DUE = strawberry.enum_value(
        ChangeNotAllowedReason.renewal_due.value, description="The current period has ended and its renewal is due (within a minute): change it after the renewal."
    )


@strawberry.type(description="The product or seat change is not possible; `reason` says why. Nothing was changed.")
class SubscriptionChangeNotAllowedError(Error):
    reason: SubscriptionChangeNotAllowedReason = strawberry.field(description="Why.")


register_error(
    SubscriptionChangeNotAllowed,
    "The product or seat change of a subscription is not possible (see its `reason`).",
    SubscriptionChangeNotAllowedError,
    lambda e: SubscriptionChangeNotAllowedError(message=e.message, code=e.code, reason=SubscriptionChangeNotAllowedReason(e.reason.value)),
)
