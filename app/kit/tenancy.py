"""Tenant isolation: the one scope value every repository takes, and the database's second wall.

A `TenantScope` names the organization a unit of work acts for. Only authentication produces
one (`app.auth.service`: a request's token, a job's recorded organization, an operator's
command); nothing else can construct it, so a repository that takes a scope cannot be handed
a bare id by mistake.

The second wall is PostgreSQL's row-level security: every tenant table has a policy that lets a
transaction see and write only the rows of the organization named by the transaction-local
setting `kassa.organization_id`, and the application connects as a role that cannot bypass
policies (`kassa migrate` creates it). A session bound to a scope sets that setting at the start
of each of its transactions; a transaction with no scope sees no tenant rows at all. So a query
that forgets its filter still sees only its own organization's rows.
"""

from __future__ import annotations

import uuid
from contextlib import asynccontextmanager
from typing import AsyncIterator, Callable

from sqlalchemy import event, text
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker
from sqlalchemy.orm import Session

# The transaction-local setting the row-level security policies read (migration 0009).
SETTING = "kassa.organization_id"
_SCOPE_KEY = "kassa.scope"
_SET_SCOPE = text(f"SELECT set_config('{SETTING}', :organization_id, true)")
_MINT = object()  # held by app.auth.service: the only caller of `_mint`


class TenantScope:
    """The organization a unit of work acts for. Produced only by authentication."""

    __slots__ = ("organization_id",)

    organization_id: uuid.UUID

    def __init__(self, organization_id: uuid.UUID, *, _key: object = None) -> None:
        if _key is not _MINT:
            raise TypeError("A TenantScope comes from authentication (app.auth.service), not from an id")
        if not isinstance(organization_id, uuid.UUID):
            raise TypeError("organization_id must be a UUID")
        object.__setattr__(self, "organization_id", organization_id)

    def __setattr__(self, name: str, value: object) -> None:
        raise AttributeError("TenantScope is immutable")

    def __eq__(self, other: object) -> bool:
        return isinstance(other, TenantScope) and other.organization_id == self.organization_id

    def __hash__(self) -> int:
        return hash(self.organization_id)

    def __repr__(self) -> str:
        return f"TenantScope({self.organization_id})"


def _mint(organization_id: uuid.UUID) -> TenantScope:
    """For app.auth.service only (tests/test_tenancy.py checks nobody else calls it)."""
    return TenantScope(organization_id, _key=_MINT)


def bound_scope(session: AsyncSession | Session) -> TenantScope | None:
    sync_session = session.sync_session if isinstance(session, AsyncSession) else session
    return sync_session.info.get(_SCOPE_KEY)


async def bind(session: AsyncSession, scope: TenantScope, *, already_set: bool = False) -> None:
    """Bind `session` to `scope`: each transaction it begins from now on sets the setting the
    policies read. A transaction already under way gets it now (one statement), unless
    `already_set` (authentication's lookup sets it in its own statement)."""
    current = bound_scope(session)
    if current is not None and current != scope:
        raise RuntimeError("This session already acts for another organization")
    session.sync_session.info[_SCOPE_KEY] = scope
    if session.in_transaction() and not already_set:
        await session.execute(_SET_SCOPE, {"organization_id": str(scope.organization_id)})


def not_begun(adapter) -> bool:
    """Whether SQLAlchemy's asyncpg adapter (a pooled connection's `dbapi_connection`) has yet to
    send its transaction's BEGIN: it does so lazily, before its first statement."""
    driver = getattr(adapter, "driver_connection", None)
    return (
        getattr(adapter, "_transaction", False) is None and getattr(adapter, "isolation_level", None) != "autocommit"
        and driver is not None and not driver.is_in_transaction()
    )


@event.listens_for(Session, "after_begin")
def _set_scope_for_transaction(session: Session, _transaction, connection) -> None:
    """The transaction's organization, set with its BEGIN (one round trip for both: the driver
    connection sends it along, app.kit.db.DriverConnection) when the transaction has not
    started on the server yet, which is the rule (asyncpg's BEGIN waits for the first
    statement); else in a statement of its own."""
    scope = session.info.get(_SCOPE_KEY)
    if scope is None:
        return
    adapter = connection.connection.dbapi_connection
    begin_with = getattr(getattr(adapter, "driver_connection", None), "begin_with", None)
    if begin_with is not None and not_begun(adapter):
        # the id is a UUID (a TenantScope holds nothing else): inlined, nothing to escape
        begin_with(f"SELECT set_config('{SETTING}', '{scope.organization_id}', true)")
    else:
        connection.execute(_SET_SCOPE, {"organization_id": str(scope.organization_id)})


def scoped_factory(factory: async_sessionmaker[AsyncSession], scope: TenantScope) -> Callable[[], AsyncSession]:
    """A session factory whose sessions act for `scope` (a job's: every session it opens)."""

    def open_session() -> AsyncSession:
        session = factory()
        session.sync_session.info[_SCOPE_KEY] = scope  # no transaction yet: `after_begin` sets it
        return session

    return open_session


@asynccontextmanager
async def tenant_session(factory: async_sessionmaker[AsyncSession], scope: TenantScope) -> AsyncIterator[AsyncSession]:
    """A new session acting for `scope` (jobs, sweeps: one organization at a time)."""
    async with factory() as session:
        await bind(session, scope)
        yield session
