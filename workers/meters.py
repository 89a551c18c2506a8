"""Meter jobs: bring a customer's meters up to date; recount a meter for every customer; sweep."""

from __future__ import annotations

import time
import uuid
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from app.auth.service import job_scope
from app.kit import jobs, live
from app.kit.jobs import JobRequest, send, single_request
from app.kit.tenancy import TenantScope, bound_scope, scoped_factory
from app.meters import aggregation, repository
from app.meters.service import UPDATE_JOB, USAGE_DRAIN_JOB, request_update
from app.organizations import repository as organizations
from app.wallets import repository as wallets_repository
from workers.registry import job

# meter updates one worker process runs at once: usage streaming into many customers queues a
# backlog of them, which would otherwise take every job slot and the machine from every other job
# (the organization's usage drain first)
UPDATE_SLOTS = 4


@job("meters.update_customer", tenant=True, slots=UPDATE_SLOTS)
async def update_customer(ctx: dict[str, Any], scope: TenantScope, customer_id: str) -> str:
    async with scoped_factory(ctx["session_factory"], scope)() as session:
        result = await aggregation.update_customer_meters(session, scope, uuid.UUID(customer_id))
        if result.more_pending:  # events of transactions still running when we looked
            request_update(session, uuid.UUID(customer_id))
        await jobs.commit(session, ctx["redis"])
    if result.changed:  # a meter's totals moved: the customer's live clients read their meters again
        await live.publish(ctx["redis"], scope.organization_id, customer_id, live.METERS)
    return f"meters={result.meters} recounted={len(result.recounted)} changes={result.status_changes} changed={result.changed} more={result.more_pending}"


@job("meters.backfill", tenant=True)
async def backfill(ctx: dict[str, Any], scope: TenantScope, meter_id: str) -> int:
    async with scoped_factory(ctx["session_factory"], scope)() as session:
        count = await aggregation.backfill(session, scope, uuid.UUID(meter_id))
        await jobs.commit(session, ctx["redis"])
    return count


@job("meters.sweep", every_minute_at=30)
async def sweep(ctx: dict[str, Any]) -> int:
    """The safety net for update jobs lost between a commit and Redis: one organization at a
    time, each in a session acting for it."""
    queued = 0
    async with ctx["session_factory"]() as session:
        organization_ids = await organizations.all_ids(session)
    for organization_id in organization_ids:
        async with scoped_factory(ctx["session_factory"], job_scope(organization_id))() as session:
            queued += await sweep_customers(session, ctx["redis"])
    return queued


async def sweep_customers(session: AsyncSession, queue) -> int:
    """Queue an update for every customer of the session's organization with uncounted events,
    and the organization's usage drain if it has wallet-enabled prices (unless one waits)."""
    scope = bound_scope(session)
    organization = str(scope.organization_id)
    customer_ids = await repository.customers_behind(session, scope)
    minute = int(time.time() // 60)
    requests = [JobRequest(UPDATE_JOB, (organization, str(c)), job_id=f"{UPDATE_JOB}:{c}:sweep:{minute}") for c in customer_ids]
    if await wallets_repository.has_wallet_prices(session, scope):
        requests.append(single_request(USAGE_DRAIN_JOB, scope.organization_id, job_id=f"{USAGE_DRAIN_JOB}:{organization}:sweep{minute}"))
    await send(queue, requests)
    return len(customer_ids)
