"""`node(id:)` for this package's types (found by schema/kit/nodes.py)."""

from __future__ import annotations

import uuid
from typing import Any

import strawberry

from schema.kit.loaders import loader
from schema.kit.nodes import register_node


@register_node("Member")
async def _member(info: strawberry.Info, id: uuid.UUID) -> Any:
    from schema.members.loaders import member_by_id
    from schema.members.types import Member

    row = await loader(info, member_by_id).load(id)
    return Member.from_model(row) if row is not None else None
