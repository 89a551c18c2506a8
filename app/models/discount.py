"""Discounts, the products they are restricted to, their redemptions, and tax rates."""

from __future__ import annotations

import enum
import uuid
from datetime import datetime

from sqlalchemy import BigInteger, CheckConstraint, DateTime, ForeignKey, Index, Integer, String, Uuid, text
from sqlalchemy.orm import Mapped, mapped_column

from app.kit.models import TenantModel


class DiscountType(str, enum.Enum):
    fixed = "fixed"
    percentage = "percentage"


class DiscountDuration(str, enum.Enum):
    once = "once"
    forever = "forever"
    repeating = "repeating"


class Discount(TenantModel):
    """An amount off (`fixed`: `amount` minor units of `currency`) or a share off (`percentage`:
    `basis_points`, 1 to 10000) of a subtotal, for one order (`once`), every order of a
    subscription (`forever`) or the first `duration_in_months` months (`repeating`).

    `redemptions_count` is moved only by the conditional update in
    app/discounts/repository.py (never above `max_redemptions`); archived, never deleted.
    """

    __tablename__ = "discounts"
    __table_args__ = (
        CheckConstraint("type IN ('fixed', 'percentage')", name="type"),
        CheckConstraint("duration IN ('once', 'forever', 'repeating')", name="duration"),
        CheckConstraint(
            "(type = 'fixed') = (amount IS NOT NULL AND currency IS NOT NULL)"
            " AND (type = 'percentage') = (basis_points IS NOT NULL)"
            " AND (amount IS NULL OR amount > 0)"
            " AND (basis_points IS NULL OR basis_points BETWEEN 1 AND 10000)",
            name="terms",
        ),
        CheckConstraint(
            "(duration = 'repeating') = (duration_in_months IS NOT NULL)"
            " AND (duration_in_months IS NULL OR duration_in_months BETWEEN 1 AND 999)",
            name="duration_in_months",
        ),
        CheckConstraint(
            "redemptions_count >= 0 AND (max_redemptions IS NULL OR (max_redemptions > 0 AND redemptions_count <= max_redemptions))",
            name="redemptions",
        ),
        CheckConstraint("starts_at IS NULL OR ends_at IS NULL OR starts_at < ends_at", name="period"),
        # A code is unique per organization, whatever its case (archived discounts included: a
        # code once given out keeps meaning one discount).
        Index("ix_discounts_organization_id_code", "organization_id", text("lower(code)"), unique=True, postgresql_where=text("code IS NOT NULL")),
        Index("ix_discounts_organization_id_created_at", "organization_id", "created_at", "id"),
    )

    name: Mapped[str] = mapped_column(String(256), nullable=False)
    type: Mapped[str] = mapped_column(String(16), nullable=False)
    amount: Mapped[int | None] = mapped_column(BigInteger, nullable=True)
    currency: Mapped[str | None] = mapped_column(String(3), nullable=True)
    basis_points: Mapped[int | None] = mapped_column(Integer, nullable=True)
    duration: Mapped[str] = mapped_column(String(16), nullable=False)
    duration_in_months: Mapped[int | None] = mapped_column(Integer, nullable=True)
    code: Mapped[str | None] = mapped_column(String(64), nullable=True)
    max_redemptions: Mapped[int | None] = mapped_column(Integer, nullable=True)
    redemptions_count: Mapped[int] = mapped_column(Integer, nullable=False, default=0, server_default="0")
    starts_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), nullable=True)
    ends_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), nullable=True)
    archived_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), nullable=True, default=None)

    @property
    def is_archived(self) -> bool:
        return self.archived_at is not None


class DiscountProduct(TenantModel):
    """A product a discount is restricted to; a discount without any applies to every product."""

    __tablename__ = "discount_products"
    __table_args__ = (Index("ix_discount_products_discount_id_product_id", "discount_id", "product_id", unique=True),)

    discount_id: Mapped[uuid.UUID] = mapped_column(Uuid, ForeignKey("discounts.id", ondelete="CASCADE"), nullable=False)
    product_id: Mapped[uuid.UUID] = mapped_column(Uuid, ForeignKey("products.id", ondelete="CASCADE"), nullable=False, index=True)


class DiscountRedemption(TenantModel):
    """One use of a discount by a customer (a checkout, later). Counted in
    `Discount.redemptions_count` in the same transaction."""

    __tablename__ = "discount_redemptions"
    __table_args__ = (Index("ix_discount_redemptions_discount_id_redeemed_at", "discount_id", "redeemed_at"),)

    discount_id: Mapped[uuid.UUID] = mapped_column(Uuid, ForeignKey("discounts.id", ondelete="CASCADE"), nullable=False)
    customer_id: Mapped[uuid.UUID] = mapped_column(Uuid, ForeignKey("customers.id", ondelete="CASCADE"), nullable=False, index=True)
    redeemed_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), nullable=False)


class TaxRate(TenantModel):
    """The tax rate, in basis points (825 = 8.25 %), an organization charges customers billed in
    `country` (ISO 3166-1 alpha-2, upper case) and, optionally, `state` (a subdivision code such
    as `CA`). A row without a country is the organization's default rate. One row per
    (country, state): the unique index treats a missing country or state as a value."""

    __tablename__ = "tax_rates"
    __table_args__ = (
        CheckConstraint("basis_points BETWEEN 0 AND 10000", name="basis_points"),
        CheckConstraint("country IS NULL OR country ~ '^[A-Z]{2}$'", name="country"),
        CheckConstraint("state IS NULL OR country IS NOT NULL", name="state_needs_country"),
        Index(
            "ix_tax_rates_organization_id_place",
            "organization_id",
            text("coalesce(country, '')"),
            text("coalesce(state, '')"),
            unique=True,
        ),
    )

    country: Mapped[str | None] = mapped_column(String(2), nullable=True)
    state: Mapped[str | None] = mapped_column(String(16), nullable=True)
    basis_points: Mapped[int] = mapped_column(Integer, nullable=False)
