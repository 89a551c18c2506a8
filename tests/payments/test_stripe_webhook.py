"""Stripe's webhook: verified with the SDK, each event stored once by its id, processed once by a
job acting for the organization named in the payment's metadata. Events are signed here with the
SDK's own helper (`WebhookSignature.generate_signature_header`), as Stripe signs them."""

from __future__ import annotations

import json
import time
import uuid
from contextlib import asynccontextmanager
from dataclasses import replace

import httpx
import pytest
from sqlalchemy import select, text
from stripe._webhook import WebhookSignature

import app.checkouts.stripe_handlers  # noqa: F401  (the real handlers, registered before `handled` replaces one; else the worker registers them onto the replacement and is refused)
from app.models.stripe_event import StripeEvent
from app.payments import stripe_events
from app.server import create_app
from tests.conftest import make_org

SECRET = "whsec_kassa_test"
URL = "/v1/integrations/stripe/webhook"


def _event(event_type: str = "payment_intent.succeeded", *, organization_id=None, event_id: str | None = None) -> str:
    metadata = {"kassa_organization_id": str(organization_id)} if organization_id else {}
    return json.dumps(
        {
            "id": event_id or f"evt_{uuid.uuid4().hex[:24]}",
            "object": "event",
            "type": event_type,
            "created": int(time.time()),
            "data": {"object": {"id": f"pi_{uuid.uuid4().hex[:14]}", "object": "payment_intent", "amount": 1999, "metadata": metadata}},
        }
    )


def _signed(payload: str, *, secret: str = SECRET, timestamp: int | None = None) -> dict[str, str]:
    return {"Stripe-Signature": WebhookSignature.generate_signature_header(payload, secret, timestamp), "Content-Type": "application/json"}


@asynccontextmanager
async def _api(live, secret: str | None = SECRET):
    app = create_app(replace(live.settings, stripe_webhook_secret=secret), session_factory=live.session_factory, redis=live.redis)
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://kassa.test") as client:
        yield client


@pytest.fixture
def handled(monkeypatch):
    """A handler for payment_intent.succeeded that says which organization it acted for."""
    calls: list[tuple[str, object]] = []

    async def handler(session, payment_intent):
        acting_for = await session.scalar(text("SELECT kassa_current_organization()"))
        calls.append((payment_intent["id"], acting_for))
        return f"handled for {acting_for}"

    monkeypatch.setitem(stripe_events.HANDLERS, "payment_intent.succeeded", handler)
    return calls


async def _stored(live) -> list[StripeEvent]:
    async with live.session_factory() as session:
        return list((await session.scalars(select(StripeEvent).order_by(StripeEvent.received_at))).all())


async def test_an_event_is_stored_once_and_processed_once_for_its_organization(live, handled):
    org = await make_org(live.session_factory)
    payload = _event(organization_id=org.id)
    async with _api(live) as client:
        first = await client.post(URL, content=payload, headers=_signed(payload))
        again = await client.post(URL, content=payload, headers=_signed(payload))  # Stripe delivers at least once
    assert (first.status_code, first.json()) == (200, {"received": True, "duplicate": False})
    assert (again.status_code, again.json()) == (200, {"received": True, "duplicate": True})
    await live.run_worker()
    assert [organization for _, organization in handled] == [org.id]
    [stored] = await _stored(live)
    assert stored.processed_at is not None and stored.outcome == f"handled for {org.id}"


async def test_a_job_run_twice_has_one_effect(live, handled):
    from workers.stripe import process_event

    org = await make_org(live.session_factory)
    payload = _event(organization_id=org.id)
    async with _api(live) as client:
        assert (await client.post(URL, content=payload, headers=_signed(payload))).status_code == 200
    await live.redis.flushdb()  # run the job by hand, twice, at once and again
    ctx = {"session_factory": live.session_factory, "redis": live.redis}
    event_id = json.loads(payload)["id"]
    import asyncio

    outcomes = await asyncio.gather(process_event(ctx, event_id), process_event(ctx, event_id))
    outcomes.append(await process_event(ctx, event_id))
    assert len(handled) == 1
    assert sorted(outcomes).count("already processed") == 2


@pytest.mark.parametrize(
    "headers",
    [
        {},  # no signature
        {"Stripe-Signature": "t=1,v1=deadbeef"},
        "wrong secret",
        "an hour old",
    ],
)
async def test_what_stripe_did_not_sign_is_refused_and_not_stored(live, handled, headers):
    payload = _event(organization_id=uuid.uuid4())
    if headers == "wrong secret":
        headers = _signed(payload, secret="whsec_somebody_else")
    elif headers == "an hour old":
        headers = _signed(payload, timestamp=int(time.time()) - 3600)
    async with _api(live) as client:
        response = await client.post(URL, content=payload, headers=headers)
    assert response.status_code == 400
    assert response.json()["error"] == "INVALID_STRIPE_EVENT"
    assert await _stored(live) == []


async def test_a_signed_body_that_is_not_an_event_is_refused(live):
    for payload in ("not json", json.dumps({"hello": "world"}), json.dumps([1, 2])):
        async with _api(live) as client:
            response = await client.post(URL, content=payload, headers=_signed(payload))
        assert response.status_code == 400, payload
    assert await _stored(live) == []


async def test_events_without_a_handler_or_an_organization_are_kept_and_marked_ignored(live, handled):
    charge = _event("charge.updated", organization_id=uuid.uuid4())
    anonymous = _event()  # a payment Kassa did not ask for: no organization in its metadata
    async with _api(live) as client:
        for payload in (charge, anonymous):
            assert (await client.post(URL, content=payload, headers=_signed(payload))).status_code == 200
    await live.run_worker()
    assert handled == []
    outcomes = sorted(event.outcome for event in await _stored(live))
    assert outcomes == ["ignored: no handler for this type", "ignored: no kassa_organization_id in the object's metadata"]


async def test_without_a_signing_secret_the_endpoint_says_so(live):
    payload = _event()
    async with _api(live, secret=None) as client:
        response = await client.post(URL, content=payload, headers=_signed(payload))
    assert response.status_code == 404 and response.json()["error"] == "STRIPE_NOT_CONFIGURED"
    assert await _stored(live) == []
