from __future__ import annotations

import enum
import uuid
from datetime import datetime
from decimal import Decimal
from typing import Any

from sqlalchemy import BigInteger, Boolean, CheckConstraint, DateTime, ForeignKey, Index, Integer, Numeric, String, Text, Uuid, false, text
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.orm import Mapped, mapped_column

from app.kit.models import TenantModel


class RecurringInterval(str, enum.Enum):
    month = "month"
    year = "year"


class PriceType(str, enum.Enum):
    fixed = "fixed"
    custom = "custom"
    free = "free"
    metered_unit = "metered_unit"
    seat_unit = "seat_unit"


# At most one of these is active on a product at a time; metered prices stack on top of it.
BASE_PRICE_TYPES = (PriceType.fixed.value, PriceType.custom.value, PriceType.free.value, PriceType.seat_unit.value)


class Product(TenantModel):
    """Something a merchant sells: recurring (monthly or yearly) or one-time, with its prices.

    Products are archived, never deleted: orders and subscriptions keep pointing at them.
    """

    __tablename__ = "products"
    __table_args__ = (
        CheckConstraint("recurring_interval IN ('month', 'year')", name="recurring_interval"),
        CheckConstraint("trial_days IS NULL OR (recurring_interval IS NOT NULL AND trial_days BETWEEN 1 AND 730)", name="trial_days"),
        Index("ix_products_organization_id_created_at", "organization_id", "created_at", "id"),
    )

    name: Mapped[str] = mapped_column(String(256), nullable=False)
    description: Mapped[str | None] = mapped_column(Text, nullable=True)
    # NULL for a one-time product; fixed at creation.
    recurring_interval: Mapped[str | None] = mapped_column(String(16), nullable=True)
    # A recurring product may offer a free trial of this many days at checkout.
    trial_days: Mapped[int | None] = mapped_column(Integer, nullable=True)
    user_metadata: Mapped[dict[str, Any]] = mapped_column("metadata", JSONB, nullable=False, default=dict)
    archived_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), nullable=True, default=None)

    @property
    def is_recurring(self) -> bool:
        return self.recurring_interval is not None

    @property
    def is_archived(self) -> bool:
        return self.archived_at is not None


class ProductPrice(TenantModel):
    """One way to pay for a product. Prices are never edited or deleted: to change one, archive
    it and add another (what was sold at the old price keeps pointing at it).

    Amounts are integer minor units of `currency`; `unit_amount` (metered) is a decimal number of
    minor units per unit, e.g. 0.05 cents per API call. Which columns are set depends on `type`:
    fixed: `amount`; custom: `minimum_amount` (+ optional `maximum_amount`, `preset_amount`);
    free: none; metered_unit: `meter_id`, `unit_amount` (+ optional `cap_amount`),
    `wallet_enabled`), or instead of `unit_amount` a `tier_mode` with its tiers (`graduated` or
    `volume`: `tiers`, a list `{"up_to": decimal text | None, "unit_amount": decimal text,
    "flat_amount": int}` with ascending `up_to` and only the last one None; `package`:
    `package_size` units for `package_amount`), priced by app/catalog/usage_pricing.py; seat_unit: `seat_tiers`, a list of volume tiers
    `{"min_seats": int, "max_seats": int | None, "price_per_seat": int}`.
    """

    __tablename__ = "product_prices"
    __table_args__ = (
        CheckConstraint("type IN ('fixed', 'custom', 'free', 'metered_unit', 'seat_unit')", name="type"),
        CheckConstraint("currency ~ '^[a-z]{3}$'", name="currency"),
        CheckConstraint("(type = 'fixed') = (amount IS NOT NULL) AND (amount IS NULL OR amount > 0)", name="fixed_amount"),
        CheckConstraint(
            "(type = 'custom') = (minimum_amount IS NOT NULL)"
            " AND (type = 'custom' OR (maximum_amount IS NULL AND preset_amount IS NULL))"
            " AND (minimum_amount IS NULL OR minimum_amount >= 0)"
            " AND (maximum_amount IS NULL OR maximum_amount >= minimum_amount)"
            " AND (preset_amount IS NULL OR (preset_amount >= minimum_amount"
            " AND (maximum_amount IS NULL OR preset_amount <= maximum_amount)))",
            name="custom_amounts",
        ),
        CheckConstraint(
            "(type = 'metered_unit') = (meter_id IS NOT NULL)"
            " AND (type = 'metered_unit' AND tier_mode IS NULL) = (unit_amount IS NOT NULL)"
            " AND (type = 'metered_unit' OR (cap_amount IS NULL AND NOT wallet_enabled AND tier_mode IS NULL))"
            " AND (unit_amount IS NULL OR unit_amount > 0)"
            " AND (cap_amount IS NULL OR cap_amount > 0)",
            name="metered_unit",
        ),
        CheckConstraint(
            "(tier_mode IS NULL OR tier_mode IN ('graduated', 'volume', 'package'))"
            " AND COALESCE(tier_mode IN ('graduated', 'volume'), false) = (tiers IS NOT NULL)"
            " AND COALESCE(tier_mode = 'package', false) = (package_size IS NOT NULL)"
            " AND (package_size IS NULL) = (package_amount IS NULL)"
            " AND (tiers IS NULL OR (jsonb_typeof(tiers) = 'array' AND jsonb_array_length(tiers) > 0))"
            " AND (package_size IS NULL OR package_size >= 1)"
            " AND (package_amount IS NULL OR package_amount >= 1)",
            name="metered_tiers",
        ),
        CheckConstraint(
            "(type = 'seat_unit') = (seat_tiers IS NOT NULL)"
            " AND (seat_tiers IS NULL OR (jsonb_typeof(seat_tiers) = 'array' AND jsonb_array_length(seat_tiers) > 0))",
            name="seat_tiers",
        ),
        # The guards behind the service's rules (which lock the product row first):
        # one active base price per product, and one active price per meter per product.
        Index(
            "ix_product_prices_product_id_base",
            "product_id",
            unique=True,
            postgresql_where=text("archived_at IS NULL AND type IN ('fixed', 'custom', 'free', 'seat_unit')"),
        ),
        Index(
            "ix_product_prices_product_id_meter_id",
            "product_id",
            "meter_id",
            unique=True,
            postgresql_where=text("archived_at IS NULL AND meter_id IS NOT NULL"),
        ),
    )

    product_id: Mapped[uuid.UUID] = mapped_column(
        Uuid, ForeignKey("products.id", ondelete="CASCADE"), nullable=False, index=True
    )
    type: Mapped[str] = mapped_column(String(16), nullable=False)
    currency: Mapped[str] = mapped_column(String(3), nullable=False, default="usd", server_default="usd")
    # fixed
    amount: Mapped[int | None] = mapped_column(BigInteger, nullable=True)
    # custom (pay what you want)
    minimum_amount: Mapped[int | None] = mapped_column(BigInteger, nullable=True)
    maximum_amount: Mapped[int | None] = mapped_column(BigInteger, nullable=True)
    preset_amount: Mapped[int | None] = mapped_column(BigInteger, nullable=True)
    # metered_unit
    meter_id: Mapped[uuid.UUID | None] = mapped_column(
        Uuid, ForeignKey("meters.id", ondelete="RESTRICT"), nullable=True, index=True
    )
    unit_amount: Mapped[Decimal | None] = mapped_column(Numeric(30, 12), nullable=True)
    cap_amount: Mapped[int | None] = mapped_column(BigInteger, nullable=True)
    wallet_enabled: Mapped[bool] = mapped_column(Boolean, nullable=False, default=False, server_default=false())
    # metered_unit with tiers instead of `unit_amount`: graduated | volume (`tiers`) | package
    tier_mode: Mapped[str | None] = mapped_column(String(16), nullable=True)
    tiers: Mapped[list[dict[str, Any]] | None] = mapped_column(JSONB(none_as_null=True), nullable=True)
    package_size: Mapped[int | None] = mapped_column(BigInteger, nullable=True)
    package_amount: Mapped[int | None] = mapped_column(BigInteger, nullable=True)
    # seat_unit
    seat_tiers: Mapped[list[dict[str, Any]] | None] = mapped_column(JSONB(none_as_null=True), nullable=True)
    archived_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), nullable=True, default=None)

    @property
    def is_archived(self) -> bool:
        return self.archived_at is not None


def seat_price(price: ProductPrice, seats: int) -> int | None:
    """The per-seat amount of `price`'s volume tier holding `seats`; None when no tier does
    (checkouts and subscription changes price seats by it)."""
    for tier in price.seat_tiers or []:
        if tier["min_seats"] <= seats and (tier.get("max_seats") is None or seats <= tier["max_seats"]):
            return int(tier["price_per_seat"])
    return None
