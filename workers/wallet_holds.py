"""Wallet hold jobs: release the holds past their expiry."""

from __future__ import annotations

from typing import Any

from app.auth.service import job_scope
from app.kit import jobs
from app.kit.tenancy import scoped_factory
from app.organizations import repository as organizations
from app.wallets import holds
from workers.registry import job


@job("wallets.expire_holds", every_minute_at=50)
async def expire_holds(ctx: dict[str, Any]) -> int:
    """Every minute: in each organization, the active holds past their expiry become `expired`
    and leave their wallet's `held` (safe to run twice: an expired hold is no longer active)."""
    swept = 0
    async with ctx["session_factory"]() as session:
        organization_ids = await organizations.all_ids(session)
    for organization_id in organization_ids:
        scope = job_scope(organization_id)
        async with scoped_factory(ctx["session_factory"], scope)() as session:
            swept += await holds.expire_holds(session, scope)
            await jobs.commit(session, ctx["redis"])
    return swept
