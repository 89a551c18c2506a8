"""`node(id:)` for this package's types (found by schema/kit/nodes.py)."""

from __future__ import annotations

import uuid
from typing import Any

import strawberry

from schema.kit.loaders import loader
from schema.kit.nodes import register_node


@register_node("Product")
async def _product(info: strawberry.Info, id: uuid.UUID) -> Any:
    from schema.catalog.loaders import product_by_id
    from schema.catalog.types import Product

    row = await loader(info, product_by_id).load(id)
    return Product.from_model(row) if row is not None else None


@register_node("ProductPrice")
async def _product_price(info: strawberry.Info, id: uuid.UUID) -> Any:
    from schema.catalog.loaders import price_by_id
    from schema.catalog.types import price_from_model

    row = await loader(info, price_by_id).load(id)
    return price_from_model(row) if row is not None else None
