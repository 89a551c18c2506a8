"""`node(id:)` for this package's types (found by schema/kit/nodes.py)."""

from __future__ import annotations

import uuid
from typing import Any

import strawberry

from schema.kit.nodes import register_node


@register_node("Organization")
async def _organization(info: strawberry.Info, id: uuid.UUID) -> Any:
    from app.organizations import service
    from schema.organizations.types import Organization

    if id != info.context.subject.organization_id:
        return None
    row = await info.context.db.run(lambda session: service.get_current(session, info.context.subject))
    return Organization.from_model(row)
