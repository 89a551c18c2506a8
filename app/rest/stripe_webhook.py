"""`POST /v1/integrations/stripe/webhook`: where Stripe sends its events.

Verified with the endpoint's signing secret (`STRIPE_WEBHOOK_SECRET`), stored once by event id,
processed by a job (app/payments/stripe_events.py). Answers 200 quickly, also for a repeated
delivery (`"duplicate": true`: acknowledged, not processed again), 400 for anything not signed by
Stripe (nothing stored), 404 when no signing secret is configured (Stripe events are not received here).
"""

from __future__ import annotations

from litestar import Request, Response, post

from app.kit import jobs
from app.kit.jobs import enqueue_after_commit
from app.payments import stripe_events
from app.rest.common import json_response


@post("/v1/integrations/stripe/webhook", status_code=200)
async def stripe_webhook(request: Request) -> Response:
    runtime = request.app.state.runtime
    secret = runtime.settings.stripe_webhook_secret
    if not secret:
        return json_response({"error": "STRIPE_NOT_CONFIGURED", "detail": "Stripe events are not received here: set STRIPE_WEBHOOK_SECRET"}, 404)
    try:
        event = stripe_events.verify(await request.body(), request.headers.get("stripe-signature"), secret)
    except stripe_events.StripeEventRefused as exc:
        return json_response({"error": exc.code, "detail": exc.message}, 400)
    async with runtime.session_factory() as session:
        stored = await stripe_events.store(session, event)
        if stored:
            enqueue_after_commit(session, stripe_events.PROCESS_JOB, event["id"])
        await jobs.commit(session, runtime.redis)
    return json_response({"received": True, "duplicate": not stored})
