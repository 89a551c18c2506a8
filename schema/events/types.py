"""GraphQL types of usage events."""

from __future__ import annotations

import enum
from datetime import datetime

import strawberry
from strawberry.scalars import JSON

from app.kit.ids import to_global_id
from app.models import Event as EventModel
from schema.kit.relay import Connection, Node


@strawberry.enum(description="Who wrote an event.")
class EventSource(enum.Enum):
    USER = strawberry.enum_value("user", description="Sent by the merchant's app.")
    SYSTEM = strawberry.enum_value("system", description="Written by Kassa: meter credits and period resets.")


@strawberry.type(description="A usage event: append-only, deduplicated by its external id.")
class Event(Node):
    model: strawberry.Private[EventModel]
    name: str = strawberry.field(description="What happened, e.g. `api_call`.")
    timestamp: datetime = strawberry.field(description="When it happened.")
    source: EventSource = strawberry.field(description="The merchant's app or Kassa.")
    external_id: str | None = strawberry.field(description="The merchant's idempotency key.")
    external_customer_id: str | None = strawberry.field(description="The customer's external id, as sent.")
    external_member_id: str | None = strawberry.field(description="The member's external id, as sent.")
    metadata: JSON = strawberry.field(description="The event's properties.")
    ingested_at: datetime = strawberry.field(description="When Kassa stored it.")

    @strawberry.field(description="The customer's id; null while the event waits for a customer with its external id.")
    def customer_id(self) -> strawberry.ID | None:
        return strawberry.ID(to_global_id("Customer", self.model.customer_id)) if self.model.customer_id else None

    @strawberry.field(description="The member who used it, when given by id.")
    def member_id(self) -> strawberry.ID | None:
        return strawberry.ID(to_global_id("Member", self.model.member_id)) if self.model.member_id else None

    @classmethod
    def from_model(cls, row: EventModel) -> "Event":
        return cls(
            model=row,
            id=strawberry.ID(to_global_id("Event", row.id)),
            name=row.name,
            timestamp=row.timestamp,
            source=EventSource(row.source),
            external_id=row.external_id,
            external_customer_id=row.external_customer_id,
            external_member_id=row.external_member_id,
            metadata=row.user_metadata,
            ingested_at=row.created_at,
        )


EventConnection = Connection[Event]
