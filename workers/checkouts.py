"""Checkouts: the sweep that expires open checkouts past their time (app/checkouts/service.py)."""

from __future__ import annotations

from typing import Any

from app.auth.service import job_scope
from app.checkouts import service
from app.kit import jobs
from app.kit.tenancy import scoped_factory
from app.organizations import repository as organizations
from workers.registry import job


@job("checkouts.expire", every_minute_at=15)
async def expire(ctx: dict[str, Any]) -> int:
    """Expire the open checkouts past their time, one organization at a time (in batches, each
    in its own transaction with its `checkout.expired` webhooks); returns how many. A checkout
    being confirmed right now is skipped (its row is locked) and its confirmation decides."""
    expired = 0
    async with ctx["session_factory"]() as session:
        organization_ids = await organizations.all_ids(session)
    for organization_id in organization_ids:
        scope = job_scope(organization_id)
        while True:
            async with scoped_factory(ctx["session_factory"], scope)() as session:
                count = await service.expire_due(session, scope)
                await jobs.commit(session, ctx["redis"])
            expired += count
            if count < service.EXPIRE_BATCH:
                break
    return expired
