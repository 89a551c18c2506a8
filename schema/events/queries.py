"""Query: list usage events."""

from __future__ import annotations

from typing import Annotated

import strawberry

from app.events import service
from app.kit.ids import parse_global_id
from app.events import scopes as events_scopes
from schema.events.inputs import EventFilter
from schema.events.types import Event, EventConnection
from schema.kit.errors import run_query
from schema.kit.relay import Connection
from schema.kit.scopes import scoped_field


@strawberry.type
class EventQueries:
    @scoped_field(events_scopes.READ, "Usage events, newest first.")
    async def events(
        self,
        info: strawberry.Info,
        first: Annotated[int, strawberry.argument(description="Page size, 1 to 100.")] = 50,
        after: Annotated[str | None, strawberry.argument(description="The `endCursor` of the previous page.")] = None,
        filter: Annotated[EventFilter | None, strawberry.argument(description="Which events.")] = None,
    ) -> EventConnection:
        context = info.context
        f = filter or EventFilter()
        page = await run_query(
            info,
            lambda session, subject: service.list_events(
                session,
                subject,
                customer_id=parse_global_id(f.customer_id, "Customer") if f.customer_id else None,
                member_id=parse_global_id(f.member_id, "Member") if f.member_id else None,
                name=f.name,
                source=f.source.value if f.source else None,
                after_time=f.timestamp_after,
                before_time=f.timestamp_before,
                first=first,
                after=after,
                max_page_size=context.settings.page_size_max,
            ),
        )
        return Connection.from_page(page, Event.from_model)
