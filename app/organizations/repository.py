from __future__ import annotations

import uuid

from sqlalchemy import exists, func, select, text
from sqlalchemy.ext.asyncio import AsyncSession

from app.kit.tenancy import TenantScope
from app.models import Organization


async def add(session: AsyncSession, organization: Organization) -> Organization:
    session.add(organization)
    await session.flush()
    return organization


async def get(session: AsyncSession, scope: TenantScope) -> Organization | None:
    return await session.scalar(select(Organization).where(Organization.id == scope.organization_id))


async def all_ids(session: AsyncSession) -> list[uuid.UUID]:
    """Every organization's id, oldest first, for the sweeps (which then act for one at a time):
    through `kassa_organization_ids` (migration 0009), the one way across organizations."""
    return list(await session.scalars(text("SELECT kassa_organization_ids()")))


async def list_all(session: AsyncSession) -> list[Organization]:
    """Every organization, oldest first: for the operator's CLI, never for a tenant."""
    return list(await session.scalars(select(Organization).order_by(Organization.created_at, Organization.id)))


async def any_exists(session: AsyncSession) -> bool:
    return bool(await session.scalar(select(exists().select_from(Organization))))


async def lock_first_run(session: AsyncSession) -> None:
    """Serialize first-run checks (two `kassa run` starting at once) until the transaction ends."""
    await session.execute(select(func.pg_advisory_xact_lock(func.hashtext("kassa.first_organization"))))
