"""What Stripe's events do to checkouts and orders (registered with app/payments/stripe_events.py).

Each handler runs in the job `stripe.process_event`, in a session acting for the organization
named by the object's metadata (or found by its payment), in the transaction that marks the
event processed: an event delivered twice is processed once.
"""

from __future__ import annotations

import uuid
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from app.checkouts import service
from app.kit.tenancy import TenantScope, bound_scope
from app.models.order import RefundStatus
from app.orders import repository as orders_repository
from app.orders import service as orders
from app.payments.stripe_events import handles
from app.payments.stripe_processor import charge_id_of, id_of
from app.subscriptions import service as subscriptions


def bound_scope_of(session: AsyncSession) -> TenantScope:
    scope = bound_scope(session)
    if scope is None:  # stripe_events.dispatch runs handlers only for a known organization
        raise RuntimeError("a Stripe event handler runs acting for an organization")
    return scope


def _metadata_id(obj: dict[str, Any], key: str) -> uuid.UUID | None:
    """The Kassa id Kassa put in the object's metadata under `key` (None: not one of ours)."""
    try:
        return uuid.UUID(str((obj.get("metadata") or {})[key]))
    except (KeyError, ValueError):
        return None


@handles("payment_intent.succeeded")
async def payment_succeeded(session: AsyncSession, intent: dict[str, Any]) -> str:
    checkout_id = _metadata_id(intent, "kassa_checkout_id")
    if checkout_id is None:
        order_id = _metadata_id(intent, "kassa_order_id")
        if order_id is None:
            return "ignored: not a checkout's or a renewal's payment"
        return await subscriptions.settle_order_payment(
            session,
            bound_scope_of(session),
            order_id,
            succeeded=True,
            payment_id=str(intent.get("id")),
            charge_id=charge_id_of(intent),
            amount=int(intent.get("amount_received") or intent.get("amount") or 0),
        )
    return await service.complete_from_payment(
        session,
        bound_scope_of(session),
        checkout_id,
        processor="stripe",
        payment_id=str(intent.get("id")),
        charge_id=charge_id_of(intent),
        amount=int(intent.get("amount_received") or intent.get("amount") or 0),
        processor_customer_id=id_of(intent.get("customer")),
    )


@handles("payment_intent.payment_failed")
async def payment_failed(session: AsyncSession, intent: dict[str, Any]) -> str:
    checkout_id = _metadata_id(intent, "kassa_checkout_id")
    if checkout_id is None:
        order_id = _metadata_id(intent, "kassa_order_id")
        if order_id is None:
            return "ignored: not a checkout's or a renewal's payment"
        error = intent.get("last_payment_error") or {}
        return await subscriptions.settle_order_payment(
            session,
            bound_scope_of(session),
            order_id,
            succeeded=False,
            payment_id=str(intent.get("id")),
            charge_id=None,
            amount=0,
            failure_code=error.get("decline_code") or error.get("code"),
        )
    error = intent.get("last_payment_error") or {}
    return await service.fail_from_payment(
        session, bound_scope_of(session), checkout_id, code=error.get("decline_code") or error.get("code"), message=error.get("message")
    )


async def _order_of(session: AsyncSession, charge_id: str | None, payment_id: str | None):
    scope = bound_scope_of(session)
    order = None
    if charge_id:
        order = await orders_repository.get_by_charge(session, scope, "stripe", charge_id, for_update=True)
    if order is None and payment_id:
        order = await orders_repository.get_by_payment(session, scope, "stripe", payment_id, for_update=True)
    return scope, order


@handles("charge.refunded")
async def charge_refunded(session: AsyncSession, charge: dict[str, Any]) -> str:
    """Refunds of the charge that Kassa does not know yet (made in Stripe's dashboard) are recorded."""
    scope, order = await _order_of(session, charge.get("id"), charge.get("payment_intent"))
    if order is None:
        return "ignored: no order for this charge"
    recorded = 0
    for refund in (charge.get("refunds") or {}).get("data") or []:
        if refund.get("status") not in ("succeeded", "pending"):
            continue
        status = RefundStatus.succeeded.value if refund["status"] == "succeeded" else RefundStatus.pending.value
        if await orders.record_processor_refund(session, scope, order, processor_refund_id=refund["id"], amount=int(refund["amount"]), status=status):
            recorded += 1
    return f"handled: {recorded} refund(s) recorded"


@handles("charge.dispute.created")
async def dispute_created(session: AsyncSession, dispute: dict[str, Any]) -> str:
    scope, order = await _order_of(session, dispute.get("charge"), dispute.get("payment_intent"))
    if order is None:
        return "ignored: no order for this charge"
    done = await orders.record_dispute(session, scope, order, dispute_id=str(dispute["id"]), amount=int(dispute.get("amount") or 0))
    return "handled: dispute recorded" if done else "already recorded"


@handles("charge.dispute.closed")
async def dispute_closed(session: AsyncSession, dispute: dict[str, Any]) -> str:
    if dispute.get("status") != "won":
        return f"handled: dispute {dispute.get('status')}, the disputed amount stays with the customer"
    scope, order = await _order_of(session, dispute.get("charge"), dispute.get("payment_intent"))
    if order is None:
        return "ignored: no order for this charge"
    done = await orders.record_dispute_won(session, scope, order, dispute_id=str(dispute["id"]), amount=int(dispute.get("amount") or 0))
    return "handled: dispute won, amount back" if done else "ignored: no open dispute recorded, or already reversed"
