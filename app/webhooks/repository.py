"""All SQL about webhook endpoints, events, deliveries and attempts."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any, Sequence

from sqlalchemy import func, select, text, update
from sqlalchemy.ext.asyncio import AsyncSession

from app.kit.pagination import Page, paginate
from app.kit.repository import owned_by, scoped
from app.kit.tenancy import TenantScope
from app.models import WebhookDelivery, WebhookDeliveryAttempt, WebhookEndpoint, WebhookEvent

# The outbox write: the events (in the order given: their `sequence` follows it) and one pending
# delivery per subscribed, enabled endpoint of each, in one statement whatever their number.
# Returns the endpoints that got a delivery.
_EMIT = text(
    """
    WITH event AS (
        INSERT INTO webhook_events (id, organization_id, type, payload, created_at, modified_at)
        SELECT given.id, :organization_id, given.type, CAST(given.payload AS jsonb), :now, :now
        FROM unnest(CAST(:ids AS uuid[]), CAST(:types AS varchar[]), CAST(:payloads AS text[])) WITH ORDINALITY AS given (id, type, payload, position)
        ORDER BY given.position
        RETURNING id, sequence, organization_id, type
    )
    INSERT INTO webhook_deliveries
        (id, organization_id, event_id, endpoint_id, sequence, status, attempt_count, next_attempt_at, created_at, modified_at)
    SELECT gen_random_uuid(), event.organization_id, event.id, endpoint.id, event.sequence, 'pending', 0, :now, :now, :now
    FROM event
    JOIN webhook_endpoints AS endpoint
      ON endpoint.organization_id = event.organization_id
     AND endpoint.enabled
     AND endpoint.deleted_at IS NULL
     AND event.type = ANY (endpoint.event_types)
    RETURNING endpoint_id
    """
)


async def insert_events_with_deliveries(
    session: AsyncSession, *, scope: TenantScope, events: Sequence[tuple[uuid.UUID, str, str]], now: datetime
) -> set[uuid.UUID]:
    """`events`: (id, type, payload as JSON text) each."""
    result = await session.execute(
        _EMIT,
        {
            "organization_id": scope.organization_id,
            "ids": [event[0] for event in events],
            "types": [event[1] for event in events],
            "payloads": [event[2] for event in events],
            "now": now,
        },
    )
    return {row[0] for row in result}


async def get_endpoint(
    session: AsyncSession, scope: TenantScope, endpoint_id: uuid.UUID, *, for_update: bool = False
) -> WebhookEndpoint | None:
    statement = scoped(select(WebhookEndpoint), WebhookEndpoint, scope).where(WebhookEndpoint.id == endpoint_id)
    if for_update:
        statement = statement.with_for_update()
    return await session.scalar(statement)


async def get_endpoint_for_delivery(session: AsyncSession, scope: TenantScope, endpoint_id: uuid.UUID) -> WebhookEndpoint | None:
    """For the delivery job: by id, deleted endpoints included."""
    return await session.scalar(select(WebhookEndpoint).where(owned_by(WebhookEndpoint, scope), WebhookEndpoint.id == endpoint_id))


async def list_endpoints(session: AsyncSession, scope: TenantScope, *, first: int, after: str | None) -> Page[WebhookEndpoint]:
    return await paginate(
        session,
        scoped(select(WebhookEndpoint), WebhookEndpoint, scope),
        sort_key=WebhookEndpoint.created_at,
        id_column=WebhookEndpoint.id,
        descending=False,
        first=first,
        after=after,
        sort_value_of=lambda row: row.created_at,
    )


async def get_event(session: AsyncSession, scope: TenantScope, event_id: uuid.UUID) -> WebhookEvent | None:
    return await session.scalar(scoped(select(WebhookEvent), WebhookEvent, scope).where(WebhookEvent.id == event_id))


async def list_events(
    session: AsyncSession, scope: TenantScope, *, type: str | None, first: int, after: str | None
) -> Page[WebhookEvent]:
    statement = scoped(select(WebhookEvent), WebhookEvent, scope)
    if type is not None:
        statement = statement.where(WebhookEvent.type == type)
    return await paginate(
        session,
        statement,
        sort_key=WebhookEvent.sequence,
        id_column=WebhookEvent.id,
        descending=True,
        first=first,
        after=after,
        sort_value_of=lambda row: row.sequence,
    )


async def deliveries_of_events(session: AsyncSession, scope: TenantScope, event_ids: Sequence[uuid.UUID]) -> list[WebhookDelivery]:
    statement = (
        scoped(select(WebhookDelivery), WebhookDelivery, scope)
        .where(WebhookDelivery.event_id.in_(list(event_ids)))
        .order_by(WebhookDelivery.created_at, WebhookDelivery.id)
    )
    return list((await session.scalars(statement)).all())


async def attempts_of_deliveries(
    session: AsyncSession, scope: TenantScope, delivery_ids: Sequence[uuid.UUID]
) -> list[WebhookDeliveryAttempt]:
    statement = (
        scoped(select(WebhookDeliveryAttempt), WebhookDeliveryAttempt, scope)
        .where(WebhookDeliveryAttempt.delivery_id.in_(list(delivery_ids)))
        .order_by(WebhookDeliveryAttempt.attempted_at, WebhookDeliveryAttempt.id)
    )
    return list((await session.scalars(statement)).all())


async def endpoints_by_ids(session: AsyncSession, scope: TenantScope, ids: Sequence[uuid.UUID]) -> list[WebhookEndpoint]:
    # deleted endpoints stay visible through their past deliveries
    statement = select(WebhookEndpoint).where(owned_by(WebhookEndpoint, scope), WebhookEndpoint.id.in_(list(ids)))
    return list((await session.scalars(statement)).all())


async def try_lock_endpoint(session: AsyncSession, endpoint_id: uuid.UUID) -> bool:
    """A transaction-scoped advisory lock: one delivery run per endpoint at a time."""
    key = endpoint_id.int & 0x7FFF_FFFF_FFFF_FFFF
    return bool(await session.scalar(select(func.pg_try_advisory_xact_lock(key))))


async def head_delivery(
    session: AsyncSession, scope: TenantScope, endpoint_id: uuid.UUID
) -> tuple[WebhookDelivery, WebhookEvent, WebhookEndpoint] | None:
    """The oldest pending delivery of an endpoint, with its event and the endpoint: deliveries
    go out in order."""
    statement = (
        select(WebhookDelivery, WebhookEvent, WebhookEndpoint)
        .join(WebhookEvent, WebhookEvent.id == WebhookDelivery.event_id)
        .join(WebhookEndpoint, WebhookEndpoint.id == WebhookDelivery.endpoint_id)
        .where(owned_by(WebhookDelivery, scope), WebhookDelivery.endpoint_id == endpoint_id, WebhookDelivery.status == "pending")
        .order_by(WebhookDelivery.sequence, WebhookDelivery.created_at)
        .limit(1)
    )
    row = (await session.execute(statement)).first()
    return (row[0], row[1], row[2]) if row else None


async def has_due(session: AsyncSession, scope: TenantScope, endpoint_id: uuid.UUID, now: datetime) -> bool:
    statement = (
        select(WebhookDelivery.id)
        .join(WebhookEndpoint, WebhookEndpoint.id == WebhookDelivery.endpoint_id)
        .where(
            owned_by(WebhookDelivery, scope),
            WebhookDelivery.endpoint_id == endpoint_id,
            WebhookDelivery.status == "pending",
            WebhookDelivery.next_attempt_at <= now,
            WebhookEndpoint.enabled.is_(True),
            WebhookEndpoint.deleted_at.is_(None),
        )
        .limit(1)
    )
    return (await session.scalar(statement)) is not None


async def finish_attempt(
    session: AsyncSession,
    delivery: WebhookDelivery,
    *,
    values: dict[str, Any],
) -> bool:
    """Move a delivery on after an attempt, only if nobody else did (idempotent)."""
    result = await session.execute(
        update(WebhookDelivery)
        .where(
            WebhookDelivery.id == delivery.id,
            WebhookDelivery.status == "pending",
            WebhookDelivery.attempt_count == delivery.attempt_count,
        )
        .values(**values)
    )
    return result.rowcount == 1


async def due_endpoint_ids(session: AsyncSession, scope: TenantScope, now: datetime, limit: int = 1000) -> list[uuid.UUID]:
    statement = (
        select(WebhookDelivery.endpoint_id)
        .join(WebhookEndpoint, WebhookEndpoint.id == WebhookDelivery.endpoint_id)
        .where(
            owned_by(WebhookDelivery, scope),
            WebhookDelivery.status == "pending",
            WebhookDelivery.next_attempt_at <= now,
            WebhookEndpoint.enabled.is_(True),
            WebhookEndpoint.deleted_at.is_(None),
        )
        .distinct()
        .limit(limit)
    )
    return list((await session.scalars(statement)).all())
