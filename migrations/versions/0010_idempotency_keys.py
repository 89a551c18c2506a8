"""idempotency keys: one row per (organization, operation, key), holding the first answer to replay

Revision ID: 0010
Revises: 0009

With the same row-level security policy as every tenant table (migration 0009).
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision = "0010"
down_revision = "0009"
branch_labels = None
depends_on = None

CURRENT = "(SELECT kassa_current_organization())"


def upgrade() -> None:
    op.create_table(
        "idempotency_keys",
        sa.Column("organization_id", sa.Uuid(), nullable=False),
        sa.Column("operation", sa.String(length=128), nullable=False),
        sa.Column("key", sa.String(length=255), nullable=False),
        sa.Column("request_hash", sa.String(length=64), nullable=False),
        sa.Column("response", postgresql.JSONB(astext_type=sa.Text()), nullable=True),
        sa.Column("expires_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False),
        sa.Column("modified_at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False),
        sa.ForeignKeyConstraint(
            ["organization_id"], ["organizations.id"], name=op.f("fk_idempotency_keys_organization_id_organizations"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_idempotency_keys")),
        sa.UniqueConstraint("organization_id", "operation", "key", name=op.f("uq_idempotency_keys_organization_id_operation_key")),
    )
    op.create_index("ix_idempotency_keys_organization_id_expires_at", "idempotency_keys", ["organization_id", "expires_at"], unique=False)
    op.execute("ALTER TABLE idempotency_keys ENABLE ROW LEVEL SECURITY")
    op.execute(
        f"CREATE POLICY tenant_isolation ON idempotency_keys USING (organization_id = {CURRENT}) WITH CHECK (organization_id = {CURRENT})"
    )


def downgrade() -> None:
    op.execute("DROP POLICY tenant_isolation ON idempotency_keys")
    op.drop_index("ix_idempotency_keys_organization_id_expires_at", table_name="idempotency_keys")
    op.drop_table("idempotency_keys")
