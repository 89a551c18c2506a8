"""subscription changes: pause at the period's end and the `paused` status; an index of the
billing entries no order has billed yet (prorations for the next order)

Revision ID: 0017
Revises: 0016
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0017"
down_revision = "0016"
branch_labels = None
depends_on = None

STATUSES = "'incomplete', 'trialing', 'active', 'past_due', 'canceled', 'unpaid'"


def upgrade() -> None:
    op.add_column("subscriptions", sa.Column("pause_at_period_end", sa.Boolean(), server_default=sa.false(), nullable=False))
    op.add_column("subscriptions", sa.Column("paused_at", sa.DateTime(timezone=True), nullable=True))
    op.drop_constraint(op.f("ck_subscriptions_status"), "subscriptions", type_="check")
    op.create_check_constraint(op.f("ck_subscriptions_status"), "subscriptions", f"status IN ({STATUSES}, 'paused')")
    op.create_index("ix_billing_entries_pending", "billing_entries", ["subscription_id"], unique=False, postgresql_where=sa.text("order_id IS NULL"))


def downgrade() -> None:
    op.drop_index("ix_billing_entries_pending", table_name="billing_entries", postgresql_where=sa.text("order_id IS NULL"))
    op.execute("UPDATE subscriptions SET status = 'canceled', ended_at = coalesce(ended_at, paused_at) WHERE status = 'paused'")
    op.drop_constraint(op.f("ck_subscriptions_status"), "subscriptions", type_="check")
    op.create_check_constraint(op.f("ck_subscriptions_status"), "subscriptions", f"status IN ({STATUSES})")
    op.drop_column("subscriptions", "paused_at")
    op.drop_column("subscriptions", "pause_at_period_end")
