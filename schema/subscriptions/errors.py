"""Subscription errors: their codes in `ErrorCode`."""

from __future__ import annotations

from app.subscriptions.errors import SubscriptionNotChangeable
from schema.kit.errors import register_error

register_error(SubscriptionNotChangeable, "The subscription cannot change this way in its state (it has ended).")
