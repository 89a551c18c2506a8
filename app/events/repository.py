"""All SQL about usage events."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Sequence

from sqlalchemy import and_, or_, select
from sqlalchemy.ext.asyncio import AsyncSession

from app.kit.db import begun_driver
from app.kit.pagination import Page, paginate
from app.kit.repository import owned_by
from app.kit.tenancy import TenantScope
from app.meters.repository import customer_events
from app.models import Customer, Event, Member

# One statement for a whole batch: arrays in, one row per event, duplicates (same organization
# and external id, earlier or in the same batch) skipped. Returns how many rows were written.
# Rows go in sorted by external id: concurrent batches sharing ids then wait on each other's
# uncommitted keys in one order, never in a cycle (unsorted, two batches of the same ids in
# opposite orders deadlock). $11 is the clock's time: every row's created_at and modified_at.
INSERT_BATCH = """
WITH inserted AS (
    INSERT INTO events (organization_id, source, name, timestamp, customer_id, external_customer_id,
                        member_id, external_member_id, external_id, metadata, created_at, modified_at)
    SELECT $1::uuid, $2::varchar, u.name, u.ts, u.customer_id, u.external_customer_id,
           u.member_id, u.external_member_id, u.external_id, u.metadata::jsonb, $11::timestamptz, $11::timestamptz
    FROM unnest($3::varchar[], $4::timestamptz[], $5::uuid[], $6::varchar[], $7::uuid[], $8::varchar[],
                $9::varchar[], $10::text[])
         AS u(name, ts, customer_id, external_customer_id, member_id, external_member_id, external_id, metadata)
    ORDER BY u.external_id
    ON CONFLICT (organization_id, external_id) WHERE external_id IS NOT NULL DO NOTHING
    RETURNING 1
)
SELECT count(*) FROM inserted
"""


async def insert_batch(
    session: AsyncSession, scope: TenantScope, source: str, columns: Sequence[list], *, now: datetime
) -> int:
    """Insert events given as columns (name, timestamp, customer_id, external_customer_id,
    member_id, external_member_id, external_id, metadata JSON text), written at `now` (the
    clock's time). Straight on the driver: this is the ingestion hot path."""
    connection = await session.connection()
    driver = await begun_driver((await connection.get_raw_connection()).dbapi_connection)
    return await driver.fetchval(INSERT_BATCH, scope.organization_id, source, *columns, now)


async def existing_customers(session: AsyncSession, scope: TenantScope, ids: Sequence[uuid.UUID]) -> set[uuid.UUID]:
    statement = select(Customer.id).where(
        owned_by(Customer, scope), Customer.id.in_(list(ids)), Customer.deleted_at.is_(None)
    )
    return set((await session.scalars(statement)).all())


async def customers_by_external_id(session: AsyncSession, scope: TenantScope, external_ids: Sequence[str]) -> dict[str, uuid.UUID]:
    statement = select(Customer.external_id, Customer.id).where(
        owned_by(Customer, scope), Customer.external_id.in_(list(external_ids)), Customer.deleted_at.is_(None)
    )
    return {row[0]: row[1] for row in await session.execute(statement)}


async def member_customers(session: AsyncSession, scope: TenantScope, ids: Sequence[uuid.UUID]) -> dict[uuid.UUID, uuid.UUID]:
    """member id -> its customer id, for active members."""
    statement = select(Member.id, Member.customer_id).where(
        owned_by(Member, scope), Member.id.in_(list(ids)), Member.deleted_at.is_(None)
    )
    return {row[0]: row[1] for row in await session.execute(statement)}


async def list_page(
    session: AsyncSession,
    scope: TenantScope,
    *,
    customer: Customer | None,
    member: Member | None,
    name: str | None,
    after_time: datetime | None,
    before_time: datetime | None,
    source: str | None,
    first: int,
    after: str | None,
) -> Page[Event]:
    statement = select(Event).where(owned_by(Event, scope))
    if customer is not None:
        statement = statement.where(customer_events(customer))
    if member is not None:  # named by id, or by its external id within its customer
        by_external = and_(
            Event.member_id.is_(None),
            Event.external_member_id == member.external_id,
            Event.customer_id == member.customer_id,
        )
        statement = statement.where(or_(Event.member_id == member.id, by_external) if member.external_id else Event.member_id == member.id)
    if name is not None:
        statement = statement.where(Event.name == name)
    if source is not None:
        statement = statement.where(Event.source == source)
    if after_time is not None:
        statement = statement.where(Event.timestamp >= after_time)
    if before_time is not None:
        statement = statement.where(and_(Event.timestamp < before_time))
    return await paginate(
        session, statement, sort_key=Event.timestamp, id_column=Event.id, descending=True, first=first, after=after,
        sort_value_of=lambda row: row.timestamp,
    )
