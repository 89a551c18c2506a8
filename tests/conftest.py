"""Test harness: real PostgreSQL and Redis, the database built by Alembic.

Services: TEST_DATABASE_URL / TEST_REDIS_URL when set; else the local servers on the default
ports, with a database and a Redis database of this run's own (`kassa_test_<pid>`, dropped at the
end; the first free Redis database from 9 to 14, claimed for the run in database 15, which the
tests never flush), so two runs on one machine never collide; else embedded ones started for the run.
Each test runs inside one outer transaction that is rolled back at its end: the app under test
gets a session factory bound to that connection, where a mutation's commit only releases a
savepoint.
"""

from __future__ import annotations

import os
from contextlib import asynccontextmanager
from dataclasses import dataclass, replace
from datetime import datetime, timezone
from typing import Any, AsyncIterator

import httpx
import pytest
from arq import create_pool
from redis.asyncio import Redis
from sqlalchemy import event, text
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncSession, async_sessionmaker
from sqlalchemy.orm import Session
from sqlalchemy.util import await_only

from app.config import PROJECT_ROOT, Settings
from app.kit import clock as kit_clock
from app.kit.db import create_engine
from app.kit.tenancy import bound_scope
from app.platform.migrations import run_migrations
from app.platform.services import redis_settings_from_url, resolve_services
from app.server import create_app

TEST_DATABASE_PREFIX = "kassa_test_"
REDIS_DATABASES = range(9, 15)  # the Redis databases test runs may claim, one each
REDIS_CLAIMS_DATABASE = 15  # where the claims are kept (never flushed by a test)


@dataclass
class TestServices:
    database_url: str
    redis_url: str


def _with_redis_db(url: str, db: int) -> str:
    if url.startswith("redis://") and url.rstrip("/").count("/") == 2:
        return f"{url.rstrip('/')}/{db}"
    if url.startswith("redis://") and url.endswith("/0"):
        return url[:-2] + f"/{db}"
    return url


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def _local_postgres(url: str) -> tuple[str, int] | None:
    """(host, port) of a PostgreSQL reached over TCP (not an embedded one on a socket)."""
    from sqlalchemy.engine import make_url

    parsed = make_url(url)
    return (parsed.host, parsed.port or 5432) if parsed.host else None


def _drop_databases(host: str, port: int, names: list[str]) -> None:
    import asyncpg

    from app.platform.services import run_sync

    async def main() -> None:
        conn = await asyncpg.connect(host=host, port=port, user="postgres", database="postgres", timeout=10)
        try:
            for name in names:
                await conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        finally:
            await conn.close()

    run_sync(main)


def _stale_test_databases(host: str, port: int) -> list[str]:
    """Databases of earlier runs whose process is gone (a run killed before it could drop its own)."""
    import asyncpg

    from app.platform.services import run_sync

    async def main() -> list[str]:
        conn = await asyncpg.connect(host=host, port=port, user="postgres", database="postgres", timeout=10)
        try:
            rows = await conn.fetch("SELECT datname FROM pg_database WHERE datname LIKE 'kassa\\_test\\_%'")
        finally:
            await conn.close()
        return [r["datname"] for r in rows if r["datname"][len(TEST_DATABASE_PREFIX):].isdigit()]

    return [name for name in run_sync(main) if not _pid_alive(int(name[len(TEST_DATABASE_PREFIX):]))]


def _claim_redis_database(url: str) -> tuple[str, Any]:
    """The first Redis database of REDIS_DATABASES that no live run holds, claimed by this run
    (a key in REDIS_CLAIMS_DATABASE naming its pid, expiring after a day in case the run is
    killed); and the function that releases it."""
    import redis as redis_sync

    claims = redis_sync.Redis.from_url(_with_redis_db(url, REDIS_CLAIMS_DATABASE))
    for db in REDIS_DATABASES:
        key = f"kassa:test-run:{db}"
        holder = claims.get(key)
        if holder is not None and int(holder) != os.getpid() and _pid_alive(int(holder)):
            continue
        if holder is not None:
            claims.delete(key)  # its run is gone
        if not claims.set(key, os.getpid(), nx=True, ex=86_400):
            continue  # another run claimed it just now

        def release(key=key) -> None:
            claims.delete(key)
            claims.close()

        return _with_redis_db(url, db), release
    claims.close()
    raise RuntimeError(f"every Redis database {REDIS_DATABASES.start}-{REDIS_DATABASES.stop - 1} is held by a running test run")


@pytest.fixture(scope="session")
def services() -> Any:
    own_database = f"{TEST_DATABASE_PREFIX}{os.getpid()}"
    settings = Settings(
        database_url=os.environ.get("TEST_DATABASE_URL") or None,
        redis_url=os.environ.get("TEST_REDIS_URL") or None,
        data_dir=PROJECT_ROOT / ".data" / "test",
        local_database_name=own_database,
    )
    resolved = resolve_services(settings, allow_embedded=True)
    local = None if settings.database_url else _local_postgres(resolved.database_url)
    if local is not None:
        stale = _stale_test_databases(*local)
        if stale:
            _drop_databases(*local, stale)
    release_redis = None
    redis_url = resolved.redis_url
    if not settings.redis_url:
        redis_url, release_redis = _claim_redis_database(resolved.redis_url)
    try:
        yield TestServices(database_url=resolved.database_url, redis_url=redis_url), resolved
    finally:
        if release_redis is not None:
            release_redis()
        if local is not None:
            _drop_databases(*local, [own_database])
        resolved.stop()


APP_ROLE = Settings().database_app_role


@pytest.fixture(scope="session")
async def owner_engine(services):
    """The database owner's engine: schema resets, migrations, TRUNCATE, cross-tenant checks."""
    test_services, _resolved = services
    engine = create_engine(test_services.database_url, pool_size=2)
    async with engine.begin() as connection:  # a clean schema for every run
        await connection.execute(text("DROP SCHEMA public CASCADE"))
        await connection.execute(text("CREATE SCHEMA public"))
    await engine.dispose()
    run_migrations(test_services.database_url)
    engine = create_engine(test_services.database_url, pool_size=2)
    yield engine
    await engine.dispose()


@pytest.fixture(scope="session")
async def engine(services, owner_engine):
    """The application's engine: it acts as the application role, which row-level security binds."""
    test_services, _resolved = services
    engine = create_engine(test_services.database_url, role=APP_ROLE, pool_size=4)
    yield engine
    await engine.dispose()


@pytest.fixture(scope="session")
async def redis(services) -> AsyncIterator[Redis]:
    """An arq pool on the test Redis database: a Redis client and the job queue."""
    test_services, _ = services
    client = await create_pool(redis_settings_from_url(test_services.redis_url))
    await client.flushdb()
    yield client
    await client.aclose()


# The instant the `clock` fixture freezes business time at: far from the real date, so a time
# taken from anything but the kit's clock shows.
FROZEN_AT = datetime(2024, 2, 29, 12, 0, tzinfo=timezone.utc)


@pytest.fixture(scope="session")
def localstripe():
    """localstripe (a stateful Stripe-compatible server from PyPI) for the run: the official
    `stripe` SDK talks to it as to Stripe (tests/localstripe_server.py)."""
    from tests.localstripe_server import LocalStripe

    server = LocalStripe().start()
    yield server
    server.stop()


@pytest.fixture
def clock():
    """The kit's clock (app/kit/clock.py), frozen at FROZEN_AT for this test: move it with
    `clock.advance(timedelta(...))` or `clock.set(...)`. The app and the worker in the test's
    process see the same time."""
    kit_clock.set(FROZEN_AT)
    try:
        yield kit_clock
    finally:
        kit_clock.reset()


@pytest.fixture(autouse=True)
def _real_clock_after_each_test():
    """Whatever a test did to the clock, the next one starts on real time."""
    yield
    kit_clock.reset()


@pytest.fixture
def settings(services) -> Settings:
    test_services, _ = services
    return Settings(
        database_url=test_services.database_url,
        redis_url=test_services.redis_url,
        expose_sql_count=True,
        environment="development",
    )


@pytest.fixture
async def connection(engine) -> AsyncIterator[AsyncConnection]:
    async with engine.connect() as connection:
        assert await connection.scalar(text("SELECT current_user")) == APP_ROLE  # no test left it as the owner
        await connection.rollback()
        transaction = await connection.begin()
        try:
            yield connection
        finally:
            await transaction.rollback()


class _TestSession(Session):
    """All of a test's sessions share one outer transaction, so the tenant setting one session
    set would still be there for the next: a session acting for nobody clears it, as a new
    transaction would in production."""


@event.listens_for(_TestSession, "after_begin")
def _clear_scope(session: Session, _transaction, connection) -> None:
    if bound_scope(session) is None:  # on the driver: a test's statement, not the app's (not counted)
        await_only(connection.connection.driver_connection.execute("SELECT set_config('kassa.organization_id', '', true)"))


async def assert_ledgers_balance(session_factory) -> None:
    """The reusable ledger check (app/kit/ledger.py): every cached balance of every declared
    ledger equals the sum of its entries, across organizations; and every order's transactions
    reconcile with its amounts (app/orders/reconcile.py). Run after every test that used
    the database (the `session_factory` and `live` fixtures), and callable mid-scenario."""
    from app.kit.ledger import LEDGERS, reconcile_report
    from app.orders.reconcile import discrepancies
    from app.wallets.repository import held_mismatches, lots_mismatches

    if not LEDGERS:
        return
    async with session_factory() as session, as_owner(session):
        report = await reconcile_report(session)
        orders = await discrepancies(session)
        lots = await lots_mismatches(session)
        held = await held_mismatches(session)
    assert not report, f"cached balances differ from their ledgers:\n{report}"
    assert not lots, "wallets whose balance differs from what their lots hold (wallet, balance, lots): " + repr(lots)
    assert not held, "wallets whose held differs from their active holds (wallet, held, active holds): " + repr(held)
    assert not orders, "orders whose transactions do not reconcile with their amounts:\n" + "\n".join(orders)


@pytest.fixture
async def session_factory(connection) -> AsyncIterator[async_sessionmaker[AsyncSession]]:
    factory = async_sessionmaker(
        bind=connection, expire_on_commit=False, autoflush=False, join_transaction_mode="create_savepoint", sync_session_class=_TestSession
    )
    yield factory
    await assert_ledgers_balance(factory)


@asynccontextmanager
async def as_owner(session: AsyncSession) -> AsyncIterator[AsyncSession]:
    """`session` acting as the database owner (who row-level security does not restrict) for
    a cross-tenant check, then as the application role again. `SET LOCAL`: a block that commits
    (or whose RESET is rolled back) ends its transaction as the application role again, so a
    pooled connection never goes back to the pool as the owner."""
    await session.execute(text("SET LOCAL ROLE NONE"))
    try:
        yield session
    finally:
        await session.execute(text("RESET ROLE"))


def tenant_factory(session_factory, organization_id) -> Any:
    """`session_factory`, its sessions acting for `organization_id` (as a job's would)."""
    from app.auth.service import operator_scope
    from app.kit.tenancy import scoped_factory

    return scoped_factory(session_factory, operator_scope(organization_id))


class Api:
    """Talks to the app the way a merchant's back end does: GraphQL over HTTP."""

    def __init__(self, client: httpx.AsyncClient) -> None:
        self.client = client
        self.last_statement_count: int | None = None

    async def post(self, query: str, variables: dict | None = None, *, token: str | None = None, headers: dict | None = None) -> httpx.Response:
        all_headers = dict(headers or {})
        if token is not None:
            all_headers["Authorization"] = f"Bearer {token}"
        response = await self.client.post("/graphql", json={"query": query, "variables": variables or {}}, headers=all_headers)
        count = response.headers.get("x-kassa-sql-statements")
        self.last_statement_count = int(count) if count is not None else None
        return response

    async def gql(self, query: str, variables: dict | None = None, *, token: str | None = None) -> dict:
        response = await self.post(query, variables, token=token)
        return response.json()

    async def data(self, query: str, variables: dict | None = None, *, token: str) -> dict:
        """The `data` of a response that must have no errors."""
        body = await self.gql(query, variables, token=token)
        assert not body.get("errors"), body.get("errors")
        return body["data"]


@pytest.fixture
async def api(settings, session_factory, redis) -> AsyncIterator[Api]:
    app = create_app(settings, session_factory=session_factory, redis=redis)
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://kassa.test") as client:
        yield Api(client)


@dataclass
class Org:
    id: Any
    token: str
    token_id: Any


async def make_org(session_factory, *, name: str = "Acme", scopes: list[str] | None = None) -> Org:
    """A new organization and an access token (every scope unless `scopes` is given)."""
    from app.auth.service import issue_token
    from app.organizations.service import create_organization

    async with session_factory() as session:
        organization, token, plain = await create_organization(session, name)
        if scopes is not None:
            token, plain = await issue_token(session, organization.id, scopes=scopes)
        await session.commit()
    return Org(id=organization.id, token=plain, token_id=token.id)


@pytest.fixture
async def org(session_factory) -> Org:
    return await make_org(session_factory, name="Org A")


@pytest.fixture
async def other_org(session_factory) -> Org:
    return await make_org(session_factory, name="Org B")


async def count_rows(session_factory, table: str) -> int:
    """Rows of `table` across every organization."""
    async with session_factory() as session, as_owner(session):
        return int(await session.scalar(text(f"SELECT count(*) FROM {table}")))


async def table_counts(session_factory) -> dict[str, int]:
    return {table: await count_rows(session_factory, table) for table in ("customers", "members", "organizations", "access_tokens")}


# -- committed data: for tests where a worker (with its own sessions) must see the rows -------


@dataclass
class Live:
    """The app on real commits, a worker runner and the test's Redis queue."""

    api: Api
    session_factory: async_sessionmaker[AsyncSession]
    redis: Any
    settings: Settings

    def worker_settings(self, **overrides: Any) -> Settings:
        values = {
            "webhook_retry_schedule": (0.05, 0.05, 0.05),
            "webhook_failure_threshold": 3,
            "webhook_timeout_seconds": 2.0,
            "worker_retry_base_seconds": 0.01,
        }
        values.update(overrides)
        return replace(self.settings, **values)

    async def run_worker(self, **settings_overrides: Any) -> Any:
        """Run a burst worker until the queue (deferred jobs included) is empty."""
        from arq.worker import Worker

        import workers.settings  # noqa: F401 - registers every job
        from workers.registry import REGISTRY

        from workers.webhook_delivery import webhook_client

        async with webhook_client(self.worker_settings(**settings_overrides)) as http:
            worker = Worker(
                functions=list(REGISTRY.values()),
                redis_pool=self.redis,
                burst=True,
                handle_signals=False,
                poll_delay=0.01,
                keep_result=0,
                ctx={"settings": self.worker_settings(**settings_overrides), "session_factory": self.session_factory, "http": http},
            )
            await worker.main()
            return worker


@pytest.fixture
async def live(engine, owner_engine, settings, redis) -> AsyncIterator[Live]:
    from app.kit.db import create_session_factory
    from app.models import Base

    factory = create_session_factory(engine)
    app = create_app(settings, session_factory=factory, redis=redis)
    try:
        async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://kassa.test") as client:
            yield Live(api=Api(client), session_factory=factory, redis=redis, settings=settings)
        await assert_ledgers_balance(factory)
    finally:
        tables = ", ".join(table.name for table in Base.metadata.sorted_tables)
        async with owner_engine.begin() as connection:
            await connection.execute(text(f"TRUNCATE {tables} CASCADE"))
        await redis.flushdb()
