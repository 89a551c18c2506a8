"""Stripe jobs: process one stored Stripe event (app/payments/stripe_events.py) with the handlers
of checkouts and orders (app/checkouts/stripe_handlers.py)."""

from __future__ import annotations

from typing import Any

from app.auth.service import job_scope
from app.kit import jobs
from app.kit.tenancy import bind
from app.payments import stripe_events
import app.checkouts.stripe_handlers  # noqa: F401  (registers the handlers of checkouts and orders)
from workers.registry import job


@job("stripe.process_event")
async def process_event(ctx: dict[str, Any], event_id: str) -> str:
    """Once per event: the row lock and `processed_at`, set with the handler's effects, make a
    second run (a redelivered job, a concurrent worker) find nothing to do."""
    async with ctx["session_factory"]() as session:
        claimed = await stripe_events.claim(session, event_id)
        if claimed is None:
            await session.rollback()
            return "already processed"
        if claimed.organization_id is not None:  # the handler acts for the payment's organization
            await bind(session, job_scope(claimed.organization_id))
        outcome = await stripe_events.dispatch(session, claimed)
        await jobs.commit(session, ctx["redis"])
    return outcome
