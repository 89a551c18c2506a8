"""Payment errors: their codes in `ErrorCode` (no mutation answers them as types of their own yet)."""

from __future__ import annotations

from app.payments.processors import PaymentMethodRefused, ProcessorNotConfigured, ProcessorUnavailable
from app.payments.stripe_events import StripeEventRefused
from schema.kit.errors import register_error

register_error(PaymentMethodRefused, "The payment method cannot be used: declined when saved, expired or unknown.")
register_error(ProcessorUnavailable, "The payment processor could not be reached or failed; nothing is known to have moved: retry with the same idempotency key.")
register_error(ProcessorNotConfigured, "The payment processor is not configured on this Kassa (e.g. no STRIPE_SECRET_KEY).")
register_error(StripeEventRefused, "Not a verified Stripe event: no or a bad signature, too old, or not an event (the Stripe webhook answers it as 400).")
