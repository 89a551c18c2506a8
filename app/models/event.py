from __future__ import annotations

import enum
import uuid
from datetime import datetime
from typing import Any

from sqlalchemy import CheckConstraint, DateTime, ForeignKey, Index, String, Uuid, func, text
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.orm import Mapped, mapped_column
from sqlalchemy.types import UserDefinedType

from app.kit.models import Base


class XID8(UserDefinedType):
    """PostgreSQL's 64-bit transaction id; read it as `xid::text::bigint`."""

    cache_ok = True

    def get_col_spec(self, **_kw: Any) -> str:
        return "xid8"


class EventSource(str, enum.Enum):
    user = "user"  # sent by the merchant
    system = "system"  # written by Kassa: credits, period resets


class Event(Base):
    """A usage event. Append-only: never updated, never deleted.

    `customer_id` is set when the customer was known at ingestion; otherwise the event keeps
    `external_customer_id` and counts for the customer that later gets that external id.
    `xid` is the inserting transaction, which lets the meter job take each event exactly once
    even when transactions commit out of order.
    """

    __tablename__ = "events"
    __table_args__ = (
        CheckConstraint("source IN ('user', 'system')", name="source"),
        CheckConstraint("customer_id IS NOT NULL OR external_customer_id IS NOT NULL", name="customer"),
        Index(
            "ix_events_organization_id_external_id",
            "organization_id",
            "external_id",
            unique=True,
            postgresql_where=text("external_id IS NOT NULL"),
        ),
        Index("ix_events_customer_id_xid", "customer_id", "xid"),
        Index(
            "ix_events_organization_id_external_customer_id_xid",
            "organization_id",
            "external_customer_id",
            "xid",
            postgresql_where=text("customer_id IS NULL"),
        ),
        Index("ix_events_organization_id_timestamp", "organization_id", "timestamp"),
        # credits and resets: few rows among a customer's many usage events
        Index("ix_events_customer_id_system", "customer_id", "xid", postgresql_where=text("source = 'system'")),
    )

    id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True, server_default=func.gen_random_uuid())
    organization_id: Mapped[uuid.UUID] = mapped_column(Uuid, ForeignKey("organizations.id", ondelete="CASCADE"), nullable=False)
    name: Mapped[str] = mapped_column(String(256), nullable=False)
    timestamp: Mapped[datetime] = mapped_column(DateTime(timezone=True), nullable=False)
    customer_id: Mapped[uuid.UUID | None] = mapped_column(Uuid, ForeignKey("customers.id", ondelete="CASCADE"), nullable=True)
    external_customer_id: Mapped[str | None] = mapped_column(String(256), nullable=True)
    member_id: Mapped[uuid.UUID | None] = mapped_column(Uuid, ForeignKey("members.id", ondelete="CASCADE"), nullable=True)
    external_member_id: Mapped[str | None] = mapped_column(String(256), nullable=True)
    external_id: Mapped[str | None] = mapped_column(String(256), nullable=True)
    source: Mapped[str] = mapped_column(String(16), nullable=False, server_default="user")
    user_metadata: Mapped[dict[str, Any]] = mapped_column("metadata", JSONB, nullable=False, server_default=text("'{}'::jsonb"))
    xid: Mapped[int] = mapped_column(XID8, nullable=False, server_default=text("pg_current_xact_id()"))
    # set from the clock by INSERT_BATCH (app/events/repository.py); the server default is only a fallback
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), nullable=False, server_default=func.now())
    modified_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), nullable=False, server_default=func.now())
