from __future__ import annotations

import uuid
from datetime import datetime
from decimal import Decimal

from sqlalchemy import BigInteger, Boolean, DateTime, ForeignKey, Index, Numeric, String, Text, Uuid
from sqlalchemy.orm import Mapped, mapped_column

from app.kit.models import TenantModel

QUANTITY = Numeric(38, 12)


class CustomerMeterState(TenantModel):
    """How far the meter job has read a customer's events: every event of a transaction whose
    id is below `watermark` has been counted."""

    __tablename__ = "customer_meter_states"

    customer_id: Mapped[uuid.UUID] = mapped_column(
        Uuid, ForeignKey("customers.id", ondelete="CASCADE"), nullable=False, unique=True
    )
    watermark: Mapped[int] = mapped_column(BigInteger, nullable=False, default=0)


class CustomerMeter(TenantModel):
    """A customer's running totals for one meter, kept current by the meter job.

    `consumed` follows the meter's aggregation over the customer's matching events since
    `last_reset_at`; `credited` sums the credits granted since then; balance = credited - consumed.
    `event_count`, `value_sum`, `value_max`, `value_min`, `distinct_count` are the parts the
    aggregations are made of, so that new events can be added without reading the old ones.
    """

    __tablename__ = "customer_meters"
    __table_args__ = (Index("ix_customer_meters_customer_id_meter_id", "customer_id", "meter_id", unique=True),)

    customer_id: Mapped[uuid.UUID] = mapped_column(Uuid, ForeignKey("customers.id", ondelete="CASCADE"), nullable=False)
    meter_id: Mapped[uuid.UUID] = mapped_column(Uuid, ForeignKey("meters.id", ondelete="CASCADE"), nullable=False, index=True)
    event_count: Mapped[int] = mapped_column(BigInteger, nullable=False, default=0)
    value_count: Mapped[int] = mapped_column(BigInteger, nullable=False, default=0)
    value_sum: Mapped[Decimal] = mapped_column(QUANTITY, nullable=False, default=0)
    value_max: Mapped[Decimal | None] = mapped_column(QUANTITY, nullable=True)
    value_min: Mapped[Decimal | None] = mapped_column(QUANTITY, nullable=True)
    distinct_count: Mapped[int] = mapped_column(BigInteger, nullable=False, default=0)
    consumed: Mapped[Decimal] = mapped_column(QUANTITY, nullable=False, default=0)
    credited: Mapped[Decimal] = mapped_column(QUANTITY, nullable=False, default=0)
    last_reset_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), nullable=True)
    status: Mapped[str] = mapped_column(String(16), nullable=False, default="ok")
    # set when the meter's definition or the customer's external id changed: the next update
    # counts this meter again from all events (keeping `status`, so only real crossings notify)
    needs_recount: Mapped[bool] = mapped_column(Boolean, nullable=False, default=False, server_default="false")


class CustomerMeterMember(TenantModel):
    """The same totals for the events one member of the customer used."""

    __tablename__ = "customer_meter_members"
    __table_args__ = (
        Index("ix_customer_meter_members_customer_id_meter_id_member_id", "customer_id", "meter_id", "member_id", unique=True),
    )

    customer_id: Mapped[uuid.UUID] = mapped_column(Uuid, ForeignKey("customers.id", ondelete="CASCADE"), nullable=False)
    meter_id: Mapped[uuid.UUID] = mapped_column(Uuid, ForeignKey("meters.id", ondelete="CASCADE"), nullable=False)
    member_id: Mapped[uuid.UUID] = mapped_column(Uuid, ForeignKey("members.id", ondelete="CASCADE"), nullable=False)
    event_count: Mapped[int] = mapped_column(BigInteger, nullable=False, default=0)
    value_count: Mapped[int] = mapped_column(BigInteger, nullable=False, default=0)
    value_sum: Mapped[Decimal] = mapped_column(QUANTITY, nullable=False, default=0)
    value_max: Mapped[Decimal | None] = mapped_column(QUANTITY, nullable=True)
    value_min: Mapped[Decimal | None] = mapped_column(QUANTITY, nullable=True)
    distinct_count: Mapped[int] = mapped_column(BigInteger, nullable=False, default=0)
    consumed: Mapped[Decimal] = mapped_column(QUANTITY, nullable=False, default=0)


class MeterDistinctValue(TenantModel):
    """The distinct values a `unique` meter has seen for a customer (member_id NULL) or member."""

    __tablename__ = "meter_distinct_values"
    __table_args__ = (
        Index(
            "ix_meter_distinct_values_scope_value",
            "customer_id",
            "meter_id",
            "scope",
            "value",
            unique=True,
        ),
    )

    customer_id: Mapped[uuid.UUID] = mapped_column(Uuid, ForeignKey("customers.id", ondelete="CASCADE"), nullable=False)
    meter_id: Mapped[uuid.UUID] = mapped_column(Uuid, ForeignKey("meters.id", ondelete="CASCADE"), nullable=False)
    scope: Mapped[uuid.UUID] = mapped_column(Uuid, nullable=False)  # the member id, or the customer id for the total
    value: Mapped[str] = mapped_column(Text, nullable=False)
