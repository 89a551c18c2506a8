"""Subscriptions and their billing entries."""

from __future__ import annotations

import enum
import uuid
from datetime import datetime
from decimal import Decimal
from typing import Any

from sqlalchemy import BigInteger, Boolean, CheckConstraint, DateTime, ForeignKey, Index, Integer, Numeric, String, Uuid, false, text
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.orm import Mapped, mapped_column

from app.kit.models import TenantModel


class SubscriptionStatus(str, enum.Enum):
    incomplete = "incomplete"  # created, its first payment not made
    trialing = "trialing"
    active = "active"
    past_due = "past_due"  # a renewal's payment failed; retried (dunning)
    canceled = "canceled"
    unpaid = "unpaid"  # dunning gave up, the subscription is kept (organization's choice)
    paused = "paused"  # paused at a period's end: not usable, not billed, until resumed


# The statuses a subscription renews in: its period end makes it due. Not `paused`: a paused
# subscription has no running period; `resumeSubscription` starts one.
RENEWING = (SubscriptionStatus.trialing.value, SubscriptionStatus.active.value, SubscriptionStatus.past_due.value)


class Subscription(TenantModel):
    """A customer's recurring purchase of a product price, billed each period.

    Periods are anchored to `anchor_at` (the first paid period's start: the end of the trial, if
    any): period n runs from anchor + n intervals to anchor + (n + 1) intervals, each computed
    from the anchor, so the day of the month comes back after a short month (Jan 31 -> Feb 28 ->
    Mar 31; app/kit/periods.py). `period_number` is the current period's n, -1 during a trial;
    a renewal moves it by one, once (the renewal's row lock and
    conditional update make a second worker, or the same job run again, find nothing to do)."""

    __tablename__ = "subscriptions"
    __table_args__ = (
        CheckConstraint("status IN ('incomplete', 'trialing', 'active', 'past_due', 'canceled', 'unpaid', 'paused')", name="status"),
        CheckConstraint("recurring_interval IN ('month', 'year')", name="recurring_interval"),
        CheckConstraint("seats IS NULL OR seats >= 1", name="seats"),
        CheckConstraint("amount >= 0", name="amount"),
        CheckConstraint("current_period_end > current_period_start", name="period"),
        CheckConstraint("period_number >= -1", name="period_number"),
        Index("ix_subscriptions_organization_id_created_at", "organization_id", "created_at", "id"),
        Index("ix_subscriptions_checkout_id", "checkout_id", unique=True, postgresql_where=text("checkout_id IS NOT NULL")),
        # The renewal sweep's question: which renewing subscriptions are due?
        Index(
            "ix_subscriptions_organization_id_current_period_end_renewing",
            "organization_id",
            "current_period_end",
            postgresql_where=text("status IN ('trialing', 'active', 'past_due')"),
        ),
    )

    customer_id: Mapped[uuid.UUID] = mapped_column(Uuid, ForeignKey("customers.id", ondelete="RESTRICT"), nullable=False, index=True)
    member_id: Mapped[uuid.UUID | None] = mapped_column(Uuid, ForeignKey("members.id", ondelete="SET NULL"), nullable=True)
    product_id: Mapped[uuid.UUID] = mapped_column(Uuid, ForeignKey("products.id", ondelete="RESTRICT"), nullable=False, index=True)
    product_price_id: Mapped[uuid.UUID] = mapped_column(Uuid, ForeignKey("product_prices.id", ondelete="RESTRICT"), nullable=False)
    checkout_id: Mapped[uuid.UUID | None] = mapped_column(Uuid, nullable=True)  # no foreign key: checkouts point at orders, orders here
    discount_id: Mapped[uuid.UUID | None] = mapped_column(Uuid, ForeignKey("discounts.id", ondelete="RESTRICT"), nullable=True)
    payment_method_id: Mapped[uuid.UUID | None] = mapped_column(Uuid, ForeignKey("payment_methods.id", ondelete="SET NULL"), nullable=True)
    processor: Mapped[str] = mapped_column(String(16), nullable=False)
    status: Mapped[str] = mapped_column(String(16), nullable=False)
    currency: Mapped[str] = mapped_column(String(3), nullable=False)
    # What one period of the base price costs (its unit amount; times `seats` for a per-seat price).
    amount: Mapped[int] = mapped_column(BigInteger, nullable=False)
    seats: Mapped[int | None] = mapped_column(Integer, nullable=True)
    recurring_interval: Mapped[str] = mapped_column(String(16), nullable=False)
    anchor_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), nullable=False)
    period_number: Mapped[int] = mapped_column(Integer, nullable=False, default=0)
    current_period_start: Mapped[datetime] = mapped_column(DateTime(timezone=True), nullable=False)
    current_period_end: Mapped[datetime] = mapped_column(DateTime(timezone=True), nullable=False)
    trial_start: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), nullable=True)
    trial_end: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), nullable=True)
    started_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), nullable=False)
    cancel_at_period_end: Mapped[bool] = mapped_column(Boolean, nullable=False, default=False, server_default=false())
    # Paused at the end of the current period instead of renewing (`pauseSubscription`).
    pause_at_period_end: Mapped[bool] = mapped_column(Boolean, nullable=False, default=False, server_default=false())
    paused_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), nullable=True)
    canceled_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), nullable=True)
    ended_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), nullable=True)
    past_due_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), nullable=True)
    # The last renewal's transaction watermark (pg_snapshot_xmin): usage events with a smaller
    # xid were billed by it (or earlier); later ones, timestamped in a billed period, are billed
    # late by the next renewal (app/subscriptions/metered.py). NULL: no renewal yet.
    metered_watermark: Mapped[int | None] = mapped_column(BigInteger, nullable=True)
    # No event of the customer timestamped in the current period or later has an xid below this
    # (app/subscriptions/metered.py: the floor): billing reads the period's events from it.
    metered_floor: Mapped[int | None] = mapped_column(BigInteger, nullable=True)
    user_metadata: Mapped[dict[str, Any]] = mapped_column("metadata", JSONB, nullable=False, default=dict)


class BillingEntryType(str, enum.Enum):
    cycle = "cycle"
    proration = "proration"
    metered = "metered"
    seats_increase = "seats_increase"
    seats_decrease = "seats_decrease"


class BillingEntry(TenantModel):
    """One thing a subscription is billed (a `debit`) or credited (a `credit`) for, over a span
    of time, and the order that billed it (set when the order is made).

    A `metered` entry bills a metered price's usage over one closed period (`start_at`,
    `end_at`): `meter_id`, the billed `quantity` of units and, for a business customer, the
    `member` whose usage it is (one entry per member and one without, for usage without a
    member). The entries of a period and price add up to what was billed for it."""

    __tablename__ = "billing_entries"
    __table_args__ = (
        CheckConstraint("type IN ('cycle', 'proration', 'metered', 'seats_increase', 'seats_decrease')", name="type"),
        CheckConstraint("direction IN ('debit', 'credit')", name="direction"),
        CheckConstraint("amount >= 0", name="amount"),
        CheckConstraint("end_at >= start_at", name="span"),
        Index("ix_billing_entries_subscription_id_start_at", "subscription_id", "start_at"),
        # A period's cycle entry is written once, whatever runs the renewal twice.
        Index("ix_billing_entries_cycle_once", "subscription_id", "start_at", unique=True, postgresql_where=text("type = 'cycle'")),
        Index("ix_billing_entries_order_id", "order_id"),
        # The entries the next order of a subscription bills (prorations written with no order).
        Index("ix_billing_entries_pending", "subscription_id", postgresql_where=text("order_id IS NULL")),
        CheckConstraint("(type = 'metered') = (meter_id IS NOT NULL) AND (type = 'metered') = (quantity IS NOT NULL)", name="metered"),
        CheckConstraint("quantity IS NULL OR quantity >= 0", name="quantity"),
    )

    subscription_id: Mapped[uuid.UUID] = mapped_column(Uuid, ForeignKey("subscriptions.id", ondelete="CASCADE"), nullable=False)
    order_id: Mapped[uuid.UUID | None] = mapped_column(Uuid, ForeignKey("orders.id", ondelete="RESTRICT"), nullable=True)
    product_price_id: Mapped[uuid.UUID | None] = mapped_column(Uuid, ForeignKey("product_prices.id", ondelete="RESTRICT"), nullable=True)
    type: Mapped[str] = mapped_column(String(32), nullable=False)
    direction: Mapped[str] = mapped_column(String(8), nullable=False)
    amount: Mapped[int] = mapped_column(BigInteger, nullable=False)
    currency: Mapped[str] = mapped_column(String(3), nullable=False)
    start_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), nullable=False)
    end_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), nullable=False)
    # metered entries
    meter_id: Mapped[uuid.UUID | None] = mapped_column(Uuid, ForeignKey("meters.id", ondelete="RESTRICT"), nullable=True)
    member_id: Mapped[uuid.UUID | None] = mapped_column(Uuid, ForeignKey("members.id", ondelete="SET NULL"), nullable=True)
    quantity: Mapped[Decimal | None] = mapped_column(Numeric(30, 12), nullable=True)
