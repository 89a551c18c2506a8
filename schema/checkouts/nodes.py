"""`node(id:)` for this package's types (found by schema/kit/nodes.py)."""

from __future__ import annotations

import uuid
from typing import Any

import strawberry

from schema.kit.loaders import loader
from schema.kit.nodes import register_node


@register_node("Checkout")
async def _checkout(info: strawberry.Info, id: uuid.UUID) -> Any:
    from schema.checkouts.loaders import checkout_by_id
    from schema.checkouts.types import Checkout

    row = await loader(info, checkout_by_id).load(id)
    subject = info.context.subject
    if row is None or (subject is not None and subject.checkout_id is not None and row.id != subject.checkout_id):
        return None
    return Checkout.from_model(row)
