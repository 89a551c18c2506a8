"""All SQL about members, and the lock on their customer's row."""

from __future__ import annotations

import uuid
from typing import Sequence

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from app.kit.repository import scoped
from app.kit.tenancy import TenantScope
from app.models import Customer, Member, MemberRole

UNIQUE_EMAIL = "ix_members_customer_id_email"
UNIQUE_EXTERNAL_ID = "ix_members_customer_id_external_id"
UNIQUE_OWNER = "ix_members_customer_id_owner"


async def get(session: AsyncSession, scope: TenantScope, member_id: uuid.UUID) -> Member | None:
    """The active member, read afresh (a member loaded earlier in the session is refreshed: after
    its customer was locked, the roles read must be the committed ones)."""
    statement = scoped(select(Member), Member, scope).where(Member.id == member_id)
    return await session.scalar(statement.execution_options(populate_existing=True))


async def get_owner(session: AsyncSession, scope: TenantScope, customer_id: uuid.UUID) -> Member | None:
    statement = scoped(select(Member), Member, scope).where(
        Member.customer_id == customer_id, Member.role == MemberRole.owner.value
    )
    return await session.scalar(statement.execution_options(populate_existing=True))


async def customer_for_update(session: AsyncSession, scope: TenantScope, customer_id: uuid.UUID) -> Customer | None:
    """The members' customer, its row locked: changes to one customer's members run one at a
    time. A locked read refreshes what the session may hold from before the lock."""
    statement = scoped(select(Customer), Customer, scope).where(Customer.id == customer_id)
    return await session.scalar(statement.with_for_update().execution_options(populate_existing=True))


async def get_many(session: AsyncSession, scope: TenantScope, ids: Sequence[uuid.UUID]) -> list[Member]:
    statement = scoped(select(Member), Member, scope).where(Member.id.in_(list(ids)))
    return list((await session.scalars(statement)).all())


async def list_for_customers(
    session: AsyncSession, scope: TenantScope, customer_ids: Sequence[uuid.UUID]
) -> list[Member]:
    """Active members of several customers, owner first, then by creation."""
    statement = (
        scoped(select(Member), Member, scope)
        .where(Member.customer_id.in_(list(customer_ids)))
        .order_by(Member.customer_id, (Member.role != MemberRole.owner.value), Member.created_at, Member.id)
    )
    return list((await session.scalars(statement)).all())
