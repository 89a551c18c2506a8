"""foundation: organizations, access tokens, customers, members

Revision ID: 0001
Revises: 
Create Date: 2026-11-21 14:17:42.693144
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision = '0001'
down_revision = None
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('organizations',
    sa.Column('name', sa.String(length=200), nullable=False),
    sa.Column('id', sa.Uuid(), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), server_default=sa.text('now()'), nullable=False),
    sa.Column('modified_at', sa.DateTime(timezone=True), server_default=sa.text('now()'), nullable=False),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_organizations'))
    )
    op.create_table('access_tokens',
    sa.Column('token_hash', sa.String(length=64), nullable=False),
    sa.Column('comment', sa.String(length=200), nullable=False),
    sa.Column('scopes', sa.ARRAY(sa.String(length=64)), nullable=False),
    sa.Column('expires_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('revoked_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('organization_id', sa.Uuid(), nullable=False),
    sa.Column('id', sa.Uuid(), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), server_default=sa.text('now()'), nullable=False),
    sa.Column('modified_at', sa.DateTime(timezone=True), server_default=sa.text('now()'), nullable=False),
    sa.ForeignKeyConstraint(['organization_id'], ['organizations.id'], name=op.f('fk_access_tokens_organization_id_organizations'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_access_tokens')),
    sa.UniqueConstraint('token_hash', name=op.f('uq_access_tokens_token_hash'))
    )
    op.create_index(op.f('ix_access_tokens_organization_id'), 'access_tokens', ['organization_id'], unique=False)
    op.create_table('customers',
    sa.Column('type', sa.String(length=16), nullable=False),
    sa.Column('external_id', sa.String(length=256), nullable=True),
    sa.Column('email', sa.String(length=320), nullable=False),
    sa.Column('name', sa.String(length=256), nullable=True),
    sa.Column('billing_name', sa.String(length=256), nullable=True),
    sa.Column('billing_address', postgresql.JSONB(astext_type=sa.Text()), nullable=True),
    sa.Column('tax_id', sa.String(length=64), nullable=True),
    sa.Column('metadata', postgresql.JSONB(astext_type=sa.Text()), nullable=False),
    sa.Column('deleted_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('organization_id', sa.Uuid(), nullable=False),
    sa.Column('id', sa.Uuid(), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), server_default=sa.text('now()'), nullable=False),
    sa.Column('modified_at', sa.DateTime(timezone=True), server_default=sa.text('now()'), nullable=False),
    sa.CheckConstraint("type IN ('individual', 'business')", name=op.f('ck_customers_type')),
    sa.ForeignKeyConstraint(['organization_id'], ['organizations.id'], name=op.f('fk_customers_organization_id_organizations'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_customers'))
    )
    op.create_index(op.f('ix_customers_organization_id'), 'customers', ['organization_id'], unique=False)
    op.create_index('ix_customers_organization_id_created_at', 'customers', ['organization_id', 'created_at', 'id'], unique=False)
    op.create_index('ix_customers_organization_id_email', 'customers', ['organization_id', sa.literal_column('lower(email)')], unique=False)
    op.create_index('ix_customers_organization_id_external_id', 'customers', ['organization_id', 'external_id'], unique=True, postgresql_where=sa.text('deleted_at IS NULL'))
    op.create_table('members',
    sa.Column('customer_id', sa.Uuid(), nullable=False),
    sa.Column('role', sa.String(length=32), nullable=False),
    sa.Column('email', sa.String(length=320), nullable=False),
    sa.Column('name', sa.String(length=256), nullable=True),
    sa.Column('external_id', sa.String(length=256), nullable=True),
    sa.Column('deleted_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('organization_id', sa.Uuid(), nullable=False),
    sa.Column('id', sa.Uuid(), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), server_default=sa.text('now()'), nullable=False),
    sa.Column('modified_at', sa.DateTime(timezone=True), server_default=sa.text('now()'), nullable=False),
    sa.CheckConstraint("role IN ('owner', 'billing_manager', 'member')", name=op.f('ck_members_role')),
    sa.ForeignKeyConstraint(['customer_id'], ['customers.id'], name=op.f('fk_members_customer_id_customers'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['organization_id'], ['organizations.id'], name=op.f('fk_members_organization_id_organizations'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_members'))
    )
    op.create_index(op.f('ix_members_customer_id'), 'members', ['customer_id'], unique=False)
    op.create_index('ix_members_customer_id_email', 'members', ['customer_id', sa.literal_column('lower(email)')], unique=True, postgresql_where=sa.text('deleted_at IS NULL'))
    op.create_index('ix_members_customer_id_external_id', 'members', ['customer_id', 'external_id'], unique=True, postgresql_where=sa.text('deleted_at IS NULL'))
    op.create_index('ix_members_customer_id_owner', 'members', ['customer_id'], unique=True, postgresql_where=sa.text("role = 'owner' AND deleted_at IS NULL"))
    op.create_index(op.f('ix_members_organization_id'), 'members', ['organization_id'], unique=False)


def downgrade() -> None:
    op.drop_index(op.f('ix_members_organization_id'), table_name='members')
    op.drop_index('ix_members_customer_id_owner', table_name='members', postgresql_where=sa.text("role = 'owner' AND deleted_at IS NULL"))
    op.drop_index('ix_members_customer_id_external_id', table_name='members', postgresql_where=sa.text('deleted_at IS NULL'))
    op.drop_index('ix_members_customer_id_email', table_name='members', postgresql_where=sa.text('deleted_at IS NULL'))
    op.drop_index(op.f('ix_members_customer_id'), table_name='members')
    op.drop_table('members')
    op.drop_index('ix_customers_organization_id_external_id', table_name='customers', postgresql_where=sa.text('deleted_at IS NULL'))
    op.drop_index('ix_customers_organization_id_email', table_name='customers')
    op.drop_index('ix_customers_organization_id_created_at', table_name='customers')
    op.drop_index(op.f('ix_customers_organization_id'), table_name='customers')
    op.drop_table('customers')
    op.drop_index(op.f('ix_access_tokens_organization_id'), table_name='access_tokens')
    op.drop_table('access_tokens')
    op.drop_table('organizations')
