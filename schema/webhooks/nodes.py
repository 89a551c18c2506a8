"""`node(id:)` for this package's types (found by schema/kit/nodes.py)."""

from __future__ import annotations

import uuid
from typing import Any

import strawberry

from schema.kit.errors import run_query
from schema.kit.loaders import loader
from schema.kit.nodes import register_node


@register_node("WebhookEndpoint")
async def _webhook_endpoint(info: strawberry.Info, id: uuid.UUID) -> Any:
    from schema.webhooks.loaders import webhook_endpoint_by_id
    from schema.webhooks.types import WebhookEndpoint

    row = await loader(info, webhook_endpoint_by_id).load(id)
    return WebhookEndpoint.from_model(row) if row is not None and row.deleted_at is None else None


@register_node("WebhookEvent")
async def _webhook_event(info: strawberry.Info, id: uuid.UUID) -> Any:
    from app.webhooks import service
    from schema.webhooks.types import WebhookEvent

    row = await run_query(info, lambda session, subject: service.get_event(session, subject, id), null_if_not_found=True)
    return WebhookEvent.from_model(row) if row is not None else None
