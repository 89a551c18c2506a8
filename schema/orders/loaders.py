"""Dataloaders of orders (see schema.kit.loaders)."""

from __future__ import annotations

from app.orders import service
from schema.kit.loaders import by_id, by_parent

ORDERS_PER_CUSTOMER = 10

order_by_id = by_id(service.load_orders)
refund_by_id = by_id(service.load_refunds)
transaction_by_id = by_id(service.load_transactions)
items_of_order = by_parent(service.load_items_of)
refunds_of_order = by_parent(service.load_refunds_of)
transactions_of_order = by_parent(service.load_transactions_of)


async def _latest_orders_of(session, scope, customer_ids):
    return await service.load_orders_of_customers(session, scope, customer_ids, limit=ORDERS_PER_CUSTOMER)


# The newest orders of each customer (Customer.orders).
orders_of_customer = by_parent(_latest_orders_of, "orders_of_customer")
