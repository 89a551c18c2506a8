"""Auto top-up (placeholder: the auto top-up work replaces this module)."""

from __future__ import annotations

from sqlalchemy.ext.asyncio import AsyncSession

from app.kit.tenancy import TenantScope
from app.models.wallet import Wallet


async def consider(session: AsyncSession, scope: TenantScope, wallet: Wallet) -> None:
    """Called by the wallet's `wallets.balance_changed` job: charge an auto top-up if one is due."""
    return None
