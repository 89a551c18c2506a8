"""Idempotency keys: the sweep that deletes expired keys (app/kit/idempotency.py)."""

from __future__ import annotations

from typing import Any

from app.kit.idempotency import delete_expired
from app.kit.tenancy import scoped_factory
from workers.registry import job, organization_scopes


@job("idempotency.sweep", every_minute_at=45)
async def sweep(ctx: dict[str, Any]) -> int:
    """Delete the expired idempotency keys (they already count as absent), one organization at
    a time, each in a session acting for it; returns how many."""
    deleted = 0
    for scope in await organization_scopes(ctx):
        async with scoped_factory(ctx["session_factory"], scope)() as session:
            deleted += await delete_expired(session, scope)
            await session.commit()
    return deleted
