"""All SQL about orders, their items, refunds, transactions and invoice numbers."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from typing import Any, Sequence

from sqlalchemy import func, select
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncSession

from app.kit.pagination import Page, paginate
from app.kit.repository import owned_by, scoped
from app.kit.tenancy import TenantScope
from app.models.order import InvoiceCounter, Order, OrderItem, Refund, Transaction


@dataclass(frozen=True)
class OrderFilter:
    customer_id: uuid.UUID | None = None
    product_id: uuid.UUID | None = None
    status: str | None = None
    billing_reason: str | None = None


@dataclass(frozen=True)
class TransactionFilter:
    order_id: uuid.UUID | None = None
    customer_id: uuid.UUID | None = None
    type: str | None = None


def _orders(scope: TenantScope, filter: OrderFilter):
    statement = scoped(select(Order), Order, scope)
    for column, value in (
        (Order.customer_id, filter.customer_id),
        (Order.product_id, filter.product_id),
        (Order.status, filter.status),
        (Order.billing_reason, filter.billing_reason),
    ):
        if value is not None:
            statement = statement.where(column == value)
    return statement


async def list_page(
    session: AsyncSession, scope: TenantScope, filter: OrderFilter, *, descending: bool, first: int, after: str | None
) -> Page[Order]:
    return await paginate(
        session,
        _orders(scope, filter),
        sort_key=Order.created_at,
        id_column=Order.id,
        descending=descending,
        first=first,
        after=after,
        sort_value_of=lambda o: o.created_at,
    )


async def count(session: AsyncSession, scope: TenantScope, filter: OrderFilter) -> int:
    return int(await session.scalar(_orders(scope, filter).with_only_columns(func.count()).order_by(None)) or 0)


async def get(session: AsyncSession, scope: TenantScope, order_id: uuid.UUID, *, for_update: bool = False) -> Order | None:
    statement = scoped(select(Order), Order, scope).where(Order.id == order_id)
    if for_update:
        statement = statement.with_for_update().execution_options(populate_existing=True)
    return await session.scalar(statement)


async def get_by_payment(session: AsyncSession, scope: TenantScope, processor: str, payment_id: str, *, for_update: bool = False) -> Order | None:
    statement = scoped(select(Order), Order, scope).where(Order.processor == processor, Order.payment_id == payment_id)
    if for_update:
        statement = statement.with_for_update().execution_options(populate_existing=True)
    return await session.scalar(statement.order_by(Order.created_at).limit(1))


async def get_by_charge(session: AsyncSession, scope: TenantScope, processor: str, charge_id: str, *, for_update: bool = False) -> Order | None:
    statement = scoped(select(Order), Order, scope).where(Order.processor == processor, Order.charge_id == charge_id)
    if for_update:
        statement = statement.with_for_update().execution_options(populate_existing=True)
    return await session.scalar(statement.order_by(Order.created_at).limit(1))


async def get_many(session: AsyncSession, scope: TenantScope, ids: Sequence[uuid.UUID]) -> list[Order]:
    return list((await session.scalars(scoped(select(Order), Order, scope).where(Order.id.in_(list(ids))))).all())


async def orders_of_customers(session: AsyncSession, scope: TenantScope, customer_ids: Sequence[uuid.UUID], limit: int) -> list[Order]:
    """The newest `limit` orders of each customer (for dataloaders), newest first."""
    ranked = (
        scoped(select(Order, func.row_number().over(partition_by=Order.customer_id, order_by=(Order.created_at.desc(), Order.id.desc())).label("rank")), Order, scope)
        .where(Order.customer_id.in_(list(customer_ids)))
        .subquery()
    )
    from sqlalchemy.orm import aliased

    order = aliased(Order, ranked)
    statement = select(order).where(ranked.c.rank <= limit).order_by(ranked.c.customer_id, ranked.c.created_at.desc(), ranked.c.id.desc())
    return list((await session.scalars(statement)).all())


async def items_of(session: AsyncSession, scope: TenantScope, order_ids: Sequence[uuid.UUID]) -> list[OrderItem]:
    statement = scoped(select(OrderItem), OrderItem, scope).where(OrderItem.order_id.in_(list(order_ids))).order_by(OrderItem.created_at, OrderItem.id)
    return list((await session.scalars(statement)).all())


async def refunds_of(session: AsyncSession, scope: TenantScope, order_ids: Sequence[uuid.UUID]) -> list[Refund]:
    statement = scoped(select(Refund), Refund, scope).where(Refund.order_id.in_(list(order_ids))).order_by(Refund.created_at, Refund.id)
    return list((await session.scalars(statement)).all())


async def refund_by_processor_id(session: AsyncSession, scope: TenantScope, processor: str, processor_refund_id: str) -> Refund | None:
    statement = scoped(select(Refund), Refund, scope).where(Refund.processor == processor, Refund.processor_refund_id == processor_refund_id)
    return await session.scalar(statement)


async def get_refund(session: AsyncSession, scope: TenantScope, refund_id: uuid.UUID) -> Refund | None:
    return await session.scalar(scoped(select(Refund), Refund, scope).where(Refund.id == refund_id))


async def get_many_refunds(session: AsyncSession, scope: TenantScope, ids: Sequence[uuid.UUID]) -> list[Refund]:
    return list((await session.scalars(scoped(select(Refund), Refund, scope).where(Refund.id.in_(list(ids))))).all())


async def transaction_exists(session: AsyncSession, scope: TenantScope, type: str, processor: str, processor_id: str) -> bool:
    statement = scoped(select(Transaction.id), Transaction, scope).where(
        Transaction.type == type, Transaction.processor == processor, Transaction.processor_id == processor_id
    )
    return await session.scalar(statement) is not None


def _transactions(scope: TenantScope, filter: TransactionFilter):
    statement = scoped(select(Transaction), Transaction, scope)
    for column, value in ((Transaction.order_id, filter.order_id), (Transaction.customer_id, filter.customer_id), (Transaction.type, filter.type)):
        if value is not None:
            statement = statement.where(column == value)
    return statement


async def list_transactions(
    session: AsyncSession, scope: TenantScope, filter: TransactionFilter, *, descending: bool, first: int, after: str | None
) -> Page[Transaction]:
    return await paginate(
        session,
        _transactions(scope, filter),
        sort_key=Transaction.created_at,
        id_column=Transaction.id,
        descending=descending,
        first=first,
        after=after,
        sort_value_of=lambda t: t.created_at,
    )


async def transactions_of(session: AsyncSession, scope: TenantScope, order_ids: Sequence[uuid.UUID]) -> list[Transaction]:
    statement = (
        scoped(select(Transaction), Transaction, scope)
        .where(Transaction.order_id.in_(list(order_ids)))
        .order_by(Transaction.created_at, Transaction.id)
    )
    return list((await session.scalars(statement)).all())


async def get_many_transactions(session: AsyncSession, scope: TenantScope, ids: Sequence[uuid.UUID]) -> list[Transaction]:
    return list((await session.scalars(scoped(select(Transaction), Transaction, scope).where(Transaction.id.in_(list(ids))))).all())


async def next_invoice_numbers(session: AsyncSession, scope: TenantScope, count: int = 1) -> int:
    """The first of the organization's next `count` invoice numbers (the others follow it), taken
    in the caller's transaction, in one statement: the counter's row stays locked until it
    commits (a rollback gives the numbers back), so numbers have no gaps and no repeats."""
    if count < 1:
        raise ValueError("take at least one invoice number")
    statement = (
        insert(InvoiceCounter)
        .values(organization_id=scope.organization_id, last_number=count)
        .on_conflict_do_update(index_elements=[InvoiceCounter.organization_id], set_={"last_number": InvoiceCounter.last_number + count})
        .returning(InvoiceCounter.last_number)
    )
    return int(await session.scalar(statement)) - count + 1


async def lock_many(session: AsyncSession, scope: TenantScope, order_ids: Sequence[uuid.UUID]) -> list[Order]:
    """The orders, each row locked for the caller's transaction, in the order of their ids (two
    transactions locking overlapping sets queue up instead of deadlocking)."""
    statement = (
        scoped(select(Order), Order, scope)
        .where(Order.id.in_(list(order_ids)))
        .order_by(Order.id)
        .with_for_update()
        .execution_options(populate_existing=True)
    )
    return list((await session.scalars(statement)).all())


async def add(session: AsyncSession, *rows: Any) -> None:
    session.add_all(rows)
    await session.flush()


def visible(scope: TenantScope):
    """The filter of the scope's orders (for the reconciliation check)."""
    return owned_by(Order, scope)
