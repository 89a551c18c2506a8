from __future__ import annotations

import enum
import uuid
from datetime import datetime
from typing import Any

from sqlalchemy import (
    ARRAY,
    BigInteger,
    Boolean,
    CheckConstraint,
    DateTime,
    ForeignKey,
    Identity,
    Index,
    Integer,
    String,
    Text,
    Uuid,
    text,
)
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.orm import Mapped, mapped_column

from app.kit.models import SoftDeleteMixin, TenantModel


class WebhookEventType(str, enum.Enum):
    """Every event type Kassa emits. Endpoints subscribe to a subset."""

    customer_created = "customer.created"
    customer_updated = "customer.updated"
    customer_deleted = "customer.deleted"
    member_created = "member.created"
    member_updated = "member.updated"
    member_deleted = "member.deleted"
    customer_state_changed = "customer.state_changed"
    checkout_created = "checkout.created"
    checkout_updated = "checkout.updated"
    checkout_expired = "checkout.expired"
    order_created = "order.created"
    order_paid = "order.paid"
    order_updated = "order.updated"
    order_refunded = "order.refunded"
    refund_created = "refund.created"
    subscription_created = "subscription.created"
    subscription_updated = "subscription.updated"
    subscription_active = "subscription.active"
    subscription_canceled = "subscription.canceled"
    subscription_uncanceled = "subscription.uncanceled"
    subscription_revoked = "subscription.revoked"
    subscription_past_due = "subscription.past_due"
    subscription_cycled = "subscription.cycled"
    subscription_paused = "subscription.paused"
    subscription_resumed = "subscription.resumed"
    customer_seat_assigned = "customer_seat.assigned"
    customer_seat_claimed = "customer_seat.claimed"
    customer_seat_revoked = "customer_seat.revoked"
    wallet_balance_updated = "wallet.balance_updated"
    wallet_low_balance = "wallet.low_balance"
    wallet_depleted = "wallet.depleted"
    wallet_auto_top_up_succeeded = "wallet.auto_top_up_succeeded"
    wallet_auto_top_up_failed = "wallet.auto_top_up_failed"


class WebhookEndpoint(SoftDeleteMixin, TenantModel):
    """Where an organization receives its webhooks, and which event types it wants."""

    __tablename__ = "webhook_endpoints"

    url: Mapped[str] = mapped_column(String(2048), nullable=False)
    description: Mapped[str | None] = mapped_column(String(256), nullable=True)
    secret: Mapped[str] = mapped_column(String(128), nullable=False)
    event_types: Mapped[list[str]] = mapped_column(ARRAY(String(64)), nullable=False)
    enabled: Mapped[bool] = mapped_column(Boolean, nullable=False, default=True)
    consecutive_failures: Mapped[int] = mapped_column(Integer, nullable=False, default=0)
    disabled_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), nullable=True)
    disabled_reason: Mapped[str | None] = mapped_column(String(512), nullable=True)


class WebhookEvent(TenantModel):
    """The outbox: one row per change, written in the change's transaction. Append-only."""

    __tablename__ = "webhook_events"
    __table_args__ = (Index("ix_webhook_events_organization_id_sequence", "organization_id", "sequence"),)

    sequence: Mapped[int] = mapped_column(BigInteger, Identity(always=True), nullable=False, unique=True)
    type: Mapped[str] = mapped_column(String(64), nullable=False)
    payload: Mapped[dict[str, Any]] = mapped_column(JSONB, nullable=False)


class WebhookDelivery(TenantModel):
    """One event on its way to one endpoint; retried until it succeeds or runs out of tries."""

    __tablename__ = "webhook_deliveries"
    __table_args__ = (
        CheckConstraint("status IN ('pending', 'succeeded', 'failed')", name="status"),
        Index(
            "ix_webhook_deliveries_endpoint_id_pending",
            "endpoint_id",
            "sequence",
            postgresql_where=text("status = 'pending'"),
        ),
        Index("ix_webhook_deliveries_event_id", "event_id"),
    )

    event_id: Mapped[uuid.UUID] = mapped_column(Uuid, ForeignKey("webhook_events.id", ondelete="CASCADE"), nullable=False)
    endpoint_id: Mapped[uuid.UUID] = mapped_column(
        Uuid, ForeignKey("webhook_endpoints.id", ondelete="CASCADE"), nullable=False
    )
    sequence: Mapped[int] = mapped_column(BigInteger, nullable=False)
    status: Mapped[str] = mapped_column(String(16), nullable=False, default="pending")
    attempt_count: Mapped[int] = mapped_column(Integer, nullable=False, default=0)
    next_attempt_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), nullable=True)
    finished_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), nullable=True)


class WebhookDeliveryAttempt(TenantModel):
    """One HTTP request of a delivery, kept for the merchant to inspect. Append-only."""

    __tablename__ = "webhook_delivery_attempts"

    delivery_id: Mapped[uuid.UUID] = mapped_column(
        Uuid, ForeignKey("webhook_deliveries.id", ondelete="CASCADE"), nullable=False, index=True
    )
    attempted_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), nullable=False)
    succeeded: Mapped[bool] = mapped_column(Boolean, nullable=False)
    status_code: Mapped[int | None] = mapped_column(Integer, nullable=True)
    duration_ms: Mapped[int] = mapped_column(Integer, nullable=False)
    response_excerpt: Mapped[str | None] = mapped_column(Text, nullable=True)
    error: Mapped[str | None] = mapped_column(String(512), nullable=True)
