"""Wallet auto top-ups: the charge of one attempt (app/wallets/auto_top_up.py), asked for by
`consider` after the commit that made the attempt."""

from __future__ import annotations

import uuid
from typing import Any

from app.config import get_settings
from app.kit import jobs
from app.kit.tenancy import TenantScope, scoped_factory
from app.payments.processors import PaymentProcessor, ProcessorNotConfigured, configured
from app.wallets import auto_top_up as service
from workers.registry import job


@job("wallets.auto_top_up", tenant=True)
async def auto_top_up(ctx: dict[str, Any], scope: TenantScope, attempt_id: str) -> str:
    """Charge one auto top-up attempt off-session and record the outcome, in one transaction
    that holds the attempt's row. Safe to run twice, even at once: a second run finds the
    attempt busy or settled; after a crash between the charge and the commit, the rerun's charge
    has the same idempotency key (the attempt's id), so the processor answers the first payment.
    A processor that cannot be reached raises: the job is retried, the attempt stays pending."""
    settings = ctx.get("settings") or get_settings()

    def processor_for(name: str) -> PaymentProcessor | None:
        try:
            return configured(name, settings)  # type: ignore[arg-type]
        except ProcessorNotConfigured:
            return None

    async with scoped_factory(ctx["session_factory"], scope)() as session:
        outcome = await service.run(session, scope, uuid.UUID(attempt_id), processor_for=processor_for)
        await jobs.commit(session, ctx["redis"])
    return outcome
