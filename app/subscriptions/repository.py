"""All SQL about subscriptions and billing entries."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime
from typing import Sequence

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from app.kit.pagination import Page, paginate
from app.kit.repository import scoped
from app.kit.tenancy import TenantScope
from app.models import Customer
from app.models.checkout import PaymentMethod
from app.models.order import Order
from app.models.subscription import BillingEntry, Subscription, SubscriptionStatus


@dataclass(frozen=True)
class SubscriptionFilter:
    status: str | None = None
    product_id: uuid.UUID | None = None
    customer_id: uuid.UUID | None = None
    renewing_before: datetime | None = None


def _filtered(scope: TenantScope, filter: SubscriptionFilter):
    statement = scoped(select(Subscription), Subscription, scope)
    for column, value in ((Subscription.status, filter.status), (Subscription.product_id, filter.product_id), (Subscription.customer_id, filter.customer_id)):
        if value is not None:
            statement = statement.where(column == value)
    if filter.renewing_before is not None:
        statement = statement.where(
            Subscription.status.in_((SubscriptionStatus.trialing.value, SubscriptionStatus.active.value)),
            Subscription.cancel_at_period_end.is_(False),
            Subscription.pause_at_period_end.is_(False),
            Subscription.current_period_end < filter.renewing_before,
        )
    return statement


async def list_page(
    session: AsyncSession, scope: TenantScope, filter: SubscriptionFilter, *, descending: bool, first: int, after: str | None
) -> Page[Subscription]:
    return await paginate(
        session,
        _filtered(scope, filter),
        sort_key=Subscription.created_at,
        id_column=Subscription.id,
        descending=descending,
        first=first,
        after=after,
        sort_value_of=lambda s: s.created_at,
    )


async def count(session: AsyncSession, scope: TenantScope, filter: SubscriptionFilter) -> int:
    return int(await session.scalar(_filtered(scope, filter).with_only_columns(func.count()).order_by(None)) or 0)


async def get(session: AsyncSession, scope: TenantScope, subscription_id: uuid.UUID, *, for_update: bool = False) -> Subscription | None:
    statement = scoped(select(Subscription), Subscription, scope).where(Subscription.id == subscription_id)
    if for_update:
        statement = statement.with_for_update().execution_options(populate_existing=True)
    return await session.scalar(statement)


async def get_many(session: AsyncSession, scope: TenantScope, ids: Sequence[uuid.UUID]) -> list[Subscription]:
    return list((await session.scalars(scoped(select(Subscription), Subscription, scope).where(Subscription.id.in_(list(ids))))).all())


async def of_customers(session: AsyncSession, scope: TenantScope, customer_ids: Sequence[uuid.UUID]) -> list[Subscription]:
    statement = (
        scoped(select(Subscription), Subscription, scope)
        .where(Subscription.customer_id.in_(list(customer_ids)))
        .order_by(Subscription.created_at.desc(), Subscription.id.desc())
    )
    return list((await session.scalars(statement)).all())


async def claim_due(session: AsyncSession, scope: TenantScope, now: datetime, limit: int) -> list[Subscription]:
    """Renewing subscriptions whose period has ended, oldest first, locked for this transaction;
    rows another transaction holds (another worker renewing them) are skipped."""
    statement = (
        scoped(select(Subscription), Subscription, scope)
        .where(
            Subscription.status.in_((SubscriptionStatus.trialing.value, SubscriptionStatus.active.value)),
            Subscription.current_period_end <= now,
        )
        .order_by(Subscription.current_period_end, Subscription.id)
        .limit(limit)
        .with_for_update(skip_locked=True)
    )
    return list((await session.scalars(statement)).all())


async def customers_by_id(session: AsyncSession, scope: TenantScope, ids: Sequence[uuid.UUID]) -> dict[uuid.UUID, Customer]:
    rows = await session.scalars(scoped(select(Customer), Customer, scope).where(Customer.id.in_(list(ids))))
    return {row.id: row for row in rows}


async def lock_many(session: AsyncSession, scope: TenantScope, ids: Sequence[uuid.UUID]) -> list[Subscription]:
    """The subscriptions, each row locked for the caller's transaction, in the order of their ids."""
    statement = (
        scoped(select(Subscription), Subscription, scope)
        .where(Subscription.id.in_(list(ids)))
        .order_by(Subscription.id)
        .with_for_update()
        .execution_options(populate_existing=True)
    )
    return list((await session.scalars(statement)).all())


async def pending_order_ids(session: AsyncSession, scope: TenantScope, subscription_ids: Sequence[uuid.UUID]) -> list[uuid.UUID]:
    """The subscriptions' orders still waiting for their payment (not locked: the caller locks them)."""
    statement = scoped(select(Order.id), Order, scope).where(Order.subscription_id.in_(list(subscription_ids)), Order.status == "pending")
    return list((await session.scalars(statement)).all())


async def live_of_customer(session: AsyncSession, scope: TenantScope, customer_id: uuid.UUID) -> list[uuid.UUID]:
    """The customer's subscriptions that have not ended."""
    statement = scoped(select(Subscription.id), Subscription, scope).where(
        Subscription.customer_id == customer_id,
        Subscription.ended_at.is_(None),
        Subscription.status.not_in((SubscriptionStatus.canceled.value, SubscriptionStatus.unpaid.value)),
    )
    return list((await session.scalars(statement.order_by(Subscription.id))).all())


async def payment_methods(session: AsyncSession, scope: TenantScope, ids: Sequence[uuid.UUID]) -> dict[uuid.UUID, PaymentMethod]:
    rows = await session.scalars(scoped(select(PaymentMethod), PaymentMethod, scope).where(PaymentMethod.id.in_(list(ids))))
    return {row.id: row for row in rows}


async def entries_of(session: AsyncSession, scope: TenantScope, subscription_ids: Sequence[uuid.UUID]) -> list[BillingEntry]:
    statement = (
        scoped(select(BillingEntry), BillingEntry, scope)
        .where(BillingEntry.subscription_id.in_(list(subscription_ids)))
        .order_by(BillingEntry.start_at, BillingEntry.created_at, BillingEntry.id)
    )
    return list((await session.scalars(statement)).all())


async def orders_of(session: AsyncSession, scope: TenantScope, subscription_ids: Sequence[uuid.UUID]) -> list[Order]:
    statement = (
        scoped(select(Order), Order, scope)
        .where(Order.subscription_id.in_(list(subscription_ids)))
        .order_by(Order.created_at, Order.id)
    )
    return list((await session.scalars(statement)).all())


async def pending_entries(session: AsyncSession, scope: TenantScope, subscription_ids: Sequence[uuid.UUID], *, for_update: bool = False) -> list[BillingEntry]:
    """The subscriptions' billing entries no order has billed yet, oldest first."""
    statement = (
        scoped(select(BillingEntry), BillingEntry, scope)
        .where(BillingEntry.subscription_id.in_(list(subscription_ids)), BillingEntry.order_id.is_(None))
        .order_by(BillingEntry.subscription_id, BillingEntry.created_at, BillingEntry.id)
    )
    if for_update:
        statement = statement.with_for_update()
    return list((await session.scalars(statement)).all())
