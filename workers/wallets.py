"""Wallet jobs: the organization's usage drain; after a balance change, its webhooks, live update
and auto top-up check."""

from __future__ import annotations

import asyncio
import time
import uuid
from typing import Any

from app.kit import jobs, live
from app.kit.tenancy import TenantScope, scoped_factory
from app.meters.service import USAGE_DRAIN_JOB, request_usage_drain
from app.wallets import notifications, usage
from app.wallets.service import CHANGED_JOB
from workers.registry import job


# balance-changed runs one worker process runs at once: a drain that paid a thousand wallets asks
# for a thousand of them, which would otherwise take every job slot and the machine from the next drain
CHANGED_SLOTS = 2


@job(CHANGED_JOB, tenant=True, slots=CHANGED_SLOTS)
async def balance_changed(ctx: dict[str, Any], scope: TenantScope, wallet_id: str) -> str:
    """`wallet.balance_updated` (at most one a second), `wallet.low_balance` and `wallet.depleted`
    once per crossing, the auto top-up check; then, committed, the live update (one PUBLISH)."""
    async with scoped_factory(ctx["session_factory"], scope)() as session:
        result = await notifications.balance_changed(session, scope, uuid.UUID(wallet_id))
        await jobs.commit(session, ctx["redis"])
    if result.wallet is None:
        return "no such wallet"
    await live.publish(ctx["redis"], scope.organization_id, result.wallet.customer_id, live.WALLET, currency=result.wallet.currency)
    deferred = f" deferred_until={result.deferred_until.isoformat()}" if result.deferred_until else ""
    return f"sent={','.join(result.sent) or '-'} transactions={result.transactions}{deferred}"


FOLLOW_SECONDS = 20.0  # how long a drain keeps running again for usage still pending
FOLLOW_DEFER = 1.0  # then the drain it asks for starts this much later


@job(USAGE_DRAIN_JOB, tenant=True)
async def drain(ctx: dict[str, Any], scope: TenantScope) -> str:
    """Pay the organization's new wallet-enabled usage from its customers' wallets. While some is
    still pending (transactions that were running when it looked) and no other drain waits or
    began after it, it runs again, a little later each time; after FOLLOW_SECONDS it asks for a
    drain instead."""
    started, pause, runs, debited = time.monotonic(), 0.05, 0, 0
    redis = ctx["redis"]

    async def begun() -> None:
        await jobs.begun(redis, USAGE_DRAIN_JOB, scope.organization_id, ctx.get("job_id"))

    while True:
        async with scoped_factory(ctx["session_factory"], scope)() as session:
            result = await usage.drain_organization(session, scope, locked=begun)
            give_up = result.more_pending and time.monotonic() - started > FOLLOW_SECONDS
            if give_up:
                request_usage_drain(session, defer=FOLLOW_DEFER)
            await jobs.commit(session, redis)
        runs, debited = runs + 1, debited + result.debited
        if not result.more_pending or give_up or await jobs.superseded(redis, USAGE_DRAIN_JOB, scope.organization_id, ctx.get("job_id")):
            break
        await asyncio.sleep(pause)
        pause = min(pause * 2, 1.0)
    return f"runs={runs} prices={result.prices} debited={debited} skipped={result.skipped} pending={result.more_pending}"
