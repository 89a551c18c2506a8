"""Dunning: the sweep that asks for the charge of renewal orders whose next attempt is due
(app/subscriptions/dunning.py)."""

from __future__ import annotations

from typing import Any

from app.kit import jobs
from app.kit.tenancy import scoped_factory
from app.subscriptions import dunning
from workers.registry import job, organization_scopes


@job("subscriptions.dunning", every_minute_at=20)
async def retry(ctx: dict[str, Any]) -> int:
    """Every minute, one organization at a time: the renewal orders whose retry is due get a
    `subscriptions.charge_order` job (the charge decides what follows). Returns how many."""
    asked = 0
    for scope in await organization_scopes(ctx):
        while True:
            async with scoped_factory(ctx["session_factory"], scope)() as session:
                count = await dunning.retry_due(session, scope)
                await jobs.commit(session, ctx["redis"])
            asked += count
            if count < dunning.RETRY_BATCH:
                break
    return asked
