"""Checkouts: a customer's purchase of one product price, before it is paid."""

from __future__ import annotations

import enum
import uuid
from datetime import datetime
from typing import Any

from sqlalchemy import BigInteger, Boolean, CheckConstraint, DateTime, ForeignKey, Index, Integer, String, Uuid, false, text
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.orm import Mapped, mapped_column

from app.kit.models import TenantModel


class CheckoutStatus(str, enum.Enum):
    open = "open"  # being filled in; can be confirmed
    expired = "expired"  # not confirmed before `expires_at`
    confirmed = "confirmed"  # the payment was submitted; its outcome arrives later (webhook)
    succeeded = "succeeded"  # paid (or free): the order exists
    failed = "failed"  # the last payment attempt was declined; may be confirmed again until it expires


class PaymentProcessorName(str, enum.Enum):
    stripe = "stripe"
    manual = "manual"


class Checkout(TenantModel):
    """One purchase of `product_price_id` being made: for an existing customer (`customer_id`)
    or for the customer described by the `customer_*` fields (created when it is confirmed).
    A wallet top-up (`wallet_top_up`) has no product: it buys `total_amount` of `currency` into
    its customer's wallet (app/wallets/top_ups.py).

    The amounts are computed on the server (app/discounts/amounts.py) whenever what they depend
    on changes, and stored; the order copies them. `client_secret` is the bearer credential of
    the customer's browser for this checkout alone."""

    __tablename__ = "checkouts"
    __table_args__ = (
        CheckConstraint("status IN ('open', 'expired', 'confirmed', 'succeeded', 'failed')", name="status"),
        CheckConstraint("payment_processor IN ('stripe', 'manual')", name="payment_processor"),
        CheckConstraint("customer_type IS NULL OR customer_type IN ('individual', 'business')", name="customer_type"),
        CheckConstraint("seats IS NULL OR seats >= 1", name="seats"),
        CheckConstraint(
            "subtotal_amount >= 0 AND discount_amount >= 0 AND discount_amount <= subtotal_amount"
            " AND net_amount = subtotal_amount - discount_amount AND tax_amount >= 0"
            " AND total_amount = net_amount + tax_amount",
            name="amounts",
        ),
        CheckConstraint("(status = 'succeeded') = (order_id IS NOT NULL)", name="order_when_succeeded"),
        CheckConstraint(
            "(product_id IS NULL) = wallet_top_up AND (product_price_id IS NULL) = wallet_top_up AND (NOT wallet_top_up OR customer_id IS NOT NULL)",
            name="product_or_wallet_top_up",
        ),
        Index("ix_checkouts_client_secret", "client_secret", unique=True),
        Index("ix_checkouts_organization_id_created_at", "organization_id", "created_at", "id"),
        Index("ix_checkouts_expires_at_open", "expires_at", postgresql_where=text("status IN ('open', 'failed')")),
    )

    status: Mapped[str] = mapped_column(String(16), nullable=False, default=CheckoutStatus.open.value)
    client_secret: Mapped[str] = mapped_column(String(128), nullable=False)
    payment_processor: Mapped[str] = mapped_column(String(16), nullable=False)
    expires_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), nullable=False)

    # A wallet top-up has neither (`wallet_top_up`); every other checkout has both.
    product_id: Mapped[uuid.UUID | None] = mapped_column(Uuid, ForeignKey("products.id", ondelete="RESTRICT"), nullable=True, index=True)
    product_price_id: Mapped[uuid.UUID | None] = mapped_column(Uuid, ForeignKey("product_prices.id", ondelete="RESTRICT"), nullable=True)
    wallet_top_up: Mapped[bool] = mapped_column(Boolean, nullable=False, default=False, server_default=false())
    currency: Mapped[str] = mapped_column(String(3), nullable=False)
    seats: Mapped[int | None] = mapped_column(Integer, nullable=True)
    # The amount chosen for a pay-what-you-want (custom) price.
    custom_amount: Mapped[int | None] = mapped_column(BigInteger, nullable=True)
    discount_id: Mapped[uuid.UUID | None] = mapped_column(Uuid, ForeignKey("discounts.id", ondelete="RESTRICT"), nullable=True)
    trial_days: Mapped[int | None] = mapped_column(Integer, nullable=True)  # a trial of the product's length, when it allows one

    subtotal_amount: Mapped[int] = mapped_column(BigInteger, nullable=False, default=0)
    discount_amount: Mapped[int] = mapped_column(BigInteger, nullable=False, default=0)
    net_amount: Mapped[int] = mapped_column(BigInteger, nullable=False, default=0)
    tax_amount: Mapped[int] = mapped_column(BigInteger, nullable=False, default=0)
    total_amount: Mapped[int] = mapped_column(BigInteger, nullable=False, default=0)
    tax_basis_points: Mapped[int] = mapped_column(Integer, nullable=False, default=0)

    customer_id: Mapped[uuid.UUID | None] = mapped_column(Uuid, ForeignKey("customers.id", ondelete="RESTRICT"), nullable=True, index=True)
    customer_type: Mapped[str | None] = mapped_column(String(16), nullable=True)
    customer_email: Mapped[str | None] = mapped_column(String(320), nullable=True)
    customer_name: Mapped[str | None] = mapped_column(String(256), nullable=True)
    customer_billing_name: Mapped[str | None] = mapped_column(String(256), nullable=True)
    customer_billing_address: Mapped[dict[str, Any] | None] = mapped_column(JSONB(none_as_null=True), nullable=True)
    customer_tax_id: Mapped[str | None] = mapped_column(String(64), nullable=True)
    customer_external_id: Mapped[str | None] = mapped_column(String(256), nullable=True)

    # Payment attempts: each confirmation is one, with its own processor idempotency key.
    payment_attempts: Mapped[int] = mapped_column(Integer, nullable=False, default=0)
    payment_id: Mapped[str | None] = mapped_column(String(255), nullable=True)  # Stripe: the PaymentIntent
    # While CONFIRMED and the customer must act (3-D Secure): the PaymentIntent's client secret,
    # for Stripe.js `handleNextAction` in the customer's browser.
    payment_client_secret: Mapped[str | None] = mapped_column(String(255), nullable=True)
    failure_code: Mapped[str | None] = mapped_column(String(128), nullable=True)
    failure_message: Mapped[str | None] = mapped_column(String(1000), nullable=True)
    order_id: Mapped[uuid.UUID | None] = mapped_column(Uuid, ForeignKey("orders.id", ondelete="RESTRICT"), nullable=True)
    confirmed_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), nullable=True)
    succeeded_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), nullable=True)
    user_metadata: Mapped[dict[str, Any]] = mapped_column("metadata", JSONB, nullable=False, default=dict)

    @property
    def is_payable(self) -> bool:
        return self.status in (CheckoutStatus.open.value, CheckoutStatus.failed.value)


class PaymentMethod(TenantModel):
    """A customer's payment method saved with a processor (at checkout), for later off-session
    charges (renewals)."""

    __tablename__ = "payment_methods"
    __table_args__ = (Index("ix_payment_methods_processor_processor_id", "organization_id", "processor", "processor_id", unique=True),)

    customer_id: Mapped[uuid.UUID] = mapped_column(Uuid, ForeignKey("customers.id", ondelete="CASCADE"), nullable=False, index=True)
    processor: Mapped[str] = mapped_column(String(16), nullable=False)
    processor_id: Mapped[str] = mapped_column(String(255), nullable=False)
    processor_customer_id: Mapped[str] = mapped_column(String(255), nullable=False)
    brand: Mapped[str | None] = mapped_column(String(32), nullable=True)
    last4: Mapped[str | None] = mapped_column(String(4), nullable=True)
