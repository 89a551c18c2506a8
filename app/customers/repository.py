"""All SQL about customers."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime
from typing import Sequence

from sqlalchemy import func, or_, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from app.kit import clock
from app.kit.pagination import Page, paginate
from app.kit.repository import escape_like, scoped
from app.kit.tenancy import TenantScope
from app.models import Customer, Member


@dataclass(frozen=True)
class CustomerFilter:
    type: str | None = None
    email: str | None = None
    external_id: str | None = None
    search: str | None = None
    created_after: datetime | None = None
    created_before: datetime | None = None


ORDER_KEYS = {
    "created_at": (Customer.created_at, lambda c: c.created_at),
    "email": (Customer.email, lambda c: c.email),
    "name": (func.coalesce(Customer.name, ""), lambda c: c.name or ""),
}



def _filtered(scope: TenantScope, filter: CustomerFilter):
    statement = scoped(select(Customer), Customer, scope)
    if filter.type is not None:
        statement = statement.where(Customer.type == filter.type)
    if filter.email is not None:
        statement = statement.where(func.lower(Customer.email) == filter.email.lower())
    if filter.external_id is not None:
        statement = statement.where(Customer.external_id == filter.external_id)
    if filter.search:
        pattern = f"%{escape_like(filter.search)}%"
        statement = statement.where(
            or_(Customer.email.ilike(pattern), Customer.name.ilike(pattern), Customer.external_id.ilike(pattern))
        )
    if filter.created_after is not None:
        statement = statement.where(Customer.created_at >= filter.created_after)
    if filter.created_before is not None:
        statement = statement.where(Customer.created_at < filter.created_before)
    return statement


async def list_page(
    session: AsyncSession,
    scope: TenantScope,
    filter: CustomerFilter,
    *,
    order_by: str,
    descending: bool,
    first: int,
    after: str | None,
) -> Page[Customer]:
    sort_key, sort_value_of = ORDER_KEYS[order_by]
    return await paginate(
        session,
        _filtered(scope, filter),
        sort_key=sort_key,
        id_column=Customer.id,
        descending=descending,
        first=first,
        after=after,
        sort_value_of=sort_value_of,
    )


async def count(session: AsyncSession, scope: TenantScope, filter: CustomerFilter) -> int:
    statement = _filtered(scope, filter).with_only_columns(func.count()).order_by(None)
    return int(await session.scalar(statement) or 0)


async def get(
    session: AsyncSession, scope: TenantScope, customer_id: uuid.UUID, *, for_update: bool = False
) -> Customer | None:
    statement = scoped(select(Customer), Customer, scope).where(Customer.id == customer_id)
    if for_update:  # a locked read refreshes what the session may hold from before the lock
        statement = statement.with_for_update().execution_options(populate_existing=True)
    return await session.scalar(statement)


async def get_by_external_id(session: AsyncSession, scope: TenantScope, external_id: str) -> Customer | None:
    statement = scoped(select(Customer), Customer, scope).where(Customer.external_id == external_id)
    return await session.scalar(statement)


async def get_many(session: AsyncSession, scope: TenantScope, ids: Sequence[uuid.UUID]) -> list[Customer]:
    statement = scoped(select(Customer), Customer, scope).where(Customer.id.in_(list(ids)))
    return list((await session.scalars(statement)).all())


async def soft_delete(session: AsyncSession, customer: Customer) -> None:
    now = clock.now()
    customer.deleted_at = now
    await session.execute(
        update(Member).where(Member.customer_id == customer.id, Member.deleted_at.is_(None)).values(deleted_at=now)
    )
    await session.flush()


UNIQUE_EXTERNAL_ID = "ix_customers_organization_id_external_id"
