"""All SQL about products and their prices."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from typing import Sequence

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from app.kit.pagination import Page, paginate
from app.kit.repository import escape_like, scoped
from app.kit.tenancy import TenantScope
from app.models import Meter, Product, ProductPrice


@dataclass(frozen=True)
class ProductFilter:
    is_archived: bool | None = None
    is_recurring: bool | None = None
    recurring_interval: str | None = None
    search: str | None = None


ORDER_KEYS = {
    "created_at": (Product.created_at, lambda p: p.created_at),
    "name": (Product.name, lambda p: p.name),
}



def _filtered(scope: TenantScope, filter: ProductFilter):
    statement = scoped(select(Product), Product, scope)
    if filter.is_archived is not None:
        statement = statement.where(Product.archived_at.is_not(None) if filter.is_archived else Product.archived_at.is_(None))
    if filter.is_recurring is not None:
        statement = statement.where(
            Product.recurring_interval.is_not(None) if filter.is_recurring else Product.recurring_interval.is_(None)
        )
    if filter.recurring_interval is not None:
        statement = statement.where(Product.recurring_interval == filter.recurring_interval)
    if filter.search:
        statement = statement.where(Product.name.ilike(f"%{escape_like(filter.search)}%"))
    return statement


async def list_page(
    session: AsyncSession,
    scope: TenantScope,
    filter: ProductFilter,
    *,
    order_by: str,
    descending: bool,
    first: int,
    after: str | None,
) -> Page[Product]:
    sort_key, sort_value_of = ORDER_KEYS[order_by]
    return await paginate(
        session,
        _filtered(scope, filter),
        sort_key=sort_key,
        id_column=Product.id,
        descending=descending,
        first=first,
        after=after,
        sort_value_of=sort_value_of,
    )


async def count(session: AsyncSession, scope: TenantScope, filter: ProductFilter) -> int:
    statement = _filtered(scope, filter).with_only_columns(func.count()).order_by(None)
    return int(await session.scalar(statement) or 0)


async def get(
    session: AsyncSession, scope: TenantScope, product_id: uuid.UUID, *, for_update: bool = False
) -> Product | None:
    """One product; `for_update` locks its row, which serializes every change to its prices."""
    statement = scoped(select(Product), Product, scope).where(Product.id == product_id)
    if for_update:
        statement = statement.with_for_update()
    return await session.scalar(statement)


async def get_many(session: AsyncSession, scope: TenantScope, ids: Sequence[uuid.UUID]) -> list[Product]:
    statement = scoped(select(Product), Product, scope).where(Product.id.in_(list(ids)))
    return list((await session.scalars(statement)).all())


async def get_price(session: AsyncSession, scope: TenantScope, price_id: uuid.UUID) -> ProductPrice | None:
    statement = scoped(select(ProductPrice), ProductPrice, scope).where(ProductPrice.id == price_id)
    return await session.scalar(statement)


async def get_many_prices(session: AsyncSession, scope: TenantScope, ids: Sequence[uuid.UUID]) -> list[ProductPrice]:
    statement = scoped(select(ProductPrice), ProductPrice, scope).where(ProductPrice.id.in_(list(ids)))
    return list((await session.scalars(statement)).all())


async def list_prices_for_products(
    session: AsyncSession, scope: TenantScope, product_ids: Sequence[uuid.UUID], *, active_only: bool = False
) -> list[ProductPrice]:
    """Prices of the given products: active ones first, then archived; oldest first within each."""
    statement = scoped(select(ProductPrice), ProductPrice, scope).where(
        ProductPrice.product_id.in_(list(product_ids))
    )
    if active_only:
        statement = statement.where(ProductPrice.archived_at.is_(None))
    statement = statement.order_by(
        ProductPrice.archived_at.is_not(None), ProductPrice.created_at, ProductPrice.id
    )
    return list((await session.scalars(statement)).all())


async def get_meters(session: AsyncSession, scope: TenantScope, ids: Sequence[uuid.UUID]) -> list[Meter]:
    """Meters of the organization among `ids` (archived ones included: the caller decides)."""
    if not ids:
        return []
    statement = scoped(select(Meter), Meter, scope).where(Meter.id.in_(list(ids)))
    return list((await session.scalars(statement)).all())
