"""events and customer meters

Revision ID: 0005
Revises: 0004
Create Date: 2026-11-21 14:41:20.729843
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql


class XID8(sa.types.UserDefinedType):
    cache_ok = True

    def get_col_spec(self, **_kw):
        return "xid8"

revision = '0005'
down_revision = '0004'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('customer_meter_states',
    sa.Column('customer_id', sa.Uuid(), nullable=False),
    sa.Column('watermark', sa.BigInteger(), nullable=False),
    sa.Column('organization_id', sa.Uuid(), nullable=False),
    sa.Column('id', sa.Uuid(), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), server_default=sa.text('now()'), nullable=False),
    sa.Column('modified_at', sa.DateTime(timezone=True), server_default=sa.text('now()'), nullable=False),
    sa.ForeignKeyConstraint(['customer_id'], ['customers.id'], name=op.f('fk_customer_meter_states_customer_id_customers'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['organization_id'], ['organizations.id'], name=op.f('fk_customer_meter_states_organization_id_organizations'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_customer_meter_states')),
    sa.UniqueConstraint('customer_id', name=op.f('uq_customer_meter_states_customer_id'))
    )
    op.create_index(op.f('ix_customer_meter_states_organization_id'), 'customer_meter_states', ['organization_id'], unique=False)
    op.create_table('customer_meters',
    sa.Column('customer_id', sa.Uuid(), nullable=False),
    sa.Column('meter_id', sa.Uuid(), nullable=False),
    sa.Column('event_count', sa.BigInteger(), nullable=False),
    sa.Column('value_count', sa.BigInteger(), nullable=False),
    sa.Column('value_sum', sa.Numeric(precision=38, scale=12), nullable=False),
    sa.Column('value_max', sa.Numeric(precision=38, scale=12), nullable=True),
    sa.Column('value_min', sa.Numeric(precision=38, scale=12), nullable=True),
    sa.Column('distinct_count', sa.BigInteger(), nullable=False),
    sa.Column('consumed', sa.Numeric(precision=38, scale=12), nullable=False),
    sa.Column('credited', sa.Numeric(precision=38, scale=12), nullable=False),
    sa.Column('last_reset_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('status', sa.String(length=16), nullable=False),
    sa.Column('organization_id', sa.Uuid(), nullable=False),
    sa.Column('id', sa.Uuid(), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), server_default=sa.text('now()'), nullable=False),
    sa.Column('modified_at', sa.DateTime(timezone=True), server_default=sa.text('now()'), nullable=False),
    sa.ForeignKeyConstraint(['customer_id'], ['customers.id'], name=op.f('fk_customer_meters_customer_id_customers'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['meter_id'], ['meters.id'], name=op.f('fk_customer_meters_meter_id_meters'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['organization_id'], ['organizations.id'], name=op.f('fk_customer_meters_organization_id_organizations'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_customer_meters'))
    )
    op.create_index('ix_customer_meters_customer_id_meter_id', 'customer_meters', ['customer_id', 'meter_id'], unique=True)
    op.create_index(op.f('ix_customer_meters_meter_id'), 'customer_meters', ['meter_id'], unique=False)
    op.create_index(op.f('ix_customer_meters_organization_id'), 'customer_meters', ['organization_id'], unique=False)
    op.create_table('meter_distinct_values',
    sa.Column('customer_id', sa.Uuid(), nullable=False),
    sa.Column('meter_id', sa.Uuid(), nullable=False),
    sa.Column('scope', sa.Uuid(), nullable=False),
    sa.Column('value', sa.Text(), nullable=False),
    sa.Column('organization_id', sa.Uuid(), nullable=False),
    sa.Column('id', sa.Uuid(), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), server_default=sa.text('now()'), nullable=False),
    sa.Column('modified_at', sa.DateTime(timezone=True), server_default=sa.text('now()'), nullable=False),
    sa.ForeignKeyConstraint(['customer_id'], ['customers.id'], name=op.f('fk_meter_distinct_values_customer_id_customers'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['meter_id'], ['meters.id'], name=op.f('fk_meter_distinct_values_meter_id_meters'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['organization_id'], ['organizations.id'], name=op.f('fk_meter_distinct_values_organization_id_organizations'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_meter_distinct_values'))
    )
    op.create_index(op.f('ix_meter_distinct_values_organization_id'), 'meter_distinct_values', ['organization_id'], unique=False)
    op.create_index('ix_meter_distinct_values_scope_value', 'meter_distinct_values', ['customer_id', 'meter_id', 'scope', 'value'], unique=True)
    op.create_table('customer_meter_members',
    sa.Column('customer_id', sa.Uuid(), nullable=False),
    sa.Column('meter_id', sa.Uuid(), nullable=False),
    sa.Column('member_id', sa.Uuid(), nullable=False),
    sa.Column('event_count', sa.BigInteger(), nullable=False),
    sa.Column('value_count', sa.BigInteger(), nullable=False),
    sa.Column('value_sum', sa.Numeric(precision=38, scale=12), nullable=False),
    sa.Column('value_max', sa.Numeric(precision=38, scale=12), nullable=True),
    sa.Column('value_min', sa.Numeric(precision=38, scale=12), nullable=True),
    sa.Column('distinct_count', sa.BigInteger(), nullable=False),
    sa.Column('consumed', sa.Numeric(precision=38, scale=12), nullable=False),
    sa.Column('organization_id', sa.Uuid(), nullable=False),
    sa.Column('id', sa.Uuid(), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), server_default=sa.text('now()'), nullable=False),
    sa.Column('modified_at', sa.DateTime(timezone=True), server_default=sa.text('now()'), nullable=False),
    sa.ForeignKeyConstraint(['customer_id'], ['customers.id'], name=op.f('fk_customer_meter_members_customer_id_customers'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['member_id'], ['members.id'], name=op.f('fk_customer_meter_members_member_id_members'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['meter_id'], ['meters.id'], name=op.f('fk_customer_meter_members_meter_id_meters'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['organization_id'], ['organizations.id'], name=op.f('fk_customer_meter_members_organization_id_organizations'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_customer_meter_members'))
    )
    op.create_index('ix_customer_meter_members_customer_id_meter_id_member_id', 'customer_meter_members', ['customer_id', 'meter_id', 'member_id'], unique=True)
    op.create_index(op.f('ix_customer_meter_members_organization_id'), 'customer_meter_members', ['organization_id'], unique=False)
    op.create_table('events',
    sa.Column('id', sa.Uuid(), server_default=sa.text('gen_random_uuid()'), nullable=False),
    sa.Column('organization_id', sa.Uuid(), nullable=False),
    sa.Column('name', sa.String(length=256), nullable=False),
    sa.Column('timestamp', sa.DateTime(timezone=True), nullable=False),
    sa.Column('customer_id', sa.Uuid(), nullable=True),
    sa.Column('external_customer_id', sa.String(length=256), nullable=True),
    sa.Column('member_id', sa.Uuid(), nullable=True),
    sa.Column('external_member_id', sa.String(length=256), nullable=True),
    sa.Column('external_id', sa.String(length=256), nullable=True),
    sa.Column('source', sa.String(length=16), server_default='user', nullable=False),
    sa.Column('metadata', postgresql.JSONB(astext_type=sa.Text()), server_default=sa.text("'{}'::jsonb"), nullable=False),
    sa.Column('xid', XID8(), server_default=sa.text('pg_current_xact_id()'), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), server_default=sa.text('now()'), nullable=False),
    sa.Column('modified_at', sa.DateTime(timezone=True), server_default=sa.text('now()'), nullable=False),
    sa.CheckConstraint("source IN ('user', 'system')", name=op.f('ck_events_source')),
    sa.CheckConstraint('customer_id IS NOT NULL OR external_customer_id IS NOT NULL', name=op.f('ck_events_customer')),
    sa.ForeignKeyConstraint(['customer_id'], ['customers.id'], name=op.f('fk_events_customer_id_customers'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['member_id'], ['members.id'], name=op.f('fk_events_member_id_members'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['organization_id'], ['organizations.id'], name=op.f('fk_events_organization_id_organizations'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_events'))
    )
    op.create_index('ix_events_customer_id_xid', 'events', ['customer_id', 'xid'], unique=False)
    op.create_index('ix_events_organization_id_external_customer_id_xid', 'events', ['organization_id', 'external_customer_id', 'xid'], unique=False, postgresql_where=sa.text('customer_id IS NULL'))
    op.create_index('ix_events_organization_id_external_id', 'events', ['organization_id', 'external_id'], unique=True, postgresql_where=sa.text('external_id IS NOT NULL'))
    op.create_index('ix_events_organization_id_timestamp', 'events', ['organization_id', 'timestamp'], unique=False)
    op.add_column('organizations', sa.Column('warning_threshold', sa.Integer(), server_default='80', nullable=False))
    op.add_column('organizations', sa.Column('critical_threshold', sa.Integer(), server_default='95', nullable=False))
    op.add_column('organizations', sa.Column('exceeded_threshold', sa.Integer(), server_default='100', nullable=False))
    op.create_check_constraint(
        op.f('ck_organizations_thresholds'),
        'organizations',
        '0 < warning_threshold AND warning_threshold <= critical_threshold AND critical_threshold <= exceeded_threshold',
    )


def downgrade() -> None:
    op.drop_constraint(op.f('ck_organizations_thresholds'), 'organizations', type_='check')
    op.drop_column('organizations', 'exceeded_threshold')
    op.drop_column('organizations', 'critical_threshold')
    op.drop_column('organizations', 'warning_threshold')
    op.drop_index('ix_events_organization_id_timestamp', table_name='events')
    op.drop_index('ix_events_organization_id_external_id', table_name='events', postgresql_where=sa.text('external_id IS NOT NULL'))
    op.drop_index('ix_events_organization_id_external_customer_id_xid', table_name='events', postgresql_where=sa.text('customer_id IS NULL'))
    op.drop_index('ix_events_customer_id_xid', table_name='events')
    op.drop_table('events')
    op.drop_index(op.f('ix_customer_meter_members_organization_id'), table_name='customer_meter_members')
    op.drop_index('ix_customer_meter_members_customer_id_meter_id_member_id', table_name='customer_meter_members')
    op.drop_table('customer_meter_members')
    op.drop_index('ix_meter_distinct_values_scope_value', table_name='meter_distinct_values')
    op.drop_index(op.f('ix_meter_distinct_values_organization_id'), table_name='meter_distinct_values')
    op.drop_table('meter_distinct_values')
    op.drop_index(op.f('ix_customer_meters_organization_id'), table_name='customer_meters')
    op.drop_index(op.f('ix_customer_meters_meter_id'), table_name='customer_meters')
    op.drop_index('ix_customer_meters_customer_id_meter_id', table_name='customer_meters')
    op.drop_table('customer_meters')
    op.drop_index(op.f('ix_customer_meter_states_organization_id'), table_name='customer_meter_states')
    op.drop_table('customer_meter_states')
