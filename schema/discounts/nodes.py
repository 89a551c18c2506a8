"""`node(id:)` for this package's types (found by schema/kit/nodes.py)."""

from __future__ import annotations

import uuid
from typing import Any

import strawberry

from schema.kit.loaders import loader
from schema.kit.nodes import register_node


@register_node("Discount")
async def _discount(info: strawberry.Info, id: uuid.UUID) -> Any:
    from schema.discounts.loaders import discount_by_id
    from schema.discounts.types import Discount

    row = await loader(info, discount_by_id).load(id)
    return Discount.from_model(row) if row is not None else None
