"""Typed errors of checkouts."""

from __future__ import annotations

from app.kit.errors import KassaError
from app.models.checkout import CheckoutStatus


class CheckoutNotOpen(KassaError):
    """The checkout cannot change or be confirmed in its state (succeeded, expired, or its
    payment is being processed); `status` says which. Nothing changed."""

    code = "CHECKOUT_NOT_OPEN"

    def __init__(self, status: CheckoutStatus) -> None:
        super().__init__(
            {
                CheckoutStatus.succeeded: "The checkout has succeeded already",
                CheckoutStatus.expired: "The checkout has expired: create a new one",
                CheckoutStatus.confirmed: "The checkout's payment is being processed; its outcome arrives shortly",
            }.get(status, f"The checkout is {status.value}")
        )
        self.status = status


class CheckoutBusy(KassaError):
    """Another confirmation of this checkout is running now; nothing was done (no second charge)."""

    code = "CHECKOUT_CONFIRMATION_IN_PROGRESS"
