"""Checkouts: the sweeps that expire open checkouts past their time and settle confirmed ones
whose processor event never came (app/checkouts/service.py)."""

from __future__ import annotations

from typing import Any

from app.checkouts import service
from app.config import get_settings
from app.kit import jobs
from app.kit.tenancy import scoped_factory
from app.payments.processors import configured_stripe
from workers.registry import job, organization_scopes


@job("checkouts.expire", every_minute_at=15)
async def expire(ctx: dict[str, Any]) -> int:
    """Expire the open checkouts past their time, one organization at a time (in batches, each
    in its own transaction with its `checkout.expired` webhooks); returns how many. A checkout
    being confirmed right now is skipped (its row is locked) and its confirmation decides."""
    expired = 0
    for scope in await organization_scopes(ctx):
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
    processor = configured_stripe(ctx.get("settings") or get_settings())
    if processor is None:
        return 0
    settled = 0
    for scope in await organization_scopes(ctx):
        async with scoped_factory(ctx["session_factory"], scope)() as session:
            settled += await service.settle_waiting(session, scope, processor)
            await jobs.commit(session, ctx["redis"])
    return settled
