from __future__ import annotations

import enum
from typing import Any

from sqlalchemy import CheckConstraint, Index, String, text
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.orm import Mapped, mapped_column

from app.kit.models import SoftDeleteMixin, TenantModel


class CustomerType(str, enum.Enum):
    individual = "individual"
    business = "business"


class Customer(SoftDeleteMixin, TenantModel):
    """The paying entity: an individual or a business (which has members)."""

    __tablename__ = "customers"
    __table_args__ = (
        CheckConstraint("type IN ('individual', 'business')", name="type"),
        Index(
            "ix_customers_organization_id_external_id",
            "organization_id",
            "external_id",
            unique=True,
            postgresql_where=text("deleted_at IS NULL"),
        ),
        Index("ix_customers_organization_id_created_at", "organization_id", "created_at", "id"),
        Index("ix_customers_organization_id_email", "organization_id", text("lower(email)")),
    )

    type: Mapped[str] = mapped_column(String(16), nullable=False)
    external_id: Mapped[str | None] = mapped_column(String(256), nullable=True)
    email: Mapped[str] = mapped_column(String(320), nullable=False)
    name: Mapped[str | None] = mapped_column(String(256), nullable=True)
    billing_name: Mapped[str | None] = mapped_column(String(256), nullable=True)
    billing_address: Mapped[dict[str, Any] | None] = mapped_column(JSONB, nullable=True)
    tax_id: Mapped[str | None] = mapped_column(String(64), nullable=True)
    # The customer's Stripe customer, created at its first Stripe checkout.
    stripe_customer_id: Mapped[str | None] = mapped_column(String(255), nullable=True)
    user_metadata: Mapped[dict[str, Any]] = mapped_column("metadata", JSONB, nullable=False, default=dict)

    @property
    def is_business(self) -> bool:
        return self.type == CustomerType.business.value
