"""Engine, sessions and the per-request session gate."""

from __future__ import annotations

import asyncio
import time
from contextlib import asynccontextmanager
from contextvars import ContextVar
from typing import AsyncIterator, Awaitable, Callable, TypeVar

import asyncpg
from sqlalchemy import event
from sqlalchemy.exc import DBAPIError, DisconnectionError
from sqlalchemy.util import await_
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker, create_async_engine

from app.kit.tenancy import TenantScope, bind, not_begun

T = TypeVar("T")

# Counts SQL statements for whoever set a list here (tests, the debug header, benchmarks).
statement_counter: ContextVar[list[int] | None] = ContextVar("statement_counter", default=None)


def async_database_url(url: str) -> str:
    """Accept `postgres://`, `postgresql://` or `postgresql+asyncpg://` and return the asyncpg form."""
    for prefix in ("postgresql+asyncpg://", "postgresql+psycopg2://", "postgresql+psycopg://", "postgresql://", "postgres://"):
        if url.startswith(prefix):
            return "postgresql+asyncpg://" + url[len(prefix):]
    raise ValueError(f"DATABASE_URL must be a PostgreSQL URL, got {url.split(':', 1)[0]}://...")


def _count_statement(*_args, **_kwargs) -> None:
    counter = statement_counter.get()
    if counter is not None:
        counter[0] += 1


class DriverConnection(asyncpg.Connection):
    """asyncpg's connection, able to send one statement along with the next BEGIN: a tenant
    session's transaction sets its organization (app.kit.tenancy) in the BEGIN's round trip
    instead of one of its own. `begin_with` names it; the BEGIN that asyncpg sends when
    SQLAlchemy starts the transaction (lazily, before its first statement) carries it, once."""

    _begin_with: str | None = None

    def begin_with(self, statement: str | None) -> None:
        """Send `statement` (plain SQL, no parameters: values inlined by the caller) with the
        next BEGIN; None forgets one still pending (the pool does at check-in)."""
        self._begin_with = statement

    async def execute(self, query: str, *args, timeout: float | None = None) -> str:
        pending = self._begin_with
        if pending is not None and not args and query.startswith("BEGIN"):
            self._begin_with = None
            query = f"{query.rstrip().rstrip(';')}; {pending};"
        return await super().execute(query, *args, timeout=timeout)


async def begun_driver(adapter) -> DriverConnection:
    """The driver connection under SQLAlchemy's asyncpg adapter (a pooled connection's
    `dbapi_connection`), its transaction begun on the server: the adapter sends BEGIN lazily,
    before its first statement, and a statement sent straight to the driver (the ingestion's
    batch insert, the job outbox's row) must run inside the transaction, with the organization
    its BEGIN sets (app.kit.tenancy)."""
    if not_begun(adapter):
        await adapter._start_transaction()
    return adapter.driver_connection


# A pooled connection idle for longer than this is pinged (one round trip) before it is handed
# out; a busier one only has its socket checked. A database restart closes every connection's
# socket, which asyncpg notices as soon as the event loop runs: such a connection is replaced,
# not handed out. (SQLAlchemy's own pre-ping costs three round trips on asyncpg, BEGIN, the ping
# and ROLLBACK, on every checkout: as much as a whole hold on a hot wallet.)
PING_AFTER_IDLE_SECONDS = 1.0
_CHECKED_IN = "kassa.checked_in"


def _check_out(dbapi_connection, record, _proxy) -> None:
    driver = dbapi_connection.driver_connection
    if driver.is_closed():
        raise DisconnectionError("the connection was closed (database restarted?)")
    if time.monotonic() - record.info.get(_CHECKED_IN, 0.0) > PING_AFTER_IDLE_SECONDS:
        try:
            await_(driver.execute("SELECT 1"))
        except (OSError, asyncpg.PostgresError, asyncpg.InterfaceError) as exc:
            raise DisconnectionError(f"the connection failed its ping: {exc}") from exc


def _check_in(dbapi_connection, record) -> None:
    record.info[_CHECKED_IN] = time.monotonic()
    if dbapi_connection is not None:
        driver = dbapi_connection.driver_connection
        if isinstance(driver, DriverConnection):
            driver.begin_with(None)  # a transaction that never started leaves nothing to the next user


def create_engine(url: str, *, role: str | None = None, pool_size: int = 10, statement_timeout_seconds: float = 0) -> AsyncEngine:
    """`role`: the role every connection acts as, switched to when it connects (no extra round
    trip): the API and the workers pass the application's role, which row-level security binds
    (app.kit.tenancy); None acts as the URL's user (migrations, the operator's CLI).
    `statement_timeout_seconds` (0: none) makes PostgreSQL cancel any statement that runs
    longer, set once per connection (the API sets it to its request time limit). A connection
    dropped by a database restart is replaced at checkout, not failed (`_check_out`).

    PostgreSQL's JIT is off on every connection: it compiles any statement whose estimated cost is
    high, e.g. a set-based one over a thousand customers (the usage drain's), for two hundred
    milliseconds of CPU, far more than running it takes; statements of an application like this
    one never repay it."""
    server_settings: dict[str, str] = {"jit": "off"}
    if role:
        server_settings["role"] = role
    if statement_timeout_seconds > 0:
        server_settings["statement_timeout"] = str(max(1, round(statement_timeout_seconds * 1000)))
    connect_args: dict[str, object] = {"connection_class": DriverConnection, "server_settings": server_settings}
    engine = create_async_engine(async_database_url(url), pool_size=pool_size, max_overflow=pool_size, connect_args=connect_args)
    event.listen(engine.sync_engine, "before_cursor_execute", _count_statement)
    event.listen(engine.sync_engine.pool, "checkout", _check_out)
    event.listen(engine.sync_engine.pool, "checkin", _check_in)
    return engine


def create_session_factory(engine_or_connection) -> async_sessionmaker[AsyncSession]:
    return async_sessionmaker(engine_or_connection, expire_on_commit=False, autoflush=False)


def _retrieve_exception(task: "asyncio.Future[object]") -> None:
    """A shielded task whose caller was cancelled: its outcome is nobody's business any more."""
    if not task.cancelled():
        task.exception()


class SessionGate:
    """One `AsyncSession` per request, handed to one coroutine at a time.

    strawberry runs the batches of different dataloaders in concurrent tasks; an `AsyncSession`
    (and its connection) must never be used by two of them at once, so every use goes through
    the lock. The session is opened lazily and closed when the request ends: `close` waits for
    the coroutine using it, and a batch that starts after that gets an error, not a new session.
    """

    def __init__(self, factory: async_sessionmaker[AsyncSession]) -> None:
        self._factory = factory
        self._session: AsyncSession | None = None
        self._lock = asyncio.Lock()
        self._holder: asyncio.Task | None = None  # the task using the session now
        self._closed = False
        self._scope: TenantScope | None = None

    def act_for(self, scope: TenantScope) -> None:
        """Every session the gate opens from now on acts for `scope` (the one open now was
        bound by authentication)."""
        self._scope = scope

    @asynccontextmanager
    async def use(self) -> AsyncIterator[AsyncSession]:
        async with self._lock:
            if self._closed:  # a dataloader batch still queued when the request ended
                raise RuntimeError("The request is over: its session is closed")
            if self._session is None:
                self._session = self._factory()
                if self._scope is not None:
                    await bind(self._session, self._scope)
            self._holder = asyncio.current_task()
            try:
                yield self._session
            finally:
                self._holder = None

    async def run(self, work: Callable[[AsyncSession], Awaitable[T]]) -> T:
        """`work(session)` through the gate, shielded from cancellation: graphql-core cancels
        the sibling resolvers (and strawberry the dataloader batches) of a field whose error
        nulls its parent; a statement cut off halfway would leave the connection unusable (and
        the request a 500). The work finishes in its own task and `close` waits for it."""

        async def guarded() -> T:
            async with self.use() as session:
                return await work(session)

        task = asyncio.ensure_future(guarded())
        task.add_done_callback(_retrieve_exception)
        return await asyncio.shield(task)

    @asynccontextmanager
    async def transaction(self) -> AsyncIterator[AsyncSession]:
        """Exclusive use of the session for one unit of work; rolls back if the block raises.

        The block commits itself when it succeeds (a typed error result is not a success).
        """
        async with self.use() as session:
            try:
                yield session
            except BaseException:
                await session.rollback()
                raise

    async def close(self) -> None:
        """Close the session for good: a later `use` is refused (a dataloader batch that starts
        after the request ended must not open a session nobody closes)."""
        await self._close(final=True)

    async def release(self) -> None:
        """Hand the session's connection back now (e.g. before waiting for a slot); a later
        `use` opens a new session."""
        await self._close(final=False)

    async def _close(self, *, final: bool) -> None:
        """Normally a batch still using the session is waited for (`run` shields its statement
        from graphql-core's cancellation). When the request itself is being cancelled (its time
        limit), that batch is cancelled first: the request ends at once, and the session is
        never closed under a running statement."""
        current, holder = asyncio.current_task(), self._holder
        if current is not None and current.cancelling() and holder is not None and holder is not current and not holder.done():
            holder.cancel()
        async with self._lock:
            self._closed = self._closed or final
            if self._session is not None:
                session, self._session = self._session, None
                await session.close()


# What a statement can raise: SQLAlchemy's wrapper, or asyncpg's own error where the raw driver
# connection is used (the ingestion's batch insert).
DATABASE_ERRORS: tuple[type[BaseException], ...] = (DBAPIError, asyncpg.PostgresError)


def input_data_error(exc: BaseException) -> BaseException | None:
    """The PostgreSQL/asyncpg data error behind `exc` when the database refused a value the
    caller sent (SQLSTATE class 22: NUL in text, invalid text representation, numeric or
    date out of range; or asyncpg refusing to encode an argument), else None. The last
    resort behind input validation: such a request is the caller's mistake, not a 500."""
    seen: set[int] = set()
    pending: list[BaseException | None] = [exc]
    while pending:
        current = pending.pop()
        if current is None or id(current) in seen:
            continue
        seen.add(id(current))
        if isinstance(current, asyncpg.exceptions.DataError):
            return current
        pending += [getattr(current, "orig", None), current.__cause__, current.__context__]
    return None
