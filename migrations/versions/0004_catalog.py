"""catalog: products and their prices

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-21 14:41:46.415620
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision = '0004'
down_revision = '0003'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('products',
    sa.Column('name', sa.String(length=256), nullable=False),
    sa.Column('description', sa.Text(), nullable=True),
    sa.Column('recurring_interval', sa.String(length=16), nullable=True),
    sa.Column('metadata', postgresql.JSONB(astext_type=sa.Text()), nullable=False),
    sa.Column('archived_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('organization_id', sa.Uuid(), nullable=False),
    sa.Column('id', sa.Uuid(), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), server_default=sa.text('now()'), nullable=False),
    sa.Column('modified_at', sa.DateTime(timezone=True), server_default=sa.text('now()'), nullable=False),
    sa.CheckConstraint("recurring_interval IN ('month', 'year')", name=op.f('ck_products_recurring_interval')),
    sa.ForeignKeyConstraint(['organization_id'], ['organizations.id'], name=op.f('fk_products_organization_id_organizations'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_products'))
    )
    op.create_index(op.f('ix_products_organization_id'), 'products', ['organization_id'], unique=False)
    op.create_index('ix_products_organization_id_created_at', 'products', ['organization_id', 'created_at', 'id'], unique=False)
    op.create_table('product_prices',
    sa.Column('product_id', sa.Uuid(), nullable=False),
    sa.Column('type', sa.String(length=16), nullable=False),
    sa.Column('currency', sa.String(length=3), server_default='usd', nullable=False),
    sa.Column('amount', sa.BigInteger(), nullable=True),
    sa.Column('minimum_amount', sa.BigInteger(), nullable=True),
    sa.Column('maximum_amount', sa.BigInteger(), nullable=True),
    sa.Column('preset_amount', sa.BigInteger(), nullable=True),
    sa.Column('meter_id', sa.Uuid(), nullable=True),
    sa.Column('unit_amount', sa.Numeric(precision=30, scale=12), nullable=True),
    sa.Column('cap_amount', sa.BigInteger(), nullable=True),
    sa.Column('wallet_enabled', sa.Boolean(), server_default=sa.text('false'), nullable=False),
    sa.Column('seat_tiers', postgresql.JSONB(astext_type=sa.Text()), nullable=True),
    sa.Column('archived_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('organization_id', sa.Uuid(), nullable=False),
    sa.Column('id', sa.Uuid(), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), server_default=sa.text('now()'), nullable=False),
    sa.Column('modified_at', sa.DateTime(timezone=True), server_default=sa.text('now()'), nullable=False),
    sa.CheckConstraint("(type = 'custom') = (minimum_amount IS NOT NULL) AND (type = 'custom' OR (maximum_amount IS NULL AND preset_amount IS NULL)) AND (minimum_amount IS NULL OR minimum_amount >= 0) AND (maximum_amount IS NULL OR maximum_amount >= minimum_amount) AND (preset_amount IS NULL OR (preset_amount >= minimum_amount AND (maximum_amount IS NULL OR preset_amount <= maximum_amount)))", name=op.f('ck_product_prices_custom_amounts')),
    sa.CheckConstraint("(type = 'fixed') = (amount IS NOT NULL) AND (amount IS NULL OR amount > 0)", name=op.f('ck_product_prices_fixed_amount')),
    sa.CheckConstraint("(type = 'metered_unit') = (meter_id IS NOT NULL) AND (type = 'metered_unit') = (unit_amount IS NOT NULL) AND (type = 'metered_unit' OR (cap_amount IS NULL AND NOT wallet_enabled)) AND (unit_amount IS NULL OR unit_amount > 0) AND (cap_amount IS NULL OR cap_amount > 0)", name=op.f('ck_product_prices_metered_unit')),
    sa.CheckConstraint("(type = 'seat_unit') = (seat_tiers IS NOT NULL) AND (seat_tiers IS NULL OR (jsonb_typeof(seat_tiers) = 'array' AND jsonb_array_length(seat_tiers) > 0))", name=op.f('ck_product_prices_seat_tiers')),
    sa.CheckConstraint("currency ~ '^[a-z]{3}$'", name=op.f('ck_product_prices_currency')),
    sa.CheckConstraint("type IN ('fixed', 'custom', 'free', 'metered_unit', 'seat_unit')", name=op.f('ck_product_prices_type')),
    sa.ForeignKeyConstraint(['meter_id'], ['meters.id'], name=op.f('fk_product_prices_meter_id_meters'), ondelete='RESTRICT'),
    sa.ForeignKeyConstraint(['organization_id'], ['organizations.id'], name=op.f('fk_product_prices_organization_id_organizations'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['product_id'], ['products.id'], name=op.f('fk_product_prices_product_id_products'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_product_prices'))
    )
    op.create_index(op.f('ix_product_prices_meter_id'), 'product_prices', ['meter_id'], unique=False)
    op.create_index(op.f('ix_product_prices_organization_id'), 'product_prices', ['organization_id'], unique=False)
    op.create_index(op.f('ix_product_prices_product_id'), 'product_prices', ['product_id'], unique=False)
    op.create_index('ix_product_prices_product_id_base', 'product_prices', ['product_id'], unique=True, postgresql_where=sa.text("archived_at IS NULL AND type IN ('fixed', 'custom', 'free', 'seat_unit')"))
    op.create_index('ix_product_prices_product_id_meter_id', 'product_prices', ['product_id', 'meter_id'], unique=True, postgresql_where=sa.text('archived_at IS NULL AND meter_id IS NOT NULL'))


def downgrade() -> None:
    op.drop_index('ix_product_prices_product_id_meter_id', table_name='product_prices', postgresql_where=sa.text('archived_at IS NULL AND meter_id IS NOT NULL'))
    op.drop_index('ix_product_prices_product_id_base', table_name='product_prices', postgresql_where=sa.text("archived_at IS NULL AND type IN ('fixed', 'custom', 'free', 'seat_unit')"))
    op.drop_index(op.f('ix_product_prices_product_id'), table_name='product_prices')
    op.drop_index(op.f('ix_product_prices_organization_id'), table_name='product_prices')
    op.drop_index(op.f('ix_product_prices_meter_id'), table_name='product_prices')
    op.drop_table('product_prices')
    op.drop_index('ix_products_organization_id_created_at', table_name='products')
    op.drop_index(op.f('ix_products_organization_id'), table_name='products')
    op.drop_table('products')
