"""`node(id:)` for this package's types (found by schema/kit/nodes.py)."""

from __future__ import annotations

import uuid
from typing import Any

import strawberry

from schema.kit.loaders import loader
from schema.kit.nodes import register_node


@register_node("Customer")
async def _customer(info: strawberry.Info, id: uuid.UUID) -> Any:
    from schema.customers.loaders import customer_by_id
    from schema.customers.types import customer_from_model

    row = await loader(info, customer_by_id).load(id)
    return customer_from_model(row) if row is not None else None
