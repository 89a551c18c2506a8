"""Orders, their items and refunds, the transaction ledger, and invoice number counters."""

from __future__ import annotations

import enum
import uuid
from datetime import datetime
from typing import Any

from sqlalchemy import BigInteger, Boolean, CheckConstraint, DateTime, ForeignKey, Index, Integer, String, Uuid, false, text
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.orm import Mapped, mapped_column

from app.kit.ledger import Ledger, register
from app.kit.models import Base, TenantModel


class OrderStatus(str, enum.Enum):
    pending = "pending"  # created, not paid yet
    paid = "paid"
    refunded = "refunded"  # all of it
    partially_refunded = "partially_refunded"
    void = "void"  # never to be paid


class BillingReason(str, enum.Enum):
    purchase = "purchase"
    subscription_create = "subscription_create"
    subscription_cycle = "subscription_cycle"
    subscription_update = "subscription_update"
    wallet_top_up = "wallet_top_up"  # money into a customer's wallet (a checkout or an auto top-up)


class Order(TenantModel):
    """A billing event: what a customer owes and paid for a purchase or a subscription period.

    Amounts follow seed 001 (app/discounts/amounts.py computes them):
    net = subtotal - discount; total = net + tax; due = max(0, total - applied_balance).
    `refunded_amount` (and its tax part) only grows, never past what was paid. `balance_amount`
    is the cached balance of the order's transactions (the ledger, app/orders/ledger.py): what
    the merchant holds for this order after fees, refunds and disputes."""

    __tablename__ = "orders"
    __table_args__ = (
        CheckConstraint("status IN ('pending', 'paid', 'refunded', 'partially_refunded', 'void')", name="status"),
        CheckConstraint(
            "billing_reason IN ('purchase', 'subscription_create', 'subscription_cycle', 'subscription_update', 'wallet_top_up')", name="billing_reason"
        ),
        CheckConstraint(
            "subtotal_amount >= 0 AND discount_amount >= 0 AND discount_amount <= subtotal_amount"
            " AND net_amount = subtotal_amount - discount_amount AND tax_amount >= 0"
            " AND total_amount = net_amount + tax_amount AND applied_balance_amount >= 0"
            " AND due_amount = GREATEST(0, total_amount - applied_balance_amount)",
            name="amounts",
        ),
        CheckConstraint(
            "refunded_amount >= 0 AND refunded_tax_amount >= 0 AND refunded_tax_amount <= refunded_amount"
            " AND refunded_amount <= due_amount AND refunded_tax_amount <= tax_amount",
            name="refunds",
        ),
        CheckConstraint("invoice_number >= 1", name="invoice_number"),
        Index("ix_orders_organization_id_invoice_number", "organization_id", "invoice_number", unique=True),
        Index("ix_orders_organization_id_created_at", "organization_id", "created_at", "id"),
        Index("ix_orders_checkout_id", "checkout_id", unique=True, postgresql_where=text("checkout_id IS NOT NULL")),
        Index("ix_orders_payment_id", "organization_id", "payment_id", postgresql_where=text("payment_id IS NOT NULL")),
        Index("ix_orders_charge_id", "charge_id", postgresql_where=text("charge_id IS NOT NULL")),
        Index(
            "ix_orders_organization_id_next_payment_attempt_at",
            "organization_id",
            "next_payment_attempt_at",
            postgresql_where=text("next_payment_attempt_at IS NOT NULL"),
        ),
        Index("ix_orders_subscription_id_created_at", "subscription_id", "created_at", postgresql_where=text("subscription_id IS NOT NULL")),
    )

    customer_id: Mapped[uuid.UUID] = mapped_column(Uuid, ForeignKey("customers.id", ondelete="RESTRICT"), nullable=False, index=True)
    product_id: Mapped[uuid.UUID | None] = mapped_column(Uuid, ForeignKey("products.id", ondelete="RESTRICT"), nullable=True, index=True)
    checkout_id: Mapped[uuid.UUID | None] = mapped_column(Uuid, nullable=True)
    subscription_id: Mapped[uuid.UUID | None] = mapped_column(Uuid, ForeignKey("subscriptions.id", ondelete="RESTRICT"), nullable=True)
    discount_id: Mapped[uuid.UUID | None] = mapped_column(Uuid, ForeignKey("discounts.id", ondelete="RESTRICT"), nullable=True)
    billing_reason: Mapped[str] = mapped_column(String(32), nullable=False)
    status: Mapped[str] = mapped_column(String(32), nullable=False)
    invoice_number: Mapped[int] = mapped_column(Integer, nullable=False)
    currency: Mapped[str] = mapped_column(String(3), nullable=False)
    subtotal_amount: Mapped[int] = mapped_column(BigInteger, nullable=False)
    discount_amount: Mapped[int] = mapped_column(BigInteger, nullable=False)
    net_amount: Mapped[int] = mapped_column(BigInteger, nullable=False)
    tax_amount: Mapped[int] = mapped_column(BigInteger, nullable=False)
    total_amount: Mapped[int] = mapped_column(BigInteger, nullable=False)
    applied_balance_amount: Mapped[int] = mapped_column(BigInteger, nullable=False, default=0)
    due_amount: Mapped[int] = mapped_column(BigInteger, nullable=False)
    refunded_amount: Mapped[int] = mapped_column(BigInteger, nullable=False, default=0)
    refunded_tax_amount: Mapped[int] = mapped_column(BigInteger, nullable=False, default=0)
    balance_amount: Mapped[int] = mapped_column(BigInteger, nullable=False, default=0)
    tax_basis_points: Mapped[int] = mapped_column(Integer, nullable=False, default=0)
    tax_country: Mapped[str | None] = mapped_column(String(2), nullable=True)
    billing_name: Mapped[str | None] = mapped_column(String(256), nullable=True)
    billing_address: Mapped[dict[str, Any] | None] = mapped_column(JSONB(none_as_null=True), nullable=True)
    processor: Mapped[str] = mapped_column(String(16), nullable=False)
    payment_id: Mapped[str | None] = mapped_column(String(255), nullable=True)
    charge_id: Mapped[str | None] = mapped_column(String(255), nullable=True)
    paid_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), nullable=True)
    # dunning (app/subscriptions/dunning.py): charges tried, and when the next one is due
    payment_attempts: Mapped[int] = mapped_column(Integer, nullable=False, default=0, server_default="0")
    next_payment_attempt_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), nullable=True)
    last_payment_failure: Mapped[str | None] = mapped_column(String(128), nullable=True)
    user_metadata: Mapped[dict[str, Any]] = mapped_column("metadata", JSONB, nullable=False, default=dict)

    @property
    def refundable_amount(self) -> int:
        if self.status not in (OrderStatus.paid.value, OrderStatus.partially_refunded.value):
            return 0
        return self.due_amount - self.refunded_amount


class OrderItem(TenantModel):
    """One line of an order: `quantity` x `unit_amount` = `amount` (minor units)."""

    __tablename__ = "order_items"
    __table_args__ = (
        CheckConstraint("quantity >= 1 AND amount = quantity * unit_amount", name="amount"),
        Index("ix_order_items_order_id", "order_id"),
    )

    order_id: Mapped[uuid.UUID] = mapped_column(Uuid, ForeignKey("orders.id", ondelete="CASCADE"), nullable=False)
    product_price_id: Mapped[uuid.UUID | None] = mapped_column(Uuid, ForeignKey("product_prices.id", ondelete="RESTRICT"), nullable=True)
    label: Mapped[str] = mapped_column(String(512), nullable=False)
    quantity: Mapped[int] = mapped_column(Integer, nullable=False, default=1)
    unit_amount: Mapped[int] = mapped_column(BigInteger, nullable=False)
    amount: Mapped[int] = mapped_column(BigInteger, nullable=False)
    proration: Mapped[bool] = mapped_column(Boolean, nullable=False, default=False, server_default=false())


class RefundStatus(str, enum.Enum):
    pending = "pending"
    succeeded = "succeeded"
    failed = "failed"
    canceled = "canceled"


class RefundReason(str, enum.Enum):
    duplicate = "duplicate"
    fraudulent = "fraudulent"
    customer_request = "customer_request"
    service_disruption = "service_disruption"
    satisfaction_guarantee = "satisfaction_guarantee"
    other = "other"


class Refund(TenantModel):
    """Money given back on an order: `amount` minor units, of which `tax_amount` is tax."""

    __tablename__ = "refunds"
    __table_args__ = (
        CheckConstraint("status IN ('pending', 'succeeded', 'failed', 'canceled')", name="status"),
        CheckConstraint(
            "reason IN ('duplicate', 'fraudulent', 'customer_request', 'service_disruption', 'satisfaction_guarantee', 'other')",
            name="reason",
        ),
        CheckConstraint("amount > 0 AND tax_amount >= 0 AND tax_amount <= amount", name="amounts"),
        Index("ix_refunds_order_id", "order_id"),
        Index("ix_refunds_processor_refund_id", "organization_id", "processor", "processor_refund_id", unique=True),
        Index("ix_refunds_organization_id_created_at", "organization_id", "created_at", "id"),
    )

    order_id: Mapped[uuid.UUID] = mapped_column(Uuid, ForeignKey("orders.id", ondelete="RESTRICT"), nullable=False)
    customer_id: Mapped[uuid.UUID] = mapped_column(Uuid, ForeignKey("customers.id", ondelete="RESTRICT"), nullable=False, index=True)
    status: Mapped[str] = mapped_column(String(16), nullable=False)
    reason: Mapped[str] = mapped_column(String(32), nullable=False)
    comment: Mapped[str | None] = mapped_column(String(1000), nullable=True)
    amount: Mapped[int] = mapped_column(BigInteger, nullable=False)
    tax_amount: Mapped[int] = mapped_column(BigInteger, nullable=False)
    currency: Mapped[str] = mapped_column(String(3), nullable=False)
    revoke_benefits: Mapped[bool] = mapped_column(Boolean, nullable=False, default=False)
    processor: Mapped[str] = mapped_column(String(16), nullable=False)
    processor_refund_id: Mapped[str] = mapped_column(String(255), nullable=False)


class TransactionType(str, enum.Enum):
    payment = "payment"  # the customer paid (+)
    processor_fee = "processor_fee"  # the processor's fee (-)
    refund = "refund"  # money given back (-)
    dispute = "dispute"  # a chargeback took it back (-)
    dispute_reversal = "dispute_reversal"  # a won dispute brought it back (+)
    balance = "balance"  # the customer's balance applied to the order (+)


class Transaction(Base):
    """The transaction ledger: every money movement of an order, signed from the merchant's side,
    append-only (a trigger refuses UPDATE and DELETE). `orders.balance_amount` caches each
    order's sum (app/kit/ledger.py). A processor's object (charge, fee, refund, dispute) is
    recorded once: (`type`, `processor`, `processor_id`) is unique, so a repeated Stripe event
    writes nothing."""

    __tablename__ = "transactions"
    __table_args__ = (
        CheckConstraint(
            "type IN ('payment', 'processor_fee', 'refund', 'dispute', 'dispute_reversal', 'balance')", name="type"
        ),
        CheckConstraint(
            "(type IN ('payment', 'dispute_reversal', 'balance') AND amount >= 0)"
            " OR (type IN ('processor_fee', 'refund', 'dispute') AND amount <= 0)",
            name="sign",
        ),
        Index("ix_transactions_processor_id", "organization_id", "type", "processor", "processor_id", unique=True),
        Index("ix_transactions_organization_id_created_at", "organization_id", "created_at", "id"),
        Index("ix_transactions_order_id", "order_id"),
    )

    id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True, default=uuid.uuid4)
    organization_id: Mapped[uuid.UUID] = mapped_column(Uuid, ForeignKey("organizations.id", ondelete="RESTRICT"), nullable=False)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), nullable=False)
    type: Mapped[str] = mapped_column(String(32), nullable=False)
    processor: Mapped[str] = mapped_column(String(16), nullable=False)
    processor_id: Mapped[str] = mapped_column(String(255), nullable=False)
    order_id: Mapped[uuid.UUID] = mapped_column(Uuid, ForeignKey("orders.id", ondelete="RESTRICT"), nullable=False)
    customer_id: Mapped[uuid.UUID] = mapped_column(Uuid, ForeignKey("customers.id", ondelete="RESTRICT"), nullable=False, index=True)
    refund_id: Mapped[uuid.UUID | None] = mapped_column(Uuid, ForeignKey("refunds.id", ondelete="RESTRICT"), nullable=True)
    currency: Mapped[str] = mapped_column(String(3), nullable=False)
    amount: Mapped[int] = mapped_column(BigInteger, nullable=False)
    tax_amount: Mapped[int] = mapped_column(BigInteger, nullable=False, default=0)
    description: Mapped[str | None] = mapped_column(String(512), nullable=True)


class InvoiceCounter(Base):
    """The last invoice number given in an organization: taken with a row lock in the order's
    own transaction, so numbers have no gaps (a rolled-back order gives its number back)."""

    __tablename__ = "invoice_counters"

    organization_id: Mapped[uuid.UUID] = mapped_column(Uuid, ForeignKey("organizations.id", ondelete="CASCADE"), primary_key=True)
    last_number: Mapped[int] = mapped_column(Integer, nullable=False, default=0)


TRANSACTIONS = register(
    Ledger(
        name="transactions",
        entries=Transaction.__table__,
        balances=Order.__table__,
        owner={"order_id": "id"},
        amount="amount",
        balance="balance_amount",
    )
)
