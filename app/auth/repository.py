from __future__ import annotations

import uuid

from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncSession

from app.kit.models import utc_now
from app.models import AccessToken


async def get_by_hash(session: AsyncSession, token_hash: str) -> AccessToken | None:
    return await session.scalar(select(AccessToken).where(AccessToken.token_hash == token_hash))


async def add(session: AsyncSession, token: AccessToken) -> AccessToken:
    session.add(token)
    await session.flush()
    return token


async def revoke(session: AsyncSession, token_id: uuid.UUID) -> bool:
    result = await session.execute(
        update(AccessToken)
        .where(AccessToken.id == token_id, AccessToken.revoked_at.is_(None))
        .values(revoked_at=utc_now())
    )
    return result.rowcount == 1


async def list_for_organization(session: AsyncSession, organization_id: uuid.UUID) -> list[AccessToken]:
    statement = select(AccessToken).where(AccessToken.organization_id == organization_id).order_by(AccessToken.created_at)
    return list((await session.scalars(statement)).all())
