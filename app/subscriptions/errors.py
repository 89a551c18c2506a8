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
