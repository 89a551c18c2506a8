from __future__ import annotations

import uuid

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from app.models import Organization


async def add(session: AsyncSession, organization: Organization) -> Organization:
    session.add(organization)
    await session.flush()
    return organization


async def get(session: AsyncSession, organization_id: uuid.UUID) -> Organization | None:
    return await session.scalar(select(Organization).where(Organization.id == organization_id))
