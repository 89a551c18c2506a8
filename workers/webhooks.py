"""Webhook jobs: deliver an endpoint's due events; sweep for due deliveries every minute."""

from __future__ import annotations

import uuid
from typing import Any

from app.kit.tenancy import TenantScope
from workers import webhook_delivery as delivery
from workers.registry import job


@job("webhooks.deliver", tenant=True, timeout=600)
async def deliver(ctx: dict[str, Any], scope: TenantScope, endpoint_id: str) -> str:
    summary = await delivery.deliver_endpoint(
        ctx["session_factory"], scope, uuid.UUID(endpoint_id), client=ctx["http"], settings=ctx["settings"], queue=ctx["redis"]
    )
    return f"sent={summary.sent} succeeded={summary.succeeded} locked={summary.locked}"


@job("webhooks.sweep", every_minute_at=0)
async def sweep(ctx: dict[str, Any]) -> int:
    return await delivery.sweep(ctx["session_factory"], ctx["redis"])
