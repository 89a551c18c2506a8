"""Metered billing at cycle end and tiered metered prices.

- product_prices: `tier_mode` (graduated | volume | package) with `tiers` or `package_size` /
  `package_amount`; a tiered metered price has no `unit_amount`.
- billing_entries: `meter_id`, `member_id`, `quantity` of a `metered` entry.
- subscriptions: `metered_watermark`, the last renewal's pg_snapshot_xmin, and `metered_floor`,
  the xid from which billing reads the customer's events of the current period.

Revision ID: 0018
Revises: 0017
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision = "0018"
down_revision = "0017"
branch_labels = None
depends_on = None

OLD_METERED_UNIT = (
    "(type = 'metered_unit') = (meter_id IS NOT NULL)"
    " AND (type = 'metered_unit') = (unit_amount IS NOT NULL)"
    " AND (type = 'metered_unit' OR (cap_amount IS NULL AND NOT wallet_enabled))"
    " AND (unit_amount IS NULL OR unit_amount > 0)"
    " AND (cap_amount IS NULL OR cap_amount > 0)"
)
NEW_METERED_UNIT = (
    "(type = 'metered_unit') = (meter_id IS NOT NULL)"
    " AND (type = 'metered_unit' AND tier_mode IS NULL) = (unit_amount IS NOT NULL)"
    " AND (type = 'metered_unit' OR (cap_amount IS NULL AND NOT wallet_enabled AND tier_mode IS NULL))"
    " AND (unit_amount IS NULL OR unit_amount > 0)"
    " AND (cap_amount IS NULL OR cap_amount > 0)"
)
METERED_TIERS = (
    "(tier_mode IS NULL OR tier_mode IN ('graduated', 'volume', 'package'))"
    " AND COALESCE(tier_mode IN ('graduated', 'volume'), false) = (tiers IS NOT NULL)"
    " AND COALESCE(tier_mode = 'package', false) = (package_size IS NOT NULL)"
    " AND (package_size IS NULL) = (package_amount IS NULL)"
    " AND (tiers IS NULL OR (jsonb_typeof(tiers) = 'array' AND jsonb_array_length(tiers) > 0))"
    " AND (package_size IS NULL OR package_size >= 1)"
    " AND (package_amount IS NULL OR package_amount >= 1)"
)
BILLING_ENTRY_METERED = "(type = 'metered') = (meter_id IS NOT NULL) AND (type = 'metered') = (quantity IS NOT NULL)"


def upgrade() -> None:
    op.add_column("product_prices", sa.Column("tier_mode", sa.String(length=16), nullable=True))
    op.add_column("product_prices", sa.Column("tiers", postgresql.JSONB(none_as_null=True, astext_type=sa.Text()), nullable=True))
    op.add_column("product_prices", sa.Column("package_size", sa.BigInteger(), nullable=True))
    op.add_column("product_prices", sa.Column("package_amount", sa.BigInteger(), nullable=True))
    op.drop_constraint(op.f("ck_product_prices_metered_unit"), "product_prices", type_="check")
    op.create_check_constraint(op.f("ck_product_prices_metered_unit"), "product_prices", NEW_METERED_UNIT)
    op.create_check_constraint(op.f("ck_product_prices_metered_tiers"), "product_prices", METERED_TIERS)

    op.add_column("billing_entries", sa.Column("meter_id", sa.Uuid(), nullable=True))
    op.add_column("billing_entries", sa.Column("member_id", sa.Uuid(), nullable=True))
    op.add_column("billing_entries", sa.Column("quantity", sa.Numeric(precision=30, scale=12), nullable=True))
    op.create_foreign_key(op.f("fk_billing_entries_member_id_members"), "billing_entries", "members", ["member_id"], ["id"], ondelete="SET NULL")
    op.create_foreign_key(op.f("fk_billing_entries_meter_id_meters"), "billing_entries", "meters", ["meter_id"], ["id"], ondelete="RESTRICT")
    op.create_check_constraint(op.f("ck_billing_entries_metered"), "billing_entries", BILLING_ENTRY_METERED)
    op.create_check_constraint(op.f("ck_billing_entries_quantity"), "billing_entries", "quantity IS NULL OR quantity >= 0")

    op.add_column("subscriptions", sa.Column("metered_watermark", sa.BigInteger(), nullable=True))
    op.add_column("subscriptions", sa.Column("metered_floor", sa.BigInteger(), nullable=True))


def downgrade() -> None:
    op.drop_column("subscriptions", "metered_floor")
    op.drop_column("subscriptions", "metered_watermark")
    op.drop_constraint(op.f("ck_billing_entries_quantity"), "billing_entries", type_="check")
    op.drop_constraint(op.f("ck_billing_entries_metered"), "billing_entries", type_="check")
    op.drop_constraint(op.f("fk_billing_entries_meter_id_meters"), "billing_entries", type_="foreignkey")
    op.drop_constraint(op.f("fk_billing_entries_member_id_members"), "billing_entries", type_="foreignkey")
    op.drop_column("billing_entries", "quantity")
    op.drop_column("billing_entries", "member_id")
    op.drop_column("billing_entries", "meter_id")
    op.drop_constraint(op.f("ck_product_prices_metered_tiers"), "product_prices", type_="check")
    op.drop_constraint(op.f("ck_product_prices_metered_unit"), "product_prices", type_="check")
    op.execute("DELETE FROM product_prices WHERE tier_mode IS NOT NULL")  # no unit amount: cannot go back
    op.create_check_constraint(op.f("ck_product_prices_metered_unit"), "product_prices", OLD_METERED_UNIT)
    op.drop_column("product_prices", "package_amount")
    op.drop_column("product_prices", "package_size")
    op.drop_column("product_prices", "tiers")
    op.drop_column("product_prices", "tier_mode")
