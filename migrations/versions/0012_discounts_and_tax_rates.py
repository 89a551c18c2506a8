"""discounts, the products they are restricted to, their redemptions, and tax rates

Revision ID: 0012
Revises: 0011

With the same row-level security policy as every tenant table (migration 0009).
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0012"
down_revision = "0011"
branch_labels = None
depends_on = None

CURRENT = "(SELECT kassa_current_organization())"
TABLES = ("discounts", "discount_products", "discount_redemptions", "tax_rates")


def _record_columns() -> list[sa.Column]:
    return [
        sa.Column("organization_id", sa.Uuid(), nullable=False),
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False),
        sa.Column("modified_at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False),
    ]


def _organization_fk(table: str) -> sa.ForeignKeyConstraint:
    return sa.ForeignKeyConstraint(
        ["organization_id"], ["organizations.id"], name=op.f(f"fk_{table}_organization_id_organizations"), ondelete="CASCADE"
    )


def upgrade() -> None:
    op.create_table(
        "discounts",
        sa.Column("name", sa.String(length=256), nullable=False),
        sa.Column("type", sa.String(length=16), nullable=False),
        sa.Column("amount", sa.BigInteger(), nullable=True),
        sa.Column("currency", sa.String(length=3), nullable=True),
        sa.Column("basis_points", sa.Integer(), nullable=True),
        sa.Column("duration", sa.String(length=16), nullable=False),
        sa.Column("duration_in_months", sa.Integer(), nullable=True),
        sa.Column("code", sa.String(length=64), nullable=True),
        sa.Column("max_redemptions", sa.Integer(), nullable=True),
        sa.Column("redemptions_count", sa.Integer(), server_default="0", nullable=False),
        sa.Column("starts_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("ends_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("archived_at", sa.DateTime(timezone=True), nullable=True),
        *_record_columns(),
        sa.CheckConstraint("type IN ('fixed', 'percentage')", name=op.f("ck_discounts_type")),
        sa.CheckConstraint("duration IN ('once', 'forever', 'repeating')", name=op.f("ck_discounts_duration")),
        sa.CheckConstraint(
            "(type = 'fixed') = (amount IS NOT NULL AND currency IS NOT NULL)"
            " AND (type = 'percentage') = (basis_points IS NOT NULL)"
            " AND (amount IS NULL OR amount > 0)"
            " AND (basis_points IS NULL OR basis_points BETWEEN 1 AND 10000)",
            name=op.f("ck_discounts_terms"),
        ),
        sa.CheckConstraint(
            "(duration = 'repeating') = (duration_in_months IS NOT NULL)"
            " AND (duration_in_months IS NULL OR duration_in_months BETWEEN 1 AND 999)",
            name=op.f("ck_discounts_duration_in_months"),
        ),
        sa.CheckConstraint(
            "redemptions_count >= 0 AND (max_redemptions IS NULL OR (max_redemptions > 0 AND redemptions_count <= max_redemptions))",
            name=op.f("ck_discounts_redemptions"),
        ),
        sa.CheckConstraint("starts_at IS NULL OR ends_at IS NULL OR starts_at < ends_at", name=op.f("ck_discounts_period")),
        _organization_fk("discounts"),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_discounts")),
    )
    op.create_index(op.f("ix_discounts_organization_id"), "discounts", ["organization_id"], unique=False)
    op.create_index("ix_discounts_organization_id_created_at", "discounts", ["organization_id", "created_at", "id"], unique=False)
    op.create_index(
        "ix_discounts_organization_id_code",
        "discounts",
        ["organization_id", sa.text("lower(code)")],
        unique=True,
        postgresql_where=sa.text("code IS NOT NULL"),
    )

    op.create_table(
        "discount_products",
        sa.Column("discount_id", sa.Uuid(), nullable=False),
        sa.Column("product_id", sa.Uuid(), nullable=False),
        *_record_columns(),
        sa.ForeignKeyConstraint(["discount_id"], ["discounts.id"], name=op.f("fk_discount_products_discount_id_discounts"), ondelete="CASCADE"),
        sa.ForeignKeyConstraint(["product_id"], ["products.id"], name=op.f("fk_discount_products_product_id_products"), ondelete="CASCADE"),
        _organization_fk("discount_products"),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_discount_products")),
    )
    op.create_index(op.f("ix_discount_products_organization_id"), "discount_products", ["organization_id"], unique=False)
    op.create_index(op.f("ix_discount_products_product_id"), "discount_products", ["product_id"], unique=False)
    op.create_index("ix_discount_products_discount_id_product_id", "discount_products", ["discount_id", "product_id"], unique=True)

    op.create_table(
        "discount_redemptions",
        sa.Column("discount_id", sa.Uuid(), nullable=False),
        sa.Column("customer_id", sa.Uuid(), nullable=False),
        sa.Column("redeemed_at", sa.DateTime(timezone=True), nullable=False),
        *_record_columns(),
        sa.ForeignKeyConstraint(["discount_id"], ["discounts.id"], name=op.f("fk_discount_redemptions_discount_id_discounts"), ondelete="CASCADE"),
        sa.ForeignKeyConstraint(["customer_id"], ["customers.id"], name=op.f("fk_discount_redemptions_customer_id_customers"), ondelete="CASCADE"),
        _organization_fk("discount_redemptions"),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_discount_redemptions")),
    )
    op.create_index(op.f("ix_discount_redemptions_organization_id"), "discount_redemptions", ["organization_id"], unique=False)
    op.create_index(op.f("ix_discount_redemptions_customer_id"), "discount_redemptions", ["customer_id"], unique=False)
    op.create_index("ix_discount_redemptions_discount_id_redeemed_at", "discount_redemptions", ["discount_id", "redeemed_at"], unique=False)

    op.create_table(
        "tax_rates",
        sa.Column("country", sa.String(length=2), nullable=True),
        sa.Column("state", sa.String(length=16), nullable=True),
        sa.Column("basis_points", sa.Integer(), nullable=False),
        *_record_columns(),
        sa.CheckConstraint("basis_points BETWEEN 0 AND 10000", name=op.f("ck_tax_rates_basis_points")),
        sa.CheckConstraint("country IS NULL OR country ~ '^[A-Z]{2}$'", name=op.f("ck_tax_rates_country")),
        sa.CheckConstraint("state IS NULL OR country IS NOT NULL", name=op.f("ck_tax_rates_state_needs_country")),
        _organization_fk("tax_rates"),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_tax_rates")),
    )
    op.create_index(op.f("ix_tax_rates_organization_id"), "tax_rates", ["organization_id"], unique=False)
    op.create_index(
        "ix_tax_rates_organization_id_place",
        "tax_rates",
        ["organization_id", sa.text("coalesce(country, '')"), sa.text("coalesce(state, '')")],
        unique=True,
    )

    for table in TABLES:
        op.execute(f"ALTER TABLE {table} ENABLE ROW LEVEL SECURITY")
        op.execute(f"CREATE POLICY tenant_isolation ON {table} USING (organization_id = {CURRENT}) WITH CHECK (organization_id = {CURRENT})")


def downgrade() -> None:
    for table in reversed(TABLES):
        op.execute(f"DROP POLICY tenant_isolation ON {table}")
        op.drop_table(table)
