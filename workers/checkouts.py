"""Checkouts: the sweeps that expire open checkouts past their time and settle confirmed ones
whose processor event never came (app/checkouts/service.py)."""

from __future__ import annotations

from typing import Any

from app.auth.service import job_scope
from app.checkouts import service
from app.config import get_settings
from app.kit import jobs
from app.kit.tenancy import scoped_factory
from app.organizations import repository as organizations
from app.payments.processors import processor_for
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


@job("checkouts.settle", every_minute_at=30)
async def settle(ctx: dict[str, Any]) -> int:
    """Ask Stripe about the checkouts CONFIRMED for more than 10 minutes without its event, one
    organization at a time; returns how many were completed or failed. Nothing to do without
    Stripe (a manual checkout is never left CONFIRMED)."""
    settings = ctx.get("settings") or get_settings()
    if not settings.stripe_secret_key:
        return 0
    processor = processor_for("stripe", stripe_secret_key=settings.stripe_secret_key, stripe_api_base=settings.stripe_api_base)
    settled = 0
    async with ctx["session_factory"]() as session:
        organization_ids = await organizations.all_ids(session)
    for organization_id in organization_ids:
        scope = job_scope(organization_id)
        async with scoped_factory(ctx["session_factory"], scope)() as session:
            settled += await service.settle_waiting(session, scope, processor)
            await jobs.commit(session, ctx["redis"])
    return settled
