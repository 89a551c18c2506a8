"""Dataloaders of subscriptions (see schema.kit.loaders)."""

from __future__ import annotations

from app.subscriptions import seats, service
from schema.kit.loaders import by_id, by_parent

subscription_by_id = by_id(service.load_subscriptions)
# Each subscription's orders and billing entries, oldest first.
orders_of_subscription = by_parent(service.load_orders_of)
entries_of_subscription = by_parent(service.load_entries_of)
# Each customer's subscriptions, newest first (Customer.subscriptions).
subscriptions_of_customer = by_parent(service.load_subscriptions_of_customers)
# Each subscription's seats, oldest first; each member's subscriptions through its seats.
seats_of_subscription = by_parent(seats.load_seats_of)
subscriptions_of_member = by_parent(seats.load_subscriptions_of_members)
seat_by_id = by_id(seats.load_seats)
