"""Stripe, through the official `stripe` SDK (its async methods on an httpx client).

Against Stripe itself with `STRIPE_SECRET_KEY`, or against `localstripe` (a Stripe-compatible
server from PyPI) with `STRIPE_API_BASE` pointing at it: the tests and the local sandbox. The SDK
retries network failures itself, with the idempotency key of the call, so a retry never charges
twice.
"""

from __future__ import annotations

from dataclasses import replace
from typing import Any

import stripe

from app.payments.processors import (
    ChargeResult,
    PaymentMethodRefused,
    ProcessorCustomer,
    ProcessorUnavailable,
    RefundResult,
    SavedPaymentMethod,
)


def stripe_client(secret_key: str, *, api_base: str | None = None, max_network_retries: int = 2) -> stripe.StripeClient:
    return stripe.StripeClient(
        secret_key,
        base_addresses={"api": api_base} if api_base else None,
        http_client=stripe.HTTPXClient(),
        max_network_retries=max_network_retries,
    )


def _unavailable(exc: stripe.StripeError) -> ProcessorUnavailable:
    return ProcessorUnavailable(f"Stripe did not complete the call ({type(exc).__name__}: {exc.user_message or exc})")


def id_of(reference: Any) -> str | None:
    """The id of a reference Stripe sends as an id or as the expanded object."""
    if isinstance(reference, dict):
        return reference.get("id")
    return str(reference) if reference else None


def charge_id_of(intent: dict[str, Any]) -> str | None:
    """The charge of a PaymentIntent (`latest_charge`, or the older `charges` list)."""
    latest = id_of(intent.get("latest_charge"))
    if latest:
        return latest
    charges = (intent.get("charges") or {}).get("data") or []
    return charges[0].get("id") if charges else None


def _charge_result(intent: dict[str, Any]) -> ChargeResult:
    status = intent.get("status")
    error = intent.get("last_payment_error") or {}
    common = {"payment_id": intent.get("id"), "amount": int(intent.get("amount") or 0), "currency": intent.get("currency") or "", "raw": intent}
    if status == "succeeded":
        return ChargeResult(status="succeeded", charge_id=charge_id_of(intent), **common)
    if status == "processing":
        return ChargeResult(status="processing", **common)
    if status in ("requires_action", "requires_confirmation") and not error:
        return ChargeResult(status="requires_action", **common)
    if status == "canceled":
        return ChargeResult(status="failed", failure_code="payment_canceled", failure_message="The payment was canceled before it was completed.", **common)
    return ChargeResult(
        status="failed",
        failure_code=error.get("decline_code") or error.get("code") or "payment_failed",
        failure_message=error.get("message") or "The payment was not completed.",
        **common,
    )


class StripeProcessor:
    name = "stripe"

    def __init__(self, client: stripe.StripeClient) -> None:
        self.client = client

    async def create_customer(self, *, email: str, name: str | None, metadata: dict[str, str], idempotency_key: str) -> ProcessorCustomer:
        params: dict[str, Any] = {"email": email, "metadata": metadata}
        if name:
            params["name"] = name
        try:
            customer = await self.client.v1.customers.create_async(params=params, options={"idempotency_key": idempotency_key})
        except stripe.StripeError as exc:
            raise _unavailable(exc) from None
        return ProcessorCustomer(id=customer.id)

    async def save_payment_method(self, *, customer_id: str, payment_method: str) -> SavedPaymentMethod:
        """Attach a payment method (from Stripe.js / a test `pm_card_*` token) to the customer,
        for this charge and later off-session ones. A card declined here is refused."""
        try:
            method = await self.client.v1.payment_methods.attach_async(payment_method, params={"customer": customer_id})
        except stripe.CardError as exc:
            raise PaymentMethodRefused(exc.user_message or "The card was declined.", decline_code=exc.code) from None
        except stripe.InvalidRequestError as exc:
            raise PaymentMethodRefused(exc.user_message or "Unknown payment method.", decline_code=exc.code) from None
        except stripe.StripeError as exc:
            raise _unavailable(exc) from None
        card = method.to_dict().get("card") or {}
        return SavedPaymentMethod(id=method.id, brand=card.get("brand"), last4=card.get("last4"))

    async def charge(
        self,
        *,
        customer_id: str,
        payment_method: str,
        amount: int,
        currency: str,
        off_session: bool,
        idempotency_key: str,
        metadata: dict[str, str],
    ) -> ChargeResult:
        params: dict[str, Any] = {
            "amount": amount,
            "currency": currency,
            "customer": customer_id,
            "payment_method": payment_method,
            "confirm": True,
            "metadata": metadata,
        }
        if off_session:  # a renewal: the customer is not there (the method was saved with them)
            params["off_session"] = True
        try:
            intent = await self.client.v1.payment_intents.create_async(params=params, options={"idempotency_key": idempotency_key})
        except stripe.CardError as exc:  # declined: Stripe answers 402 with the intent in the error
            body = exc.json_body or {}
            error = body.get("error") or {}
            intent_id = (error.get("payment_intent") or {}).get("id") if isinstance(error.get("payment_intent"), dict) else None
            return ChargeResult(
                status="failed",
                payment_id=intent_id,
                amount=amount,
                currency=currency,
                failure_code=error.get("decline_code") or exc.code or "card_declined",
                failure_message=exc.user_message or "The card was declined.",
            )
        except stripe.StripeError as exc:
            raise _unavailable(exc) from None
        result = _charge_result(intent.to_dict())
        if result.status == "succeeded" and result.charge_id:
            result = replace(result, fee=await self._fee(result.charge_id))
        return result

    async def payment_status(self, *, payment_id: str) -> ChargeResult:
        try:
            intent = await self.client.v1.payment_intents.retrieve_async(payment_id)
        except stripe.StripeError as exc:
            raise _unavailable(exc) from None
        return _charge_result(intent.to_dict())

    async def cancel_payment(self, *, payment_id: str) -> ChargeResult:
        """Cancel the PaymentIntent if it still waits; one that finished meanwhile is answered as it is."""
        current = await self.payment_status(payment_id=payment_id)
        if current.status not in ("requires_action", "processing"):
            return current
        try:
            intent = await self.client.v1.payment_intents.cancel_async(payment_id)
        except stripe.InvalidRequestError:  # it moved on meanwhile (e.g. succeeded): say where it is now
            return await self.payment_status(payment_id=payment_id)
        except stripe.StripeError as exc:
            raise _unavailable(exc) from None
        return _charge_result(intent.to_dict())

    async def _fee(self, charge_id: str) -> int | None:
        """Stripe's fee for the charge, from its balance transaction (for the ledger's
        `processor_fee`); None when Stripe does not say yet: the payment stands either way."""
        try:
            charge = await self.client.v1.charges.retrieve_async(charge_id, params={"expand": ["balance_transaction"]})
        except stripe.StripeError:
            return None
        balance = charge.to_dict().get("balance_transaction")
        return int(balance["fee"]) if isinstance(balance, dict) and isinstance(balance.get("fee"), int) else None

    async def refund(self, *, payment_id: str, amount: int, currency: str, idempotency_key: str, metadata: dict[str, str]) -> RefundResult:
        try:
            refund = await self.client.v1.refunds.create_async(
                params={"payment_intent": payment_id, "amount": amount, "metadata": metadata}, options={"idempotency_key": idempotency_key}
            )
        except stripe.StripeError as exc:
            raise _unavailable(exc) from None
        status = refund.status if refund.status in ("succeeded", "pending", "failed") else "pending"
        return RefundResult(status=status, refund_id=refund.id, amount=int(refund.amount), currency=refund.currency)
