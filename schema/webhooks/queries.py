"""Queries about webhooks."""

from __future__ import annotations

from typing import Annotated

import strawberry

from app.webhooks import service
from app.webhooks import scopes as webhooks_scopes
from schema.kit.errors import run_query
from schema.kit.relay import Connection
from schema.kit.scopes import scoped_field
from schema.webhooks.types import (
    WebhookEndpoint,
    WebhookEndpointConnection,
    WebhookEvent,
    WebhookEventConnection,
    WebhookEventType,
)


@strawberry.type
class WebhookQueries:
    @scoped_field(webhooks_scopes.READ, "The organization's webhook endpoints, oldest first.")
    async def webhook_endpoints(
        self,
        info: strawberry.Info,
        first: Annotated[int, strawberry.argument(description="Page size, 1 to 100.")] = 50,
        after: Annotated[str | None, strawberry.argument(description="The `endCursor` of the previous page.")] = None,
    ) -> WebhookEndpointConnection:
        max_page_size = info.context.settings.page_size_max
        page = await run_query(
            info,
            lambda session, subject: service.list_endpoints(session, subject, first=first, after=after, max_page_size=max_page_size),
        )
        return Connection.from_page(page, WebhookEndpoint.from_model)

    @scoped_field(webhooks_scopes.READ, "Webhook events, newest first, with their deliveries and attempts.")
    async def webhook_events(
        self,
        info: strawberry.Info,
        first: Annotated[int, strawberry.argument(description="Page size, 1 to 100.")] = 50,
        after: Annotated[str | None, strawberry.argument(description="The `endCursor` of the previous page.")] = None,
        type: Annotated[WebhookEventType | None, strawberry.argument(description="Only events of this type.")] = None,
    ) -> WebhookEventConnection:
        max_page_size = info.context.settings.page_size_max
        page = await run_query(
            info,
            lambda session, subject: service.list_events(
                session, subject, type=type.value if type else None, first=first, after=after, max_page_size=max_page_size
            ),
        )
        return Connection.from_page(page, WebhookEvent.from_model)
