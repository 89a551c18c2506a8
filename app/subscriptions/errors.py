"""Typed errors of subscriptions."""

from __future__ import annotations

from app.kit.errors import KassaError
from app.models.subscription import SubscriptionStatus


class SubscriptionNotChangeable(KassaError):
    """The subscription cannot change this way in its state (it has ended: canceled or unpaid);
    `status` says which. Nothing changed."""

    code = "SUBSCRIPTION_NOT_CHANGEABLE"

    def __init__(self, status: SubscriptionStatus) -> None:
        super().__init__(f"The subscription is {status.value}: it has ended")
        self.status = status


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
