"""Meter jobs: bring a customer's meters up to date; recount a meter for every customer; sweep for
customers whose update job was lost (over every organization)."""

from __future__ import annotations

import time
import uuid
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from app.kit import jobs
from app.kit.jobs import JobRequest, send
from app.meters import aggregation, repository
from app.meters.service import UPDATE_JOB, request_update
from workers.registry import job


@job("meters.update_customer")
async def update_customer(ctx: dict[str, Any], customer_id: str) -> str:
    async with ctx["session_factory"]() as session:
        result = await aggregation.update_customer_meters(session, uuid.UUID(customer_id))
        if result.more_pending:  # events of transactions still running when we looked
            request_update(session, uuid.UUID(customer_id))
        await jobs.commit(session, ctx["redis"])
    return f"meters={result.meters} recounted={len(result.recounted)} changes={result.status_changes} more={result.more_pending}"


@job("meters.backfill")
async def backfill(ctx: dict[str, Any], meter_id: str) -> int:
    async with ctx["session_factory"]() as session:
        count = await aggregation.backfill(session, uuid.UUID(meter_id))
        await jobs.commit(session, ctx["redis"])
    return count


@job("meters.sweep")
async def sweep(ctx: dict[str, Any]) -> int:
    async with ctx["session_factory"]() as session:
        return await sweep_customers(session, ctx["redis"])


async def sweep_customers(session: AsyncSession, queue) -> int:
    """Queue an update for every customer with uncounted events: the safety net for an update
    job lost between a commit and Redis."""
    customer_ids = await repository.customers_behind(session)
    minute = int(time.time() // 60)
    await send(queue, [JobRequest(UPDATE_JOB, (str(c),), job_id=f"{UPDATE_JOB}:{c}:sweep:{minute}") for c in customer_ids])
    return len(customer_ids)
