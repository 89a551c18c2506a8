"""Inbound Stripe events: verified, stored once by their id, processed once by a job.

`verify` checks the `Stripe-Signature` header with the SDK (`stripe.WebhookSignature.verify_header`:
the signing secret, and a timestamp at most 5 minutes old); `store` keeps the event unless its id
is there already (Stripe delivers at least once). `process` runs in the job `stripe.process_event`:
it takes the event's row lock, skips an event already processed (a job run twice has one
effect), and hands the event's object to the handler registered for its type, in the same
transaction that marks it processed. The domains that act on payments register handlers with
`@handles("payment_intent.succeeded")`; an event with no handler is marked ignored.
"""

from __future__ import annotations

import json
import uuid
from dataclasses import dataclass
from typing import Any, Awaitable, Callable

import stripe
from sqlalchemy import select, text, update
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncSession

from app.kit.errors import KassaError
from app.kit import clock
from app.models.stripe_event import StripeEvent
from app.payments.stripe_processor import id_of

PROCESS_JOB = "stripe.process_event"
SIGNATURE_TOLERANCE_SECONDS = 300  # Stripe's own default: older deliveries are refused (replays)
ORGANIZATION_KEY = "kassa_organization_id"  # in the metadata of every payment Kassa asks Stripe for

Handler = Callable[[AsyncSession, dict[str, Any]], Awaitable[str]]
HANDLERS: dict[str, Handler] = {}


class StripeEventRefused(KassaError):
    """Not a verified Stripe event: no or a bad signature, too old, or not an event."""

    code = "INVALID_STRIPE_EVENT"


def handles(event_type: str) -> Callable[[Handler], Handler]:
    """Register `handler(session, event_object) -> outcome` for Stripe events of `event_type`.
    It runs in a session acting for the organization named in the object's metadata."""

    def register(handler: Handler) -> Handler:
        if event_type in HANDLERS and HANDLERS[event_type] is not handler:
            raise ValueError(f"Stripe events {event_type!r} already have a handler")
        HANDLERS[event_type] = handler
        return handler

    return register


def verify(payload: bytes, signature: str | None, secret: str) -> dict[str, Any]:
    """The event, if `signature` proves Stripe sent `payload` recently; else StripeEventRefused."""
    if not signature:
        raise StripeEventRefused("Missing Stripe-Signature header")
    try:
        stripe.WebhookSignature.verify_header(payload, signature, secret, tolerance=SIGNATURE_TOLERANCE_SECONDS)
        event = json.loads(payload)
    except stripe.SignatureVerificationError as exc:
        raise StripeEventRefused(f"Stripe signature not verified: {exc.user_message or exc}") from None
    except ValueError:
        raise StripeEventRefused("The body is not a JSON Stripe event") from None
    if not isinstance(event, dict) or not isinstance(event.get("id"), str) or not isinstance(event.get("type"), str):
        raise StripeEventRefused("The body is not a Stripe event (it needs an id and a type)")
    return event


async def store(session: AsyncSession, event: dict[str, Any]) -> bool:
    """Store the event; False if its id was stored before (a repeated delivery)."""
    inserted = await session.scalar(
        insert(StripeEvent)
        .values(id=event["id"], type=event["type"], payload=event, received_at=clock.now())
        .on_conflict_do_nothing(index_elements=[StripeEvent.id])
        .returning(StripeEvent.id)
    )
    return inserted is not None


@dataclass(frozen=True)
class Claimed:
    event: StripeEvent
    organization_id: uuid.UUID | None


async def claim(session: AsyncSession, event_id: str) -> Claimed | None:
    """Lock an unprocessed event for processing in this transaction (None: processed already,
    or unknown). The organization it concerns comes from its object's metadata."""
    event = await session.scalar(
        select(StripeEvent).where(StripeEvent.id == event_id, StripeEvent.processed_at.is_(None)).with_for_update()
    )
    if event is None:
        return None
    obj = (event.payload.get("data") or {}).get("object") or {}
    metadata = obj.get("metadata") or {}
    try:
        organization_id = uuid.UUID(str(metadata[ORGANIZATION_KEY]))
    except (KeyError, ValueError):
        organization_id = await _organization_of_payment(session, obj)
    return Claimed(event, organization_id)


async def _organization_of_payment(session: AsyncSession, obj: dict[str, Any]) -> uuid.UUID | None:
    """The organization of the order a Stripe object without Kassa's metadata (a dispute, a
    charge refunded in Stripe's dashboard) is about, by its charge or PaymentIntent."""
    for key in ("charge", "payment_intent", "id"):
        reference = id_of(obj.get(key))
        if reference:
            found = await session.scalar(text("SELECT kassa_organization_of_payment(:reference)"), {"reference": reference})
            if found is not None:
                return found
    return None


async def dispatch(session: AsyncSession, claimed: Claimed) -> str:
    """Run the event's handler (the session acts for its organization by now), then mark the
    event processed with what happened, in the same transaction."""
    event = claimed.event
    handler = HANDLERS.get(event.type)
    if handler is None:
        outcome = "ignored: no handler for this type"
    elif claimed.organization_id is None:
        outcome = f"ignored: no {ORGANIZATION_KEY} in the object's metadata"
    else:
        outcome = await handler(session, (event.payload.get("data") or {}).get("object") or {})
    await session.execute(update(StripeEvent).where(StripeEvent.id == event.id).values(processed_at=clock.now(), outcome=outcome[:1000]))
    return outcome
