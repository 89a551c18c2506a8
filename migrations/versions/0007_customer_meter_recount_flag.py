"""customer meters: a flag to count again, instead of deleting the totals

Revision ID: 0007
Revises: 0006
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column("customer_meters", sa.Column("needs_recount", sa.Boolean(), server_default="false", nullable=False))


def downgrade() -> None:
    op.drop_column("customer_meters", "needs_recount")
