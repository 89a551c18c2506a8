"""GraphQL inputs of usage events.

`IngestEventsInput` is typed in the schema like any input (graphql-core checks every field's
type), but it is not turned into 1,000 Python input objects: its `from_input` hands the
checked values to the ingestion service as plain dicts, the same shape the REST endpoint
decodes. That conversion alone would otherwise cost about 100 ms per batch.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any, Mapping

import strawberry
from strawberry.scalars import JSON

from schema.events.types import EventSource
from schema.kit.idempotency import idempotency_key_field

_REST_NAMES = {
    "name": "name",
    "timestamp": "timestamp",
    "customerId": "customer_id",
    "externalCustomerId": "external_customer_id",
    "memberId": "member_id",
    "externalMemberId": "external_member_id",
    "externalId": "external_id",
    "metadata": "metadata",
}


GRAPHQL_NAMES = {rest: graphql for graphql, rest in _REST_NAMES.items()}


@strawberry.input(description="One usage event.")
class EventInput:
    name: str = strawberry.field(description="What happened, e.g. `api_call` (names starting with `kassa.` are reserved).")
    timestamp: datetime | None = strawberry.field(default=None, description="When it happened (default: now); at most 5 minutes ahead.")
    customer_id: strawberry.ID | None = strawberry.field(default=None, description="The paying customer's id (or give `externalCustomerId`).")
    external_customer_id: str | None = strawberry.field(
        default=None, description="Or the customer's external id; if no customer has it yet, the event waits for one."
    )
    member_id: strawberry.ID | None = strawberry.field(default=None, description="The member who used it (business customers).")
    external_member_id: str | None = strawberry.field(default=None, description="Or the member's external id.")
    external_id: str | None = strawberry.field(default=None, description="Your idempotency key: a second event with it is a duplicate, counted and not stored.")
    metadata: JSON | None = strawberry.field(default=None, description="Properties meters read: at most 50 keys; strings up to 500 characters, numbers, booleans.")


@dataclass
class EventBatch:
    events: list[dict[str, Any]]


def _batch_from_input(_cls: type, value: Mapping[str, Any], _context: Any) -> EventBatch:
    return EventBatch(events=[{_REST_NAMES[k]: v for k, v in event.items()} for event in value["events"]])


@strawberry.input(description="A batch of at most 1,000 events. If any is invalid, none is stored.")
class IngestEventsInput:
    events: list[EventInput] = strawberry.field(description="The events.")
    idempotency_key: str | None = idempotency_key_field()


IngestEventsInput.__strawberry_definition__.from_input = _batch_from_input


@strawberry.input(description="Which events to list; all given conditions apply.")
class EventFilter:
    customer_id: strawberry.ID | None = strawberry.field(default=None, description="Events of this customer (including those sent by its external id before it existed).")
    member_id: strawberry.ID | None = strawberry.field(default=None, description="Events used by this member.")
    name: str | None = strawberry.field(default=None, description="Events with this name.")
    source: EventSource | None = strawberry.field(default=None, description="Only the merchant's, or only Kassa's.")
    timestamp_after: datetime | None = strawberry.field(default=None, description="At or after this time.")
    timestamp_before: datetime | None = strawberry.field(default=None, description="Before this time.")
