"""Wallet grants' expiry: every minute, what is left of each grant past its expiry leaves through
an `expiry` entry (app/wallets/service.py expire_grants)."""

from __future__ import annotations

from typing import Any

from app.kit import jobs
from app.kit.tenancy import scoped_factory
from app.wallets import service as wallets
from workers.registry import job, organization_scopes

BATCH = 500


@job("wallets.expire_grants", every_minute_at=40)
async def expire_grants(ctx: dict[str, Any]) -> int:
    """One organization at a time, in batches; safe to run twice (an expired lot has nothing left)."""
    done = 0
    for scope in await organization_scopes(ctx):
        while True:
            async with scoped_factory(ctx["session_factory"], scope)() as session:
                count = await wallets.expire_grants(session, scope, limit=BATCH)
                await jobs.commit(session, ctx["redis"])
            done += count
            if count < BATCH:
                break
    return done
