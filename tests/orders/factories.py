"""Service-level factories of the money tests (orders, checkouts): a merchant's Subject, products
and customers made through their services, and paid orders, in a session acting for the
organization (no GraphQL: these tests call the services directly)."""

from __future__ import annotations

import uuid
from typing import Any

from sqlalchemy import select, text
from sqlalchemy.ext.asyncio import AsyncSession

from app.auth.scopes import all_scopes
from app.auth.service import operator_scope
from app.auth.subject import Subject
from app.catalog import service as catalog
from app.catalog.service import PriceDraft, ProductDraft
from app.customers import service as customers
from app.customers.service import CustomerDraft
from app.models import Customer, Product, ProductPrice
from app.models.order import BillingReason, Order, OrderStatus
from app.orders import service as orders
from app.orders.service import OrderAmounts, OrderLine
from app.payments.manual import ManualProcessor
from tests.conftest import as_owner


def merchant(organization_id: uuid.UUID) -> Subject:
    """The organization acting through a token with every scope (what the GraphQL layer hands
    the services for a merchant's request)."""
    return Subject(scope=operator_scope(organization_id), token_id=None, scopes=frozenset(s.value for s in all_scopes()))


def client(organization_id: uuid.UUID, checkout_id: uuid.UUID) -> Subject:
    """The customer's browser holding one checkout's client secret (app/auth/service.py)."""
    from app.auth.scopes import CHECKOUT_CLIENT

    return Subject(scope=operator_scope(organization_id), token_id=None, scopes=frozenset({CHECKOUT_CLIENT.value}), checkout_id=checkout_id)


async def make_product(
    session: AsyncSession, subject: Subject, price: PriceDraft, *, name: str = "Pro", recurring_interval: str | None = None, trial_days: int | None = None
) -> tuple[Product, ProductPrice]:
    product = await catalog.create_product(session, subject, ProductDraft(name=name, recurring_interval=recurring_interval, prices=[price]))
    if trial_days is not None:  # no input sets it yet: the column, directly
        product.trial_days = trial_days
        await session.flush()
    row = await session.scalar(select(ProductPrice).where(ProductPrice.product_id == product.id))
    assert row is not None
    return product, row


async def make_customer(session: AsyncSession, subject: Subject, *, email: str = "ann@example.com", **fields: Any) -> Customer:
    return await customers.create_customer(session, subject, CustomerDraft(type=fields.pop("type", "individual"), email=email, **fields))


async def pending_order(
    session: AsyncSession,
    subject: Subject,
    customer: Customer,
    *,
    subtotal: int = 1000,
    tax: int = 0,
    discount: int = 0,
    currency: str = "usd",
    processor: str = "manual",
) -> Order:
    return await orders.create_order(
        session,
        subject.scope,
        customer_id=customer.id,
        product_id=None,
        billing_reason=BillingReason.purchase,
        amounts=OrderAmounts(currency=currency, subtotal=subtotal, discount=discount, tax=tax),
        lines=[OrderLine(label="Thing", unit_amount=subtotal)],
        processor=processor,
    )


async def paid_order(session: AsyncSession, subject: Subject, customer: Customer, **amounts: Any) -> Order:
    """A pending order paid through the manual processor (an offline payment the merchant records)."""
    order = await pending_order(session, subject, customer, **amounts)
    charge = await ManualProcessor().charge(
        customer_id=str(customer.id),
        payment_method="offline",
        amount=order.due_amount,
        currency=order.currency,
        off_session=False,
        idempotency_key=f"test-{order.id}",
        metadata={},
    )
    assert await orders.mark_paid(session, subject.scope, order, processor="manual", payment_id=charge.payment_id, charge_id=charge.charge_id, amount=order.due_amount)
    assert order.status == OrderStatus.paid.value
    return order


async def rows(session: AsyncSession, sql: str, **params: Any) -> list[Any]:
    """Rows of a cross-tenant check, as the database owner."""
    async with as_owner(session):
        return list((await session.execute(text(sql), params)).all())


async def count(session: AsyncSession, sql: str, **params: Any) -> int:
    async with as_owner(session):
        return int(await session.scalar(text(sql), params))

