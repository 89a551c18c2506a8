"""Subscriptions: the renewal sweep and the charge of renewal orders (app/subscriptions/service.py)."""

from __future__ import annotations

import uuid
from typing import Any

from app.config import get_settings
from app.kit import jobs
from app.kit.jobs import enqueue_after_commit
from app.kit.tenancy import TenantScope, scoped_factory
from app.payments.processors import configured_stripe
from app.subscriptions import service
from workers.registry import job, organization_scopes

RENEWERS_PER_ORGANIZATION = 2  # renewal jobs that share an organization's due subscriptions (SKIP LOCKED)
RENEW_JOB_BATCHES = 5  # batches (of service.RENEW_BATCH) one renewal job renews before it hands over to the next


@job("subscriptions.renew", every_minute_at=5)
async def renew(ctx: dict[str, Any]) -> int:
    """Every minute: for each organization, ask for `subscriptions.renew_batch` jobs, which
    renew its due subscriptions; several workers share them, each row renewed once. Returns
    how many jobs were asked for."""
    asked = 0
    for scope in await organization_scopes(ctx):
        async with scoped_factory(ctx["session_factory"], scope)() as session:
            for _ in range(RENEWERS_PER_ORGANIZATION):
                enqueue_after_commit(session, "subscriptions.renew_batch")
            await jobs.commit(session, ctx["redis"])
        asked += RENEWERS_PER_ORGANIZATION
    return asked


@job("subscriptions.renew_batch", tenant=True)
async def renew_batch(ctx: dict[str, Any], scope: TenantScope) -> int:
    """Renew the organization's due subscriptions, a batch per transaction, until none is left
    or RENEW_JOB_BATCHES batches are done: then the last batch's transaction asks for the next
    job (after its commit, like every job), so a job stays short, far below arq's timeout, and
    a long backlog goes to whichever worker is free. Returns how many this job renewed."""
    renewed = 0
    for done in range(1, RENEW_JOB_BATCHES + 1):
        async with scoped_factory(ctx["session_factory"], scope)() as session:
            count = await service.renew_due(session, scope)
            more = count == service.RENEW_BATCH
            if more and done == RENEW_JOB_BATCHES:
                enqueue_after_commit(session, "subscriptions.renew_batch")
            await jobs.commit(session, ctx["redis"])
        renewed += count
        if not more:
            break
    return renewed


def _stripe(ctx: dict[str, Any]):
    return configured_stripe(ctx.get("settings") or get_settings())


@job("subscriptions.charge_order", tenant=True)
async def charge_order(ctx: dict[str, Any], scope: TenantScope, order_id: str) -> str:
    """Charge one renewal order off-session, once (the order's row lock and status)."""
    async with scoped_factory(ctx["session_factory"], scope)() as session:
        outcome = await service.charge_order(session, scope, uuid.UUID(order_id), stripe=_stripe(ctx))
        await jobs.commit(session, ctx["redis"])
    return outcome


@job("subscriptions.charge_orders", tenant=True)
async def charge_orders(ctx: dict[str, Any], scope: TenantScope, order_ids: list[str]) -> dict[str, str]:
    """Charge a batch of renewal orders off-session in one transaction (the manual processor's:
    no network call to wait for), each once. Returns what happened to each."""
    async with scoped_factory(ctx["session_factory"], scope)() as session:
        outcomes = await service.charge_orders(session, scope, [uuid.UUID(order_id) for order_id in order_ids], stripe=_stripe(ctx))
        await jobs.commit(session, ctx["redis"])
    return {str(order_id): outcome for order_id, outcome in outcomes.items()}
