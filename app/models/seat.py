"""Seats of a per-seat subscription, held by members or offered to them by email."""

from __future__ import annotations

import enum
import uuid
from datetime import datetime

from sqlalchemy import CheckConstraint, DateTime, ForeignKey, Index, String, Uuid, text
from sqlalchemy.orm import Mapped, mapped_column

from app.kit.models import TenantModel


class SeatStatus(str, enum.Enum):
    pending = "pending"  # offered by email; claimed with its claim token
    claimed = "claimed"  # held by a member
    revoked = "revoked"


class CustomerSeat(TenantModel):
    """One of a per-seat subscription's seats, given to a member of its customer, directly or
    through an invitation by email. A pending or claimed seat counts against the subscription's
    `seats` (app/subscriptions/seats.py holds the count under the subscription's row lock)."""

    __tablename__ = "customer_seats"
    __table_args__ = (
        CheckConstraint("status IN ('pending', 'claimed', 'revoked')", name="status"),
        CheckConstraint("(status = 'claimed') <= (member_id IS NOT NULL)", name="claimed_member"),
        CheckConstraint("(status = 'pending') = (claim_token_hash IS NOT NULL)", name="pending_token"),
        Index("ix_customer_seats_subscription_id", "subscription_id"),
        Index("ix_customer_seats_member_id", "member_id"),
        Index("ix_customer_seats_claim_token_hash", "claim_token_hash", unique=True, postgresql_where=text("claim_token_hash IS NOT NULL")),
        # one live seat per member, and one pending invitation per email, in a subscription
        Index(
            "ix_customer_seats_subscription_id_member_id_live",
            "subscription_id",
            "member_id",
            unique=True,
            postgresql_where=text("status <> 'revoked' AND member_id IS NOT NULL"),
        ),
        Index(
            "ix_customer_seats_subscription_id_email_pending",
            "subscription_id",
            text("lower(email)"),
            unique=True,
            postgresql_where=text("status = 'pending'"),
        ),
    )

    subscription_id: Mapped[uuid.UUID] = mapped_column(Uuid, ForeignKey("subscriptions.id", ondelete="CASCADE"), nullable=False)
    customer_id: Mapped[uuid.UUID] = mapped_column(Uuid, ForeignKey("customers.id", ondelete="CASCADE"), nullable=False)
    member_id: Mapped[uuid.UUID | None] = mapped_column(Uuid, ForeignKey("members.id", ondelete="SET NULL"), nullable=True)
    email: Mapped[str] = mapped_column(String(320), nullable=False)
    status: Mapped[str] = mapped_column(String(16), nullable=False)
    claim_token_hash: Mapped[str | None] = mapped_column(String(64), nullable=True)
    invited_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), nullable=True)
    claimed_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), nullable=True)
    revoked_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), nullable=True)
