"""The interface every payment processor implements, and how the app picks one.

A processor moves money and reports what happened; it decides nothing about orders, checkouts or
ledgers (their services do, from these results). Amounts are integer minor units of a lowercase
ISO 4217 currency (app/kit/money.py). Every call that moves money takes an idempotency key, which
the processor passes on (Stripe's `Idempotency-Key`), so a retried call charges or refunds once.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Literal, Protocol

from app.kit.errors import KassaError

ProcessorName = Literal["stripe", "manual"]


class ProcessorUnavailable(KassaError):
    """The processor could not be reached or answered with an error of its own (not a decline):
    nothing is known to have moved; the call may be retried with the same idempotency key."""

    code = "PAYMENT_PROCESSOR_UNAVAILABLE"


class PaymentMethodRefused(KassaError):
    """The payment method cannot be used (declined when saved, expired, unknown)."""

    code = "PAYMENT_METHOD_REFUSED"

    def __init__(self, message: str, *, decline_code: str | None = None) -> None:
        super().__init__(message)
        self.decline_code = decline_code


@dataclass(frozen=True)
class ProcessorCustomer:
    id: str


@dataclass(frozen=True)
class SavedPaymentMethod:
    id: str
    brand: str | None = None
    last4: str | None = None


@dataclass(frozen=True)
class ChargeResult:
    """`succeeded`: the money moved (`charge_id` names it); `failed`: declined, with the
    processor's code and message for the customer; `requires_action`: the customer must act
    (e.g. 3-D Secure) before it can succeed; `processing`: the outcome arrives later (webhook)."""

    status: Literal["succeeded", "failed", "requires_action", "processing"]
    payment_id: str | None  # Stripe: the PaymentIntent
    charge_id: str | None = None
    amount: int = 0
    currency: str = ""
    failure_code: str | None = None
    failure_message: str | None = None
    fee: int | None = None  # the processor's fee, when it says at once
    raw: dict = field(default_factory=dict, compare=False, repr=False)


@dataclass(frozen=True)
class RefundResult:
    status: Literal["succeeded", "pending", "failed"]
    refund_id: str
    amount: int
    currency: str


class PaymentProcessor(Protocol):
    name: ProcessorName

    async def create_customer(self, *, email: str, name: str | None, metadata: dict[str, str], idempotency_key: str) -> ProcessorCustomer: ...

    async def save_payment_method(self, *, customer_id: str, payment_method: str) -> SavedPaymentMethod: ...

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
    ) -> ChargeResult: ...

    async def refund(self, *, payment_id: str, amount: int, currency: str, idempotency_key: str, metadata: dict[str, str]) -> RefundResult: ...

    async def payment_status(self, *, payment_id: str) -> ChargeResult:
        """Where a payment stands now (for one whose outcome was to arrive later)."""
        ...

    async def cancel_payment(self, *, payment_id: str) -> ChargeResult:
        """Give up a payment that is still waiting for the customer (e.g. 3-D Secure never done);
        the answer says where it stands (it may have succeeded meanwhile)."""
        ...


class ProcessorNotConfigured(KassaError):
    code = "PAYMENT_PROCESSOR_NOT_CONFIGURED"


def configured(name: ProcessorName, settings: Any) -> PaymentProcessor:
    """The processor called `name`, as the settings configure it (`ProcessorNotConfigured`
    for Stripe without `STRIPE_SECRET_KEY`)."""
    return processor_for(name, stripe_secret_key=settings.stripe_secret_key, stripe_api_base=settings.stripe_api_base)


def configured_stripe(settings: Any) -> PaymentProcessor | None:
    """Stripe as the settings configure it, or None without `STRIPE_SECRET_KEY`."""
    return configured("stripe", settings) if settings.stripe_secret_key else None


def processor_for(name: ProcessorName, *, stripe_secret_key: str | None, stripe_api_base: str | None = None) -> PaymentProcessor:
    """The processor called `name`. Stripe needs a secret key (`STRIPE_SECRET_KEY`; with
    `STRIPE_API_BASE` a Stripe-compatible server such as localstripe stands in)."""
    if name == "manual":
        from app.payments.manual import ManualProcessor

        return ManualProcessor()
    if name == "stripe":
        if not stripe_secret_key:
            raise ProcessorNotConfigured("Stripe is not configured: set STRIPE_SECRET_KEY")
        from app.payments.stripe_processor import StripeProcessor, stripe_client

        return StripeProcessor(stripe_client(stripe_secret_key, api_base=stripe_api_base))
    raise ProcessorNotConfigured(f"Unknown payment processor {name!r}")
