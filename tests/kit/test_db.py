"""The engine's connections: a tenant transaction's organization set with its BEGIN (one round
trip), nothing of it left to the connection's next user, and a connection whose server side
went away replaced at checkout instead of failing the request."""

from __future__ import annotations

import asyncio

from sqlalchemy import text

from app.kit.db import DriverConnection, create_session_factory, statement_counter
from tests.conftest import make_org, tenant_factory
from tests.operations import create_customer

EMAILS = text("SELECT email FROM customers ORDER BY email")
SETTING = text("SELECT current_setting('kassa.organization_id', true)")


async def _driver(connection) -> DriverConnection:
    return (await connection.get_raw_connection()).driver_connection


async def _backend_pids(engine) -> set[int]:
    """The server pids of the pool's connections, each checked out at once."""
    connections = [await engine.connect() for _ in range(engine.pool.size())]
    try:
        return {await c.scalar(text("SELECT pg_backend_pid()")) for c in connections}
    finally:
        for c in connections:
            await c.close()


async def test_a_tenant_transaction_sets_its_organization_with_its_begin(live, engine):
    org_a, org_b = await make_org(live.session_factory, name="A"), await make_org(live.session_factory, name="B")
    await create_customer(live.api, org_a.token, email="a@example.com")
    await create_customer(live.api, org_b.token, email="b@example.com")
    factory = create_session_factory(engine)

    counter = [0]
    token = statement_counter.set(counter)
    try:
        async with tenant_factory(factory, org_a.id)() as session:
            assert (await session.scalars(EMAILS)).all() == ["a@example.com"]
            driver = await _driver(await session.connection())
            assert isinstance(driver, DriverConnection)
    finally:
        statement_counter.reset(token)
    assert counter[0] == 1  # the query alone: the organization rode with the BEGIN

    async with tenant_factory(factory, org_b.id)() as session:  # a transaction after a commit sets it again
        assert (await session.scalars(EMAILS)).all() == ["b@example.com"]
        await session.commit()
        assert (await session.scalars(EMAILS)).all() == ["b@example.com"]


async def test_a_transaction_that_never_started_leaves_nothing_to_the_next_user(live, engine):
    """A scoped session that checks a connection out and sends no statement leaves its
    organization pending on the driver connection: the pool forgets it at check-in, so an
    unscoped session on that connection sees no tenant rows, and a raw connection no setting."""
    org = await make_org(live.session_factory)
    await create_customer(live.api, org.token, email="a@example.com")
    factory = create_session_factory(engine)
    await engine.dispose()  # every later checkout reuses the one connection left in the pool
    async with tenant_factory(factory, org.id)() as session:
        connection = await session.connection()  # the transaction begins: its BEGIN waits for a statement
        driver = await _driver(connection)
        assert driver._begin_with is not None
    assert driver._begin_with is None
    async with factory() as session:
        assert await _driver(await session.connection()) is driver
        assert (await session.scalars(EMAILS)).all() == []
    async with engine.connect() as connection:
        assert await _driver(connection) is driver
        assert await connection.scalar(SETTING) in (None, "")


async def test_a_connection_whose_backend_was_terminated_is_replaced_at_checkout(live, engine, owner_engine):
    """A database restart (here: every pooled backend terminated) costs no failed request: the
    socket's closing is noticed at checkout and a new connection is handed out."""
    org = await make_org(live.session_factory)
    await create_customer(live.api, org.token, email="a@example.com")
    factory = create_session_factory(engine)
    pids = await _backend_pids(engine)
    async with owner_engine.connect() as owner:
        terminated = await owner.scalar(text("SELECT count(*) FROM (SELECT pg_terminate_backend(pid) FROM unnest(CAST(:pids AS int[])) AS pid) t"), {"pids": list(pids)})
    assert terminated == len(pids)
    await asyncio.sleep(0.2)  # the server's goodbye reaches the sockets
    async with tenant_factory(factory, org.id)() as session:
        assert (await session.scalars(EMAILS)).all() == ["a@example.com"]
    assert not (await _backend_pids(engine)) & pids


async def test_a_statement_sent_straight_to_the_driver_first_runs_inside_the_transaction(live, engine):
    """The ingestion's batch insert sent before any other statement of its transaction: it runs
    after that transaction's BEGIN (which sets the organization row-level security checks), so
    it is allowed and a rollback takes it back."""
    from datetime import datetime, timezone

    from app.events.repository import insert_batch
    from app.auth.service import operator_scope

    org = await make_org(live.session_factory)
    factory = create_session_factory(engine)
    columns = [["call"], [datetime(2026, 1, 1, tzinfo=timezone.utc)], [None], ["ext-1"], [None], [None], [None], ["{}"]]
    now = datetime.now(timezone.utc)
    async with tenant_factory(factory, org.id)() as session:
        assert await insert_batch(session, operator_scope(org.id), "user", columns, now=now) == 1
        await session.rollback()
        assert await insert_batch(session, operator_scope(org.id), "user", columns, now=now) == 1  # a new transaction, the same way
        await session.commit()
    async with tenant_factory(factory, org.id)() as session:
        assert await session.scalar(text("SELECT count(*) FROM events")) == 1
