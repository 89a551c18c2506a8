"""Wallet jobs: after a balance change, its webhooks, live update and auto top-up check."""

from __future__ import annotations

import uuid
from typing import Any

from app.kit import jobs, live
from app.kit.tenancy import TenantScope, scoped_factory
from app.wallets import notifications
from app.wallets.service import CHANGED_JOB
from workers.registry import job


@job(CHANGED_JOB, tenant=True)
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
