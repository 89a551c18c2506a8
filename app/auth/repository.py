from __future__ import annotations

import uuid

from sqlalchemy import select, text, update
from sqlalchemy.ext.asyncio import AsyncSession

from app.kit import clock
from app.kit.repository import owned_by
from app.kit.tenancy import TenantScope
from app.models import AccessToken


# access_tokens is a tenant table: before authentication nobody may read it, so the lookup by
# hash goes through `kassa_authenticate` (migration 0009), which the database owner defines: it
# returns the token's row and, unless it is revoked, sets the transaction's tenant setting.
_BY_HASH = select(AccessToken).from_statement(text("SELECT * FROM kassa_authenticate(:token_hash)"))


# A checkout's client secret is the customer browser's credential; `kassa_checkout_by_secret`
# (migration 0013) finds its checkout across organizations and sets the tenant setting.
_CHECKOUT_BY_SECRET = text("SELECT id, organization_id FROM kassa_checkout_by_secret(:secret)")


async def checkout_by_secret(session: AsyncSession, secret: str) -> tuple[uuid.UUID, uuid.UUID] | None:
    """(checkout id, organization id) of the checkout whose client secret is `secret`."""
    row = (await session.execute(_CHECKOUT_BY_SECRET, {"secret": secret})).first()
    return None if row is None else (row.id, row.organization_id)


async def get_by_hash(session: AsyncSession, token_hash: str) -> AccessToken | None:
    return await session.scalar(_BY_HASH, {"token_hash": token_hash})


async def add(session: AsyncSession, token: AccessToken) -> AccessToken:
    session.add(token)
    await session.flush()
    return token


async def revoke(session: AsyncSession, token_id: uuid.UUID) -> bool:
    result = await session.execute(
        update(AccessToken)
        .where(AccessToken.id == token_id, AccessToken.revoked_at.is_(None))
        .values(revoked_at=clock.now())
    )
    return result.rowcount == 1


async def list_for_organization(session: AsyncSession, scope: TenantScope) -> list[AccessToken]:
    statement = select(AccessToken).where(owned_by(AccessToken, scope)).order_by(AccessToken.created_at)
    return list((await session.scalars(statement)).all())
