"""All SQL about checkouts and saved payment methods."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime
from typing import Sequence

from sqlalchemy import func, select
from sqlalchemy.exc import DBAPIError
from sqlalchemy.ext.asyncio import AsyncSession

from app.kit.pagination import Page, paginate
from app.kit.repository import scoped
from app.kit.tenancy import TenantScope
from app.models import Customer, Product, ProductPrice
from app.models.checkout import Checkout, CheckoutStatus

_LOCK_NOT_AVAILABLE = "55P03"


class Locked(Exception):
    """The row is locked by another transaction (NOWAIT)."""


@dataclass(frozen=True)
class CheckoutFilter:
    status: str | None = None
    customer_id: uuid.UUID | None = None
    product_id: uuid.UUID | None = None


def _filtered(scope: TenantScope, filter: CheckoutFilter):
    statement = scoped(select(Checkout), Checkout, scope)
    for column, value in ((Checkout.status, filter.status), (Checkout.customer_id, filter.customer_id), (Checkout.product_id, filter.product_id)):
        if value is not None:
            statement = statement.where(column == value)
    return statement


async def list_page(
    session: AsyncSession, scope: TenantScope, filter: CheckoutFilter, *, descending: bool, first: int, after: str | None
) -> Page[Checkout]:
    return await paginate(
        session,
        _filtered(scope, filter),
        sort_key=Checkout.created_at,
        id_column=Checkout.id,
        descending=descending,
        first=first,
        after=after,
        sort_value_of=lambda c: c.created_at,
    )


async def count(session: AsyncSession, scope: TenantScope, filter: CheckoutFilter) -> int:
    return int(await session.scalar(_filtered(scope, filter).with_only_columns(func.count()).order_by(None)) or 0)


async def get(session: AsyncSession, scope: TenantScope, checkout_id: uuid.UUID) -> Checkout | None:
    return await session.scalar(scoped(select(Checkout), Checkout, scope).where(Checkout.id == checkout_id))


async def lock(session: AsyncSession, scope: TenantScope, checkout_id: uuid.UUID, *, nowait: bool = False) -> Checkout | None:
    """The checkout, its row locked for this transaction; `Locked` when `nowait` and another
    transaction holds it."""
    statement = (
        scoped(select(Checkout), Checkout, scope)
        .where(Checkout.id == checkout_id)
        .with_for_update(nowait=nowait)
        .execution_options(populate_existing=True)
    )
    try:
        return await session.scalar(statement)
    except DBAPIError as exc:
        orig = getattr(exc, "orig", None)
        cause = getattr(orig, "__cause__", None)
        if _LOCK_NOT_AVAILABLE in (getattr(orig, "sqlstate", None), getattr(cause, "sqlstate", None), getattr(orig, "pgcode", None)):
            raise Locked() from None
        raise


async def get_many(session: AsyncSession, scope: TenantScope, ids: Sequence[uuid.UUID]) -> list[Checkout]:
    return list((await session.scalars(scoped(select(Checkout), Checkout, scope).where(Checkout.id.in_(list(ids))))).all())


async def due_to_expire(session: AsyncSession, scope: TenantScope, now: datetime, limit: int) -> list[Checkout]:
    """Open (or failed) checkouts past their expiry, locked; rows another transaction holds are
    skipped (a confirmation in progress decides their fate)."""
    statement = (
        scoped(select(Checkout), Checkout, scope)
        .where(Checkout.status.in_((CheckoutStatus.open.value, CheckoutStatus.failed.value)), Checkout.expires_at <= now)
        .order_by(Checkout.expires_at)
        .limit(limit)
        .with_for_update(skip_locked=True)
    )
    return list((await session.scalars(statement)).all())


async def confirmed_waiting(session: AsyncSession, scope: TenantScope, confirmed_before: datetime, limit: int) -> list[Checkout]:
    """CONFIRMED checkouts (a payment submitted, its outcome to come) confirmed before
    `confirmed_before`, locked; rows another transaction holds are skipped."""
    statement = (
        scoped(select(Checkout), Checkout, scope)
        .where(Checkout.status == CheckoutStatus.confirmed.value, Checkout.confirmed_at <= confirmed_before, Checkout.payment_id.is_not(None))
        .order_by(Checkout.confirmed_at)
        .limit(limit)
        .with_for_update(skip_locked=True)
    )
    return list((await session.scalars(statement)).all())


async def price_and_product(session: AsyncSession, scope: TenantScope, price_id: uuid.UUID) -> tuple[ProductPrice, Product] | None:
    statement = (
        scoped(select(ProductPrice, Product), ProductPrice, scope)
        .join(Product, Product.id == ProductPrice.product_id)
        .where(ProductPrice.id == price_id)
    )
    row = (await session.execute(statement)).first()
    return None if row is None else (row[0], row[1])


async def get_customer(session: AsyncSession, scope: TenantScope, customer_id: uuid.UUID) -> Customer | None:
    """The customer, unless deleted (a checkout never sells to a deleted customer)."""
    statement = scoped(select(Customer), Customer, scope).where(Customer.id == customer_id, Customer.deleted_at.is_(None))
    return await session.scalar(statement)


async def customer_by_external_id(session: AsyncSession, scope: TenantScope, external_id: str) -> Customer | None:
    statement = scoped(select(Customer), Customer, scope).where(Customer.external_id == external_id, Customer.deleted_at.is_(None))
    return await session.scalar(statement)


async def customer_by_email(session: AsyncSession, scope: TenantScope, email: str, type: str) -> Customer | None:
    statement = (
        scoped(select(Customer), Customer, scope)
        .where(func.lower(Customer.email) == email.lower(), Customer.type == type, Customer.deleted_at.is_(None))
        .order_by(Customer.created_at, Customer.id)
        .limit(1)
    )
    return await session.scalar(statement)


