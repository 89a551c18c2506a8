"""Wallet auto top-ups: the charge of one attempt (app/wallets/auto_top_up.py), asked for by
`consider` after the commit that made the attempt."""

from __future__ import annotations

import uuid
from typing import Any

from app.config import get_settings
from app.kit import jobs
from app.kit.tenancy import TenantScope, scoped_factory
from app.payments.processors import ProcessorNotConfigured, configured
from app.wallets import auto_top_up as service
from workers.registry import job


@job("wallets.auto_top_up", tenant=True)
async def auto_top_up(ctx: dict[str, Any], scope: TenantScope, attempt_id: str) -> str:
    """Charge one auto top-up attempt off-session, then record the outcome in a new transaction.
    Safe to run twice: the processor's idempotency key is the attempt's id (a second charge
    answers the first payment) and only a pending attempt is settled. A processor that cannot
    be reached raises: the job is retried, the attempt stays pending."""
    factory = scoped_factory(ctx["session_factory"], scope)
    attempt_uuid = uuid.UUID(attempt_id)
    async with factory() as session:
        prepared = await service.prepare(session, scope, attempt_uuid)
    if prepared is None:
        return "ignored: no pending attempt"
    attempt, wallet, method = prepared
    result, failure = None, None
    if method is None:
        failure = "no_payment_method"
    else:
        try:
            processor = configured(method.processor, ctx.get("settings") or get_settings())  # type: ignore[arg-type]
        except ProcessorNotConfigured:
            failure = "processor_not_configured"
        else:
            result = await service.charge(attempt, wallet, method, processor)
    async with factory() as session:
        outcome = await service.settle(session, scope, attempt_uuid, method=method, result=result, failure=failure)
        await jobs.commit(session, ctx["redis"])
    return outcome
