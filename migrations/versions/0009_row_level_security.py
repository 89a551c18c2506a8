"""row-level security on every tenant table, keyed by the transaction-local setting kassa.organization_id

Revision ID: 0009
Revises: 0008

The application acts as a role that cannot bypass these policies (created and granted by
`app.platform.migrations.ensure_app_role` after every upgrade); migrations run as the owner,
which policies do not restrict. Two functions, defined by the owner, are the only ways across
organizations: `kassa_authenticate` (a token's row by its hash; it also sets the setting) and
`kassa_organization_ids` (for the sweeps, which then work one organization at a time).
"""

from __future__ import annotations

from alembic import op

revision = "0009"
down_revision = "0008"
branch_labels = None
depends_on = None

# Every table with an organization_id (tests/test_tenancy.py checks that none is missing).
TENANT_TABLES = (
    "access_tokens",
    "customers",
    "members",
    "products",
    "product_prices",
    "meters",
    "events",
    "customer_meter_states",
    "customer_meters",
    "customer_meter_members",
    "meter_distinct_values",
    "webhook_endpoints",
    "webhook_events",
    "webhook_deliveries",
    "webhook_delivery_attempts",
)

# In a sub-select, the setting is read once per statement (an InitPlan), not once per row: an
# ingestion batch checks a thousand rows against it.
CURRENT = "(SELECT kassa_current_organization())"


def upgrade() -> None:
    op.execute(
        """
        CREATE FUNCTION kassa_current_organization() RETURNS uuid
        LANGUAGE sql STABLE PARALLEL SAFE
        AS $$ SELECT NULLIF(current_setting('kassa.organization_id', true), '')::uuid $$
        """
    )
    for table in TENANT_TABLES:
        op.execute(f"ALTER TABLE {table} ENABLE ROW LEVEL SECURITY")
        op.execute(f"CREATE POLICY tenant_isolation ON {table} USING (organization_id = {CURRENT}) WITH CHECK (organization_id = {CURRENT})")
    op.execute("ALTER TABLE organizations ENABLE ROW LEVEL SECURITY")
    op.execute(f"CREATE POLICY tenant_isolation ON organizations USING (id = {CURRENT}) WITH CHECK (id = {CURRENT})")
    # A job failure belongs to its organization, or to nobody (system jobs).
    op.execute("ALTER TABLE job_failures ENABLE ROW LEVEL SECURITY")
    op.execute(
        f"CREATE POLICY tenant_isolation ON job_failures USING (organization_id IS NULL OR organization_id = {CURRENT}) "
        f"WITH CHECK (organization_id IS NULL OR organization_id = {CURRENT})"
    )
    op.execute(
        """
        CREATE FUNCTION kassa_authenticate(token_hash text) RETURNS SETOF access_tokens
        LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, public
        AS $$
        DECLARE
            token_row access_tokens;
        BEGIN
            SELECT * INTO token_row FROM access_tokens t WHERE t.token_hash = kassa_authenticate.token_hash;
            IF NOT FOUND THEN
                RETURN;
            END IF;
            IF token_row.revoked_at IS NULL THEN
                PERFORM set_config('kassa.organization_id', token_row.organization_id::text, true);
            END IF;
            RETURN NEXT token_row;
        END
        $$
        """
    )
    op.execute(
        """
        CREATE FUNCTION kassa_organization_ids() RETURNS SETOF uuid
        LANGUAGE sql STABLE SECURITY DEFINER SET search_path = pg_catalog, public
        AS $$ SELECT id FROM organizations ORDER BY created_at, id $$
        """
    )
    op.execute("REVOKE ALL ON FUNCTION kassa_authenticate(text) FROM PUBLIC")
    op.execute("REVOKE ALL ON FUNCTION kassa_organization_ids() FROM PUBLIC")


def downgrade() -> None:
    op.execute("DROP FUNCTION kassa_organization_ids()")
    op.execute("DROP FUNCTION kassa_authenticate(text)")
    for table in (*TENANT_TABLES, "organizations", "job_failures"):
        op.execute(f"DROP POLICY tenant_isolation ON {table}")
        op.execute(f"ALTER TABLE {table} DISABLE ROW LEVEL SECURITY")
    op.execute("DROP FUNCTION kassa_current_organization()")
