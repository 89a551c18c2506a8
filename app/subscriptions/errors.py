"""Typed errors of subscriptions."""

from __future__ import annotations

import enum

from app.kit.errors import KassaError
from app.models.subscription import SubscriptionStatus

_WHY = {
    SubscriptionStatus.canceled: "it has ended",
    SubscriptionStatus.unpaid: "it has ended",
    SubscriptionStatus.paused: "resume it first",
    SubscriptionStatus.past_due: "its renewal is not paid yet",
    SubscriptionStatus.incomplete: "its first payment is not made yet",
}


class SubscriptionNotChangeable(KassaError):
    """The subscription cannot change this way in its state (it has ended: canceled or unpaid;
    or it is paused, past due or incomplete, for the changes that need it running); `status`
    says which. Nothing changed."""

    code = "SUBSCRIPTION_NOT_CHANGEABLE"

    def __init__(self, status: SubscriptionStatus) -> None:
        super().__init__(f"The subscription is {status.value}: {_WHY.get(status, 'it cannot change this way')}")
        self.status = status


class ChangeNotAllowedReason(str, enum.Enum):
    same_as_current = "same_as_current"  # nothing would change
    archived = "archived"  # the product is archived
    not_recurring = "not_recurring"  # a one-time product
    other_interval = "other_interval"  # billed monthly instead of yearly, or the reverse
    other_currency = "other_currency"  # no base price in the subscription's currency
    no_base_price = "no_base_price"  # no active fixed, free or per-seat price
    custom_price = "custom_price"  # a pay-what-you-want price: its amount is chosen at checkout
    not_seat_priced = "not_seat_priced"  # seats for a price that is not per seat
    renewal_due = "renewal_due"  # the period has ended; its renewal comes within a minute


class SubscriptionChangeNotAllowed(KassaError):
    """The product or seat change asked for is not possible; `reason` says why. Nothing changed."""

    code = "SUBSCRIPTION_CHANGE_NOT_ALLOWED"

    def __init__(self, reason: ChangeNotAllowedReason, message: str) -> None:
        super().__init__(message)
        self.reason = reason


class SeatLimitReached(KassaError):
    """Every seat of the subscription is given or offered; nothing changed (revoke one, or buy more)."""

    code = "SEAT_LIMIT_REACHED"

    def __init__(self, seats: int) -> None:
        super().__init__(f"All {seats} seats of the subscription are given or offered")
        self.seats = seats


class SeatsBelowHeld(KassaError):
    """A seat count below the seats given or offered now; nothing changed (revoke some first)."""

    code = "SEATS_BELOW_HELD"

    def __init__(self, seats: int, held: int) -> None:
        super().__init__(f"{seats} seats are fewer than the {held} given or offered now: revoke some first")
        self.seats = seats
        self.held = held
