"""`node(id:)` for this package's types (found by schema/kit/nodes.py)."""

from __future__ import annotations

import uuid
from typing import Any

import strawberry

from schema.kit.loaders import loader
from schema.kit.nodes import register_node


@register_node("Subscription")
async def _subscription(info: strawberry.Info, id: uuid.UUID) -> Any:
    from schema.subscriptions.loaders import subscription_by_id
    from schema.subscriptions.types import Subscription

    row = await loader(info, subscription_by_id).load(id)
    return Subscription.from_model(row) if row is not None else None


@register_node("CustomerSeat")
async def _seat(info: strawberry.Info, id: uuid.UUID) -> Any:
    from schema.subscriptions.loaders import seat_by_id
    from schema.subscriptions.types import CustomerSeat

    row = await loader(info, seat_by_id).load(id)
    return CustomerSeat.from_model(row) if row is not None else None
