"""Meter jobs: bring a customer's meters up to date; recount a meter for every customer."""

from __future__ import annotations

import uuid
from typing import Any

from app.kit import jobs
from app.meters import service
from workers.registry import job


@job("meters.update_customer")
async def update_customer(ctx: dict[str, Any], customer_id: str) -> str:
    async with ctx["session_factory"]() as session:
        result = await service.update_customer_meters(session, uuid.UUID(customer_id))
        if result.more_pending:  # events of transactions still running when we looked
            service.request_update(session, uuid.UUID(customer_id))
        await jobs.commit(session, ctx["redis"])
    return f"meters={result.meters} recounted={len(result.recounted)} changes={result.status_changes} more={result.more_pending}"


@job("meters.backfill")
async def backfill(ctx: dict[str, Any], meter_id: str) -> int:
    async with ctx["session_factory"]() as session:
        count = await service.backfill(session, uuid.UUID(meter_id))
        await jobs.commit(session, ctx["redis"])
    return count


@job("meters.sweep")
async def sweep(ctx: dict[str, Any]) -> int:
    async with ctx["session_factory"]() as session:
        return await service.sweep(session, ctx["redis"])
