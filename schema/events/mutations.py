"""Mutation: ingest usage events."""

from __future__ import annotations

from dataclasses import replace
from typing import Annotated

import strawberry

from app.events import service
from app.kit.errors import ValidationFailed
from app.events import scopes as events_scopes
from schema.events.inputs import GRAPHQL_NAMES, EventBatch, IngestEventsInput
from schema.kit.errors import ValidationError, mutation_result, run_mutation
from schema.kit.scopes import scoped_mutation


@strawberry.type(description="The batch was stored.")
class IngestEventsSuccess:
    inserted: int = strawberry.field(description="Events stored.")
    duplicates: int = strawberry.field(description="Events skipped because their external id was already used.")


IngestEventsResult = mutation_result(
    "IngestEventsResult",
    "The counts, or every invalid event (paths like `events.3.timestamp`); then nothing was stored.",
    IngestEventsSuccess,
    ValidationError,
)


async def _ingest(session, subject, batch: EventBatch):
    """The service speaks the REST field names; errors here name the GraphQL fields."""
    try:
        return await service.ingest(session, subject, batch.events)
    except ValidationFailed as exc:
        raise ValidationFailed([replace(i, path=tuple(GRAPHQL_NAMES.get(p, p) for p in i.path)) for i in exc.issues]) from None


@strawberry.type
class EventMutations:
    @scoped_mutation(
        events_scopes.WRITE,
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
            lambda session, subject: _ingest(session, subject, batch),
            lambda result: IngestEventsSuccess(inserted=result.inserted, duplicates=result.duplicates),
        )
