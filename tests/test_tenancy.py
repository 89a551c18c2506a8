"""Tenant isolation's second wall: PostgreSQL row-level security, and the scope value only
authentication produces."""

from __future__ import annotations

import ast

import pytest
from sqlalchemy import select, text
from sqlalchemy.exc import DBAPIError

from app.auth.service import operator_scope
from app.config import PROJECT_ROOT
from app.kit import repository as kit_repository
from app.kit.tenancy import TenantScope
from app.models import Base, Customer
from tests.conftest import APP_ROLE, as_owner, make_org, tenant_factory
from tests.operations import LIST_CUSTOMERS, create_customer

FORGOTTEN = text("SELECT email FROM customers ORDER BY email")  # no organization filter at all


async def test_a_query_that_forgets_its_filter_sees_only_its_own_organization(session_factory, api):
    org_a, org_b = await make_org(session_factory, name="A"), await make_org(session_factory, name="B")
    await create_customer(api, org_a.token, email="a@example.com")
    await create_customer(api, org_b.token, email="b@example.com")

    async with tenant_factory(session_factory, org_a.id)() as session:
        assert (await session.scalars(FORGOTTEN)).all() == ["a@example.com"]
        assert [c.email for c in (await session.scalars(select(Customer))).all()] == ["a@example.com"]
    async with tenant_factory(session_factory, org_b.id)() as session:
        assert (await session.scalars(FORGOTTEN)).all() == ["b@example.com"]
    async with session_factory() as session:  # acting for nobody: no tenant rows at all
        assert (await session.scalars(FORGOTTEN)).all() == []
        assert (await session.scalars(text("SELECT name FROM organizations"))).all() == []
    async with session_factory() as session, as_owner(session):  # the owner (migrations, the CLI) sees both
        assert (await session.scalars(FORGOTTEN)).all() == ["a@example.com", "b@example.com"]


async def test_writing_a_row_of_another_organization_is_refused(session_factory):
    org_a, org_b = await make_org(session_factory, name="A"), await make_org(session_factory, name="B")
    async with tenant_factory(session_factory, org_a.id)() as session:
        session.add(Customer(organization_id=org_b.id, type="individual", email="intruder@example.com"))
        with pytest.raises(DBAPIError, match="row-level security"):
            await session.flush()
        await session.rollback()
    async with tenant_factory(session_factory, org_a.id)() as session:  # nor can it move B's rows or touch them
        updated = await session.execute(text("UPDATE customers SET email = 'x@example.com' WHERE organization_id = :b"), {"b": org_b.id})
        assert updated.rowcount == 0
        await session.rollback()


async def test_the_api_stays_isolated_when_every_repository_forgets_its_filter(session_factory, api, monkeypatch):
    """`scoped()` turned into a no-op (every repository's filter forgotten at once): a list of
    customers still answers only the caller's."""
    org_a, org_b = await make_org(session_factory, name="A"), await make_org(session_factory, name="B")
    await create_customer(api, org_a.token, email="a@example.com")
    await create_customer(api, org_b.token, email="b@example.com")

    def forgetful(statement, model, scope):
        return statement

    for module in ("app.customers.repository", "app.members.repository", "app.catalog.repository", "app.meters.repository", "app.webhooks.repository"):
        monkeypatch.setattr(f"{module}.scoped", forgetful, raising=False)
    monkeypatch.setattr(kit_repository, "scoped", forgetful)
    for org, email in ((org_a, "a@example.com"), (org_b, "b@example.com")):
        data = await api.data(LIST_CUSTOMERS, {"first": 10}, token=org.token)
        assert [edge["node"]["email"] for edge in data["customers"]["edges"]] == [email]


async def test_every_tenant_table_has_a_policy_and_the_app_role_cannot_bypass_it(session_factory):
    async with session_factory() as session:
        role = (await session.execute(text("SELECT current_user, rolsuper, rolbypassrls FROM pg_roles WHERE rolname = current_user"))).one()
        assert tuple(role) == (APP_ROLE, False, False)
        rows = (
            await session.execute(
                text(
                    """SELECT c.relname, c.relrowsecurity, count(p.polname)
                    FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
                    LEFT JOIN pg_policy p ON p.polrelid = c.oid
                    WHERE n.nspname = 'public' AND c.relkind = 'r'
                    GROUP BY c.relname, c.relrowsecurity"""
                )
            )
        ).all()
    security = {name: (enabled, policies) for name, enabled, policies in rows}
    tenant_tables = {table.name for table in Base.metadata.sorted_tables if "organization_id" in table.c} | {"organizations"}
    missing = sorted(t for t in tenant_tables if security.get(t) != (True, 1))
    assert not missing, f"tenant tables without row-level security and a policy: {missing}"
    assert security["job_outbox"] == (False, 0)  # a system table: no organization


async def test_authentication_sets_the_scope_and_an_unknown_token_sets_nothing(session_factory, api):
    org = await make_org(session_factory, name="A")
    async with session_factory() as session:
        assert (await session.execute(text("SELECT * FROM kassa_authenticate('unknown')"))).all() == []
        assert await session.scalar(text("SELECT kassa_current_organization()")) is None
    from app.auth.service import authenticate

    async with session_factory() as session:
        subject = await authenticate(session, org.token)
        assert subject.scope == operator_scope(org.id)
        assert await session.scalar(text("SELECT kassa_current_organization()")) == org.id
        assert (await session.scalars(text("SELECT id FROM organizations"))).all() == [org.id]


def test_a_scope_cannot_be_made_from_a_bare_id(org_id=None):
    import uuid

    with pytest.raises(TypeError, match="authentication"):
        TenantScope(uuid.uuid4())
    scope = operator_scope(uuid.uuid4())
    with pytest.raises(AttributeError):
        scope.organization_id = uuid.uuid4()


def test_only_authentication_mints_scopes():
    """`_mint` (the way to make a TenantScope) is called from app/auth/service.py alone."""
    callers = []
    for path in sorted(PROJECT_ROOT.glob("**/*.py")):
        relative = path.relative_to(PROJECT_ROOT).as_posix()
        if relative.startswith((".venv/", ".data/", "tests/")) or "/node_modules/" in relative:
            continue
        for node in ast.walk(ast.parse(path.read_text(), filename=relative)):
            if isinstance(node, ast.Name) and node.id == "_mint" or isinstance(node, ast.Attribute) and node.attr == "_mint":
                callers.append(relative)
            if isinstance(node, ast.Name) and node.id == "_MINT" and relative != "app/kit/tenancy.py":
                callers.append(relative)
    assert set(callers) <= {"app/auth/service.py", "app/kit/tenancy.py"}, callers
    assert "app/auth/service.py" in callers


# Functions that look a row up by a bare id without a scope, and why that is safe.
BY_ID_WITHOUT_SCOPE = {
    "app/auth/repository.py revoke",  # the operator's `kassa token revoke`, as the database owner
    "app/meters/repository.py lock_customer",  # an advisory lock: no rows
    "app/meters/repository.py lock_customers",  # advisory locks: no rows
    "app/meters/repository.py _resets",  # a VALUES list of the caller's (scoped) rows: reads nothing
    "app/webhooks/repository.py try_lock_endpoint",  # an advisory lock: no rows
}


def test_every_repository_takes_the_scope_not_a_bare_id():
    """No repository function takes an `organization_id` (they take the `TenantScope`), and one
    that finds rows by a bare id takes the scope too."""
    offenders = []
    for path in sorted((PROJECT_ROOT / "app").glob("*/repository.py")):
        relative = path.relative_to(PROJECT_ROOT).as_posix()
        for node in ast.walk(ast.parse(path.read_text(), filename=str(path))):
            if not isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
                continue
            arguments = node.args.args + node.args.kwonlyargs
            names = [a.arg for a in arguments]
            by_bare_id = any(a.annotation is not None and "uuid.UUID" in ast.unparse(a.annotation) for a in arguments)
            scoped_by_row = "customer" in names  # filters by the organization of a row read in scope
            if by_bare_id and not scoped_by_row and "scope" not in names and f"{relative} {node.name}" in BY_ID_WITHOUT_SCOPE:
                continue
            if "organization_id" in names or node.name.endswith("_unscoped"):
                offenders.append(f"{relative}:{node.lineno} {node.name}")
            elif by_bare_id and not scoped_by_row and "scope" not in names:
                offenders.append(f"{relative}:{node.lineno} {node.name} finds rows by id without the scope")
    assert not offenders, offenders


def test_a_repository_refuses_a_bare_id(session_factory):
    import uuid

    from app.customers import repository

    with pytest.raises(TypeError, match="TenantScope"):
        repository._filtered(uuid.uuid4(), repository.CustomerFilter())


async def test_a_job_acts_only_for_the_organization_it_was_queued_for(live):
    """A job's scope comes from the organization its request acted for: handed another
    organization's customer, the meter update finds nothing and changes nothing."""
    from decimal import Decimal

    from app.kit.jobs import JobRequest, send
    from tests.meters.helpers import billing, by_meter, condition, create_meter, ingest_rest

    org_a, org_b = await make_org(live.session_factory, name="A"), await make_org(live.session_factory, name="B")
    customer_b = await create_customer(live.api, org_b.token, email="b@example.com", externalId="b")
    await create_meter(live.api, org_b.token, "calls", [condition("name", "eq", "call")])
    await ingest_rest(live.api, org_b.token, [{"name": "call", "external_customer_id": "b"}] * 2)
    await live.redis.flushdb()  # B's own update job is lost
    from app.kit.ids import from_global_id

    _, customer_b_id = from_global_id(customer_b["id"])
    await send(live.redis, [JobRequest("meters.update_customer", (str(org_a.id), str(customer_b_id)))])
    await live.run_worker()
    assert Decimal(by_meter(await billing(live.api, org_b.token, externalCustomerId="b"))["calls"]["consumed"]) == 0
    await send(live.redis, [JobRequest("meters.update_customer", (str(org_b.id), str(customer_b_id)))])
    await live.run_worker()
    assert Decimal(by_meter(await billing(live.api, org_b.token, externalCustomerId="b"))["calls"]["consumed"]) == 2


async def test_a_tenant_job_without_its_organization_is_recorded_once(live):
    """A job queued by code from before jobs carried their organization cannot be given a scope:
    it is recorded in job_failures at once, not retried (the sweeps redo its work)."""
    from app.kit.jobs import JobRequest, send
    from app.models import JobFailure

    org = await make_org(live.session_factory, name="A")
    customer = await create_customer(live.api, org.token, email="a@example.com")
    from app.kit.ids import from_global_id

    _, customer_id = from_global_id(customer["id"])
    await send(live.redis, [JobRequest("meters.update_customer", (str(customer_id),))])
    await live.run_worker()
    async with live.session_factory() as session, as_owner(session):
        failures = (await session.scalars(select(JobFailure))).all()
    assert [(f.job_name, f.tries, f.organization_id) for f in failures] == [("meters.update_customer", 1, None)]
    assert "the organization's id first" in failures[0].error
