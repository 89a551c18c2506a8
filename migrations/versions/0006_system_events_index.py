"""index for system events (credits, resets)

Revision ID: 0006
Revises: 0005
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_index(
        "ix_events_customer_id_system", "events", ["customer_id", "xid"], unique=False, postgresql_where=sa.text("source = 'system'")
    )


def downgrade() -> None:
    op.drop_index("ix_events_customer_id_system", table_name="events", postgresql_where=sa.text("source = 'system'"))
