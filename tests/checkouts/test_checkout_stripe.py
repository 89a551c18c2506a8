"""Checkouts paid with Stripe, against localstripe through the official SDK (app/payments/
stripe_processor.py), and the Stripe events that complete, refund and dispute them, through the
real webhook endpoint and the job `stripe.process_event`. Events localstripe does not send
(refunds made in Stripe's dashboard, disputes) and the ones a test replays are signed with the
SDK's own helper, as Stripe signs them."""

from __future__ import annotations

import json
import time
import uuid
from contextlib import asynccontextmanager
from dataclasses import replace
from typing import Any

import httpx
import pytest
from sqlalchemy import select
from stripe._webhook import WebhookSignature

from app.catalog.service import PriceDraft
from app.checkouts import service as checkouts
from app.checkouts.service import CheckoutDraft, CustomerData
from app.discounts import service as discounts
from app.discounts.service import DiscountDraft
from app.discounts.tax_rates import set_tax_rate
from app.kit.tenancy import tenant_session
from app.models import Customer
from app.models.checkout import Checkout, PaymentMethod
from app.models.order import Order, Refund, Transaction
from app.orders import service as orders
from app.payments.processors import processor_for
from app.server import create_app
from tests.conftest import make_org, tenant_factory
from tests.orders.factories import client, count, make_customer, make_product, merchant, rows
from tests.localstripe_server import card, stripe_processor

SECRET = "whsec_kassa_checkout_test"
WEBHOOK = "/v1/integrations/stripe/webhook"
DECLINED = "4000000000000002"  # declined when it is saved (attached)
ATTACHES_THEN_DECLINES = "4000000000000341"  # saved without trouble, every charge declined


async def _stripe_checkout(session, subject, *, amount: int = 1999, discount: dict | None = None, email: str = "ann@example.com", customer_id=None):
    _, price = await make_product(session, subject, PriceDraft(type="fixed", amount=amount))
    discount_id = None
    if discount is not None:
        discount_id = (await discounts.create_discount(session, subject, DiscountDraft(name="Off", type="percentage", duration="once", **discount))).id
    customer = None if customer_id else CustomerData(email=email, name="Ann", billing_address={"country": "DE"})
    draft = CheckoutDraft(product_price_id=price.id, customer=customer, customer_id=customer_id, discount_id=discount_id, payment_processor="stripe")
    return await checkouts.create_checkout(session, subject, draft, stripe_configured=True)


# -- confirming against localstripe --------------------------------------------------------


async def test_a_card_pays_the_checkout(session_factory, org, localstripe):
    stripe = stripe_processor(localstripe)
    subject = merchant(org.id)
    async with tenant_factory(session_factory, org.id)() as session:
        await set_tax_rate(session, subject, "DE", None, 1900)
        checkout = await _stripe_checkout(session, subject, discount={"basis_points": 1500})
        assert (checkout.subtotal_amount, checkout.discount_amount, checkout.tax_amount, checkout.total_amount) == (1999, 300, 323, 2022)
        done = await checkouts.confirm_checkout(session, client(org.id, checkout.id), checkout.id, payment_method="pm_card_visa", processor=stripe)
        assert (done.status, done.failure_code, done.payment_attempts) == ("succeeded", None, 1)
        assert done.payment_id.startswith("pi_")
        order = await session.get(Order, done.order_id)
        assert (order.status, order.processor, order.payment_id, order.due_amount, order.balance_amount) == ("paid", "stripe", done.payment_id, 2022, 2022)
        assert order.charge_id.startswith("ch_")
        [payment] = (await session.scalars(select(Transaction).where(Transaction.order_id == order.id))).all()
        assert (payment.type, payment.processor, payment.processor_id, payment.amount, payment.tax_amount) == ("payment", "stripe", order.charge_id, 2022, 323)
        customer = await session.get(Customer, done.customer_id)
        assert customer.stripe_customer_id.startswith("cus_")
        [method] = (await session.scalars(select(PaymentMethod))).all()
        assert (method.customer_id, method.processor, method.processor_customer_id, method.last4) == (customer.id, "stripe", customer.stripe_customer_id, "4242")
        # what Stripe holds: one payment of the total, for this customer, naming the checkout
        intent = (await stripe.client.v1.payment_intents.retrieve_async(done.payment_id)).to_dict()
        assert (intent["status"], intent["amount"], intent["currency"], intent["customer"]) == ("succeeded", 2022, "usd", customer.stripe_customer_id)
        assert intent["metadata"] == {"kassa_organization_id": str(org.id), "kassa_checkout_id": str(checkout.id)}
        await session.commit()


@pytest.mark.parametrize("number", [DECLINED, ATTACHES_THEN_DECLINES], ids=["declined when saved", "declined when charged"])
async def test_a_declined_card_fails_the_attempt_and_another_card_pays(session_factory, org, localstripe, number):
    stripe = stripe_processor(localstripe)
    subject = merchant(org.id)
    async with tenant_factory(session_factory, org.id)() as session:
        checkout = await _stripe_checkout(session, subject, discount={"basis_points": 1000, "max_redemptions": 1})
        browser = client(org.id, checkout.id)
        failed = await checkouts.confirm_checkout(session, browser, checkout.id, payment_method=await card(localstripe, number), processor=stripe)
        assert (failed.status, failed.failure_code, failed.order_id, failed.payment_attempts) == ("failed", "card_declined", None, 1)
        assert failed.failure_message
        discount = await discounts.get_discount(session, subject, checkout.discount_id)
        assert discount.redemptions_count == 0
        for table in ("orders", "transactions", "discount_redemptions"):
            assert await count(session, f"SELECT count(*) FROM {table}") == 0, table
        assert [row[0]["data"]["status"] for row in await rows(session, "SELECT payload FROM webhook_events WHERE type = 'checkout.updated'")] == ["FAILED"]
        # a new attempt, with a good card
        done = await checkouts.confirm_checkout(session, browser, checkout.id, payment_method="pm_card_visa", processor=stripe)
        assert (done.status, done.failure_code, done.failure_message, done.payment_attempts) == ("succeeded", None, None, 2)
        await session.refresh(discount)
        assert discount.redemptions_count == 1
        order = await session.get(Order, done.order_id)
        assert (order.status, order.due_amount, order.discount_amount) == ("paid", 1799, 200)
        assert await count(session, "SELECT count(*) FROM transactions WHERE type = 'payment'") == 1
        await session.commit()


# -- Stripe's events, through the webhook and the job ---------------------------------------


def _event(event_type: str, obj: dict[str, Any], event_id: str | None = None) -> str:
    return json.dumps(
        {"id": event_id or f"evt_{uuid.uuid4().hex[:24]}", "object": "event", "type": event_type, "created": int(time.time()), "data": {"object": obj}}
    )


@asynccontextmanager
async def _webhook(live):
    app = create_app(replace(live.settings, stripe_webhook_secret=SECRET), session_factory=live.session_factory, redis=live.redis)
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://kassa.test") as http:

        async def deliver(payload: str) -> dict:
            headers = {"Stripe-Signature": WebhookSignature.generate_signature_header(payload, SECRET), "Content-Type": "application/json"}
            response = await http.post(WEBHOOK, content=payload, headers=headers)
            assert response.status_code == 200, response.text
            return response.json()

        yield deliver


async def _outcomes(live) -> dict[str, str]:
    async with live.session_factory() as session:
        return {row[0]: row[1] for row in await rows(session, "SELECT id, outcome FROM stripe_events")}


async def _paid_checkout(live, localstripe, subject) -> Checkout:
    """A checkout paid with a card, committed."""
    async with tenant_session(live.session_factory, subject.scope) as session:
        checkout = await _stripe_checkout(session, subject)
        done = await checkouts.confirm_checkout(session, client(subject.organization_id, checkout.id), checkout.id, payment_method="pm_card_visa", processor=stripe_processor(localstripe))
        assert done.status == "succeeded"
        await session.commit()
    return done


@pytest.mark.parametrize("buyer", ["new", "known, billed elsewhere"])
async def test_a_payment_whose_confirmation_never_committed_is_completed_once_by_its_events(live, localstripe, buyer):
    """The confirmation charged the card, then crashed before its commit: Stripe's
    payment_intent.succeeded completes the checkout, once, though it arrives twice (two event
    ids for one intent) and one of them is delivered twice. The customer the confirmation made
    is made again; a known customer billed in another place than the checkout's data says is
    charged what the checkout showed (the address given on the checkout sets the tax, not the
    customer's California one) and recorded alike."""
    stripe = stripe_processor(localstripe)
    org = await make_org(live.session_factory)
    subject = merchant(org.id)
    async with tenant_session(live.session_factory, subject.scope) as session:
        await set_tax_rate(session, subject, "US", "CA", 725)
        if buyer != "new":
            await make_customer(session, subject, email="crash@example.com", billing_address={"country": "US", "state": "CA"})
        checkout = await _stripe_checkout(session, subject, email="crash@example.com")
        assert checkout.total_amount == 1999
        await session.commit()
    total = 1999  # what the checkout showed, whoever the buyer turns out to be
    async with tenant_session(live.session_factory, subject.scope) as session:
        done = await checkouts.confirm_checkout(session, client(org.id, checkout.id), checkout.id, payment_method="pm_card_visa", processor=stripe)
        assert done.status == "succeeded"
        payment_id = done.payment_id
        await session.rollback()  # the crash: nothing of the confirmation is kept, the money moved
    async with tenant_session(live.session_factory, subject.scope) as session:
        assert (await session.get(Checkout, checkout.id)).status == "open"
        assert await session.scalar(select(Order.id)) is None

    intent = (await stripe.client.v1.payment_intents.retrieve_async(payment_id)).to_dict()
    first, second = _event("payment_intent.succeeded", intent), _event("payment_intent.succeeded", intent)
    async with _webhook(live) as deliver:
        assert (await deliver(first))["duplicate"] is False
        assert (await deliver(second))["duplicate"] is False
        assert (await deliver(first))["duplicate"] is True
    await live.run_worker()
    assert sorted((await _outcomes(live)).values()) == ["already recorded", "handled: checkout succeeded"]
    async with tenant_session(live.session_factory, subject.scope) as session:
        completed = await session.get(Checkout, checkout.id)
        [order] = (await session.scalars(select(Order))).all()
        assert (completed.status, completed.order_id, completed.payment_id) == ("succeeded", order.id, payment_id)
        assert (order.status, order.payment_id, order.due_amount, order.checkout_id) == ("paid", payment_id, total, checkout.id)
        assert intent["amount"] == total and order.charge_id.startswith("ch_")
        [customer] = (await session.scalars(select(Customer))).all()
        assert (customer.email, customer.id, customer.stripe_customer_id) == ("crash@example.com", completed.customer_id, intent["customer"])
        assert [t.type for t in (await session.scalars(select(Transaction))).all()] == ["payment"]


async def test_a_refund_made_at_stripe_is_recorded_once(live, localstripe):
    """Kassa refunds 300 through Stripe, the merchant 500 more in Stripe's dashboard; Stripe's
    charge.refunded (twice) lists both: only the one Kassa did not make is recorded, once."""
    stripe = stripe_processor(localstripe)
    org = await make_org(live.session_factory)
    subject = merchant(org.id)
    done = await _paid_checkout(live, localstripe, subject)
    async with tenant_session(live.session_factory, subject.scope) as session:
        ours = await orders.create_refund(session, subject, done.order_id, amount=300, reason="customer_request", processor=stripe)
        await session.commit()
    assert ours.processor_refund_id.startswith("re_")
    refund = await stripe.client.v1.refunds.create_async(params={"payment_intent": done.payment_id, "amount": 500})  # in Stripe's dashboard
    async with live.session_factory() as session:
        [(charge_id,)] = await rows(session, "SELECT charge_id FROM orders")
    charge = (await stripe.client.v1.charges.retrieve_async(charge_id)).to_dict()
    assert charge["amount_refunded"] == 800
    charge["metadata"] = {}  # found by its charge, as Stripe's own refunds are
    listed = (await stripe.client.v1.refunds.list_async(params={"charge": charge_id})).to_dict()["data"]
    assert sorted(r["id"] for r in listed) == sorted([ours.processor_refund_id, refund.id])
    charge["refunds"] = {"object": "list", "data": listed}
    async with _webhook(live) as deliver:
        await deliver(_event("charge.refunded", charge))
        await deliver(_event("charge.refunded", charge))  # another event about the same refund
    await live.run_worker()
    assert sorted((await _outcomes(live)).values()) == ["handled: 0 refund(s) recorded", "handled: 1 refund(s) recorded"]
    async with tenant_session(live.session_factory, subject.scope) as session:
        recorded = (await session.scalars(select(Refund).order_by(Refund.created_at))).all()
        assert [(r.processor_refund_id, r.amount, r.status, r.processor) for r in recorded] == [
            (ours.processor_refund_id, 300, "succeeded", "stripe"),
            (refund.id, 500, "succeeded", "stripe"),
        ]
        order = await session.get(Order, done.order_id)
        assert (order.status, order.refunded_amount, order.balance_amount) == ("partially_refunded", 800, 1199)


async def test_a_dispute_without_kassas_metadata_is_found_by_its_charge_and_recorded_once(live, localstripe):
    org = await make_org(live.session_factory)
    other = await make_org(live.session_factory, name="Other")
    subject = merchant(org.id)
    await _paid_checkout(live, localstripe, merchant(other.id))  # another organization's order, another charge
    done = await _paid_checkout(live, localstripe, subject)
    async with tenant_session(live.session_factory, subject.scope) as session:
        order = await session.get(Order, done.order_id)
    dispute = {"id": f"dp_{uuid.uuid4().hex[:14]}", "object": "dispute", "charge": order.charge_id, "payment_intent": order.payment_id, "amount": 1999, "currency": "usd", "metadata": {}, "status": "needs_response"}
    won = {**dispute, "status": "won"}
    async with _webhook(live) as deliver:
        for payload in (_event("charge.dispute.created", dispute), _event("charge.dispute.created", dispute)):
            await deliver(payload)
        await live.run_worker()
        async with tenant_session(live.session_factory, subject.scope) as session:
            assert (await session.get(Order, order.id)).balance_amount == 0
        for payload in (_event("charge.dispute.closed", won), _event("charge.dispute.closed", won)):
            await deliver(payload)
        await live.run_worker()
    assert sorted((await _outcomes(live)).values()) == [
        "already recorded",
        "handled: dispute recorded",
        "handled: dispute won, amount back",
        "ignored: no open dispute recorded, or already reversed",
    ]
    async with tenant_session(live.session_factory, subject.scope) as session:
        after = await session.get(Order, order.id)
        kinds = sorted(t.type for t in (await session.scalars(select(Transaction).where(Transaction.order_id == order.id))).all())
    assert (after.balance_amount, after.status) == (1999, "paid")
    assert kinds == ["dispute", "dispute_reversal", "payment"]
    async with tenant_session(live.session_factory, merchant(other.id).scope) as session:
        assert sorted(t.type for t in (await session.scalars(select(Transaction))).all()) == ["payment"]


async def test_ten_confirmations_at_once_charge_once(live, localstripe):
    """The browser confirms ten times at once: one confirmation charges, the others are told
    another one is running (or that it succeeded); Stripe holds one payment."""
    import asyncio

    from app.checkouts.errors import CheckoutBusy, CheckoutNotOpen

    stripe = stripe_processor(localstripe)
    org = await make_org(live.session_factory)
    subject = merchant(org.id)
    async with tenant_session(live.session_factory, subject.scope) as session:
        checkout = await _stripe_checkout(session, subject, email="many@example.com")
        await session.commit()
    browser = client(org.id, checkout.id)

    async def confirm() -> str:
        async with tenant_session(live.session_factory, subject.scope) as session:
            try:
                done = await checkouts.confirm_checkout(session, browser, checkout.id, payment_method="pm_card_visa", processor=stripe)
            except (CheckoutBusy, CheckoutNotOpen) as exc:
                await session.rollback()
                return exc.code
            await session.commit()
            return done.status

    outcomes = await asyncio.gather(*(confirm() for _ in range(10)))
    assert outcomes.count("succeeded") == 1, outcomes
    assert set(outcomes) <= {"succeeded", "CHECKOUT_CONFIRMATION_IN_PROGRESS", "CHECKOUT_NOT_OPEN"}
    async with tenant_session(live.session_factory, subject.scope) as session:
        [customer] = (await session.scalars(select(Customer))).all()
        assert await session.scalar(select(Order.id)) is not None
    everything = (await stripe.client.v1.payment_intents.list_async(params={"limit": 100})).to_dict()["data"]
    intents = [i for i in everything if i["metadata"].get("kassa_checkout_id") == str(checkout.id)]
    assert [(i["status"], i["amount"], i["customer"]) for i in intents] == [("succeeded", 1999, customer.stripe_customer_id)]


NEEDS_3DS = "4000002500003155"  # the charge waits for the customer's authentication (3-D Secure)


async def _authenticate(localstripe, intent_id: str, client_secret: str, *, success: bool) -> None:
    """The customer passes (or fails) 3-D Secure in Stripe.js: localstripe's own endpoint."""
    async with httpx.AsyncClient(base_url=localstripe.url, headers={"Authorization": "Bearer sk_test_kassa"}) as http:
        response = await http.post(f"/v1/payment_intents/{intent_id}/_authenticate", data={"client_secret": client_secret, "success": str(success).lower()})
    assert response.status_code == 200, response.text


@pytest.mark.parametrize("authenticated", [True, False], ids=["authenticated", "not authenticated"])
async def test_a_payment_that_waits_for_the_customer_is_completed_or_failed_by_its_event(live, localstripe, authenticated):
    """A card that needs 3-D Secure leaves the checkout confirmed, its discount redeemed; Stripe's
    event decides. Succeeded: the order, the redemption counted once. Failed: the checkout is
    failed, the redemption given back, and the customer may confirm again with the discount."""
    stripe = stripe_processor(localstripe)
    org = await make_org(live.session_factory)
    subject = merchant(org.id)
    async with tenant_session(live.session_factory, subject.scope) as session:
        checkout = await _stripe_checkout(session, subject, discount={"basis_points": 1000, "max_redemptions": 1})
        await session.commit()
    browser = client(org.id, checkout.id)
    async with tenant_session(live.session_factory, subject.scope) as session:
        waiting = await checkouts.confirm_checkout(session, browser, checkout.id, payment_method=await card(localstripe, NEEDS_3DS), processor=stripe)
        assert (waiting.status, waiting.order_id) == ("confirmed", None)
        await session.commit()
    intent = await stripe.client.v1.payment_intents.retrieve_async(waiting.payment_id)
    assert intent.status == "requires_action"
    await _authenticate(localstripe, intent.id, intent.client_secret, success=authenticated)
    intent = (await stripe.client.v1.payment_intents.retrieve_async(intent.id)).to_dict()
    kind = "payment_intent.succeeded" if authenticated else "payment_intent.payment_failed"
    async with _webhook(live) as deliver:
        await deliver(_event(kind, intent))
    await live.run_worker()
    assert list((await _outcomes(live)).values()) == ["handled: checkout succeeded" if authenticated else "handled: checkout failed"]
    async with tenant_session(live.session_factory, subject.scope) as session:
        after = await session.get(Checkout, checkout.id)
        discount = await discounts.get_discount(session, subject, checkout.discount_id)
        if authenticated:
            order = await session.get(Order, after.order_id)
            assert (after.status, order.status, order.due_amount, order.payment_id) == ("succeeded", "paid", 1799, intent["id"])
            assert discount.redemptions_count == 1
            return
        assert (after.status, after.order_id) == ("failed", None) and after.failure_code
        assert discount.redemptions_count == 0
        assert await count(session, "SELECT count(*) FROM discount_redemptions") == 0
    async with tenant_session(live.session_factory, subject.scope) as session:
        done = await checkouts.confirm_checkout(session, browser, checkout.id, payment_method="pm_card_visa", processor=stripe)
        assert (done.status, done.discount_amount, done.payment_attempts) == ("succeeded", 200, 2)
        await session.commit()
    async with tenant_session(live.session_factory, subject.scope) as session:
        assert (await discounts.get_discount(session, subject, checkout.discount_id)).redemptions_count == 1
