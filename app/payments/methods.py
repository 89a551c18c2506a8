"""A customer at its processor and the payment methods saved there for off-session charges:
one place for the checkout (a card given while paying) and the subscription (a card given later,
as after a trial started without one)."""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from app.kit.repository import scoped
from app.kit.tenancy import TenantScope
from app.models import Customer
from app.models.checkout import PaymentMethod
from app.payments.processors import PaymentProcessor, SavedPaymentMethod


async def processor_customer(session: AsyncSession, customer: Customer, processor: PaymentProcessor) -> str:
    """The customer's id at the processor, created once (the idempotency key is the customer's)."""
    if processor.name == "stripe" and customer.stripe_customer_id:
        return customer.stripe_customer_id
    created = await processor.create_customer(
        email=customer.email,
        name=customer.name,
        metadata={"kassa_organization_id": str(customer.organization_id), "kassa_customer_id": str(customer.id)},
        idempotency_key=f"kassa-customer-{customer.id}",
    )
    if processor.name == "stripe":
        customer.stripe_customer_id = created.id
        await session.flush()
    return created.id


async def record_saved(
    session: AsyncSession, scope: TenantScope, customer: Customer, processor: PaymentProcessor, processor_customer_id: str, method: SavedPaymentMethod
) -> PaymentMethod:
    """The row of a payment method the processor saved for the customer (once per method)."""
    statement = scoped(select(PaymentMethod), PaymentMethod, scope).where(PaymentMethod.processor == processor.name, PaymentMethod.processor_id == method.id)
    saved = await session.scalar(statement)
    if saved is None:
        saved = PaymentMethod(
            organization_id=scope.organization_id,
            customer_id=customer.id,
            processor=processor.name,
            processor_id=method.id,
            processor_customer_id=processor_customer_id,
            brand=method.brand,
            last4=method.last4,
        )
        session.add(saved)
        await session.flush()
    return saved
