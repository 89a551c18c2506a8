"""Typed errors of subscriptions."""

from __future__ import annotations

from app.kit.errors import KassaError


class SubscriptionNotChangeable(KassaError):
    """The subscription cannot change this way in its state (it has ended); nothing changed."""

    code = "SUBSCRIPTION_NOT_CHANGEABLE"
