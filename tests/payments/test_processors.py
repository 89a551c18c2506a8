"""The payment processors behind their one interface: Stripe through the official SDK against
localstripe (Stripe's test cards: 4242... succeeds, 4000000000000002 is declined), and manual."""

from __future__ import annotations

import uuid

import pytest

from app.payments.manual import ManualProcessor
from app.payments.processors import PaymentMethodRefused, ProcessorNotConfigured, ProcessorUnavailable, processor_for
from app.payments.stripe_processor import StripeProcessor, stripe_client
from tests.localstripe_server import card, stripe_processor

SUCCEEDS = "4242424242424242"
DECLINED = "4000000000000002"
ATTACHES_THEN_DECLINES = "4000000000000341"  # saved without trouble, every charge declined


async def test_a_card_is_saved_charged_off_session_and_refunded_in_part(localstripe):
    processor = stripe_processor(localstripe)
    customer = await processor.create_customer(email="ann@example.com", name="Ann", metadata={"kassa_customer": "c1"}, idempotency_key=uuid.uuid4().hex)
    saved = await processor.save_payment_method(customer_id=customer.id, payment_method=await card(localstripe, SUCCEEDS))
    assert saved.last4 == "4242"
    first = await processor.charge(
        customer_id=customer.id, payment_method=saved.id, amount=1999, currency="usd", off_session=False, idempotency_key=uuid.uuid4().hex, metadata={}
    )
    assert (first.status, first.amount, first.currency) == ("succeeded", 1999, "usd")
    assert first.payment_id.startswith("pi_") and first.charge_id.startswith("ch_")
    assert first.fee == 0  # Stripe's fee, read from the charge's balance transaction (localstripe charges none)
    renewal = await processor.charge(
        customer_id=customer.id, payment_method=saved.id, amount=1999, currency="usd", off_session=True, idempotency_key=uuid.uuid4().hex, metadata={}
    )
    assert renewal.status == "succeeded" and renewal.payment_id != first.payment_id
    refund = await processor.refund(payment_id=first.payment_id, amount=500, currency="usd", idempotency_key=uuid.uuid4().hex, metadata={})
    assert (refund.status, refund.amount, refund.currency) == ("succeeded", 500, "usd")
    charge = await processor.client.v1.charges.retrieve_async(first.charge_id)
    assert charge.amount_refunded == 500


async def test_a_declined_card_is_refused_when_saved(localstripe):
    processor = stripe_processor(localstripe)
    customer = await processor.create_customer(email="bob@example.com", name=None, metadata={}, idempotency_key=uuid.uuid4().hex)
    with pytest.raises(PaymentMethodRefused) as refused:
        await processor.save_payment_method(customer_id=customer.id, payment_method=await card(localstripe, DECLINED))
    assert refused.value.decline_code == "card_declined"
    with pytest.raises(PaymentMethodRefused):
        await processor.save_payment_method(customer_id=customer.id, payment_method="pm_does_not_exist")


async def test_a_declined_charge_is_a_failed_result_with_the_reason(localstripe):
    processor = stripe_processor(localstripe)
    customer = await processor.create_customer(email="dan@example.com", name=None, metadata={}, idempotency_key=uuid.uuid4().hex)
    saved = await processor.save_payment_method(customer_id=customer.id, payment_method=await card(localstripe, ATTACHES_THEN_DECLINES))
    result = await processor.charge(
        customer_id=customer.id, payment_method=saved.id, amount=1200, currency="eur", off_session=True, idempotency_key=uuid.uuid4().hex, metadata={}
    )
    assert (result.status, result.failure_code, result.amount, result.currency) == ("failed", "card_declined", 1200, "eur")
    assert result.failure_message and result.charge_id is None


async def test_an_unreachable_stripe_is_a_typed_error_not_a_crash():
    processor = StripeProcessor(stripe_client("sk_test_kassa", api_base="http://127.0.0.1:9", max_network_retries=0))
    with pytest.raises(ProcessorUnavailable, match="Stripe did not complete the call"):
        await processor.create_customer(email="c@example.com", name=None, metadata={}, idempotency_key="k")


async def test_the_manual_processor_answers_the_same_ids_for_the_same_key():
    manual = processor_for("manual", stripe_secret_key=None)
    assert isinstance(manual, ManualProcessor)
    one = await manual.charge(customer_id="m", payment_method="cash", amount=100, currency="jpy", off_session=False, idempotency_key="k1", metadata={})
    again = await manual.charge(customer_id="m", payment_method="cash", amount=100, currency="jpy", off_session=False, idempotency_key="k1", metadata={})
    other = await manual.charge(customer_id="m", payment_method="cash", amount=100, currency="jpy", off_session=False, idempotency_key="k2", metadata={})
    assert one == again and one.payment_id != other.payment_id and one.status == "succeeded"
    refund = await manual.refund(payment_id=one.payment_id, amount=40, currency="jpy", idempotency_key="r1", metadata={})
    assert (refund.status, refund.amount) == ("succeeded", 40)


def test_stripe_needs_a_key():
    with pytest.raises(ProcessorNotConfigured, match="STRIPE_SECRET_KEY"):
        processor_for("stripe", stripe_secret_key=None)
