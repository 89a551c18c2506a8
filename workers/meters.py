"""Meter jobs: bring a customer's meters up to date; recount a meter for every customer."""

from __future__ import annotations

import uuid
from typing import Any

from app.auth.service import job_scope
from app.kit import jobs
from app.kit.tenancy import TenantScope, scoped_factory
from app.organizations import repository as organizations
from app.meters import service
from workers.registry import job


@job("meters.update_customer", tenant=True)
async def update_customer(ctx: dict[str, Any], scope: TenantScope, customer_id: str) -> str:
    async with scoped_factory(ctx["session_factory"], scope)() as session:
        result = await service.update_customer_meters(session, uuid.UUID(customer_id))
        if result.more_pending:  # events of transactions still running when we looked
            service.request_update(session, uuid.UUID(customer_id))
        await jobs.commit(session, ctx["redis"])
    return f"meters={result.meters} recounted={len(result.recounted)} changes={result.status_changes} more={result.more_pending}"


@job("meters.backfill", tenant=True)
async def backfill(ctx: dict[str, Any], scope: TenantScope, meter_id: str) -> int:
    async with scoped_factory(ctx["session_factory"], scope)() as session:
        count = await service.backfill(session, uuid.UUID(meter_id))
        await jobs.commit(session, ctx["redis"])
    return count


@job("meters.sweep")
async def sweep(ctx: dict[str, Any]) -> int:
    """One organization at a time, each in a session acting for it."""
    queued = 0
    async with ctx["session_factory"]() as session:
        organization_ids = await organizations.all_ids(session)
    for organization_id in organization_ids:
        async with scoped_factory(ctx["session_factory"], job_scope(organization_id))() as session:
            queued += await service.sweep(session, ctx["redis"])
    return queued
