"""`node(id:)` for this package's types (found by schema/kit/nodes.py)."""

from __future__ import annotations

import uuid
from typing import Any

import strawberry

from schema.kit.loaders import loader
from schema.kit.nodes import register_node


@register_node("Order")
async def _order(info: strawberry.Info, id: uuid.UUID) -> Any:
    from schema.orders.loaders import order_by_id
    from schema.orders.types import Order

    row = await loader(info, order_by_id).load(id)
    return Order.from_model(row) if row is not None else None


@register_node("Refund")
async def _refund(info: strawberry.Info, id: uuid.UUID) -> Any:
    from schema.orders.loaders import refund_by_id
    from schema.orders.types import Refund

    row = await loader(info, refund_by_id).load(id)
    return Refund.from_model(row) if row is not None else None


@register_node("Transaction")
async def _transaction(info: strawberry.Info, id: uuid.UUID) -> Any:
    from schema.orders.loaders import transaction_by_id
    from schema.orders.types import Transaction

    row = await loader(info, transaction_by_id).load(id)
    return Transaction.from_model(row) if row is not None else None
