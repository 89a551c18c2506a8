"""`node(id:)` for this package's types (found by schema/kit/nodes.py)."""

from __future__ import annotations

import uuid
from typing import Any

import strawberry

from schema.kit.loaders import loader
from schema.kit.nodes import register_node


@register_node("Meter")
async def _meter(info: strawberry.Info, id: uuid.UUID) -> Any:
    from schema.meters.loaders import meter_by_id
    from schema.meters.types import Meter

    row = await loader(info, meter_by_id).load(id)
    return Meter.from_model(row) if row is not None else None
