"""Mutation: ingest usage events."""

from __future__ import annotations

from typing import Annotated, Union

import strawberry

from app.auth.scopes import Scope
from app.events import service
from schema.events.inputs import EventBatch, IngestEventsInput
from schema.kit.errors import ValidationError, run_mutation
from schema.kit.scopes import scoped_mutation


@strawberry.type(description="The batch was stored.")
class IngestEventsSuccess:
    inserted: int = strawberry.field(description="Events stored.")
    duplicates: int = strawberry.field(description="Events skipped because their external id was already used.")


IngestEventsResult = Annotated[
    Union[IngestEventsSuccess, ValidationError],
    strawberry.union(
        "IngestEventsResult",
        description="The counts, or every invalid event (paths like `events.3.timestamp`); then nothing was stored.",
    ),
]


@strawberry.type
class EventMutations:
    @scoped_mutation(
        Scope.events_write,
        "Ingest up to 1,000 usage events. Same service as `POST /v1/events/ingest` (Polar-compatible).",
    )
    async def ingest_events(
        self,
        info: strawberry.Info,
        input: Annotated[IngestEventsInput, strawberry.argument(description="The batch.")],
    ) -> IngestEventsResult:
        batch: EventBatch = input  # type: ignore[assignment] - built by IngestEventsInput's from_input
        return await run_mutation(
            info,
            lambda session, subject: service.ingest(session, subject, batch.events),
            lambda result: IngestEventsSuccess(inserted=result.inserted, duplicates=result.duplicates),
        )
