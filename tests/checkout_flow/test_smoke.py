"""Smoke: a checkout through GraphQL, paid with Stripe (localstripe), then refunded."""

from __future__ import annotations

from contextlib import asynccontextmanager
from dataclasses import replace

import httpx

from app.payments.processors import processor_for
from app.server import create_app
from tests.catalog.operations import create_product
from tests.conftest import Api

CREATE = """
mutation($input: CreateCheckoutInput!) { createCheckout(input: $input) {
  __typename ... on Error { message code } ... on ValidationError { fields { path message code } }
  ... on CreateCheckoutSuccess { checkout { id status clientSecret totalAmount dueNow subtotalAmount taxAmount productName } } } }
"""
CONFIRM = """
mutation($input: ConfirmCheckoutSessionInput!) { confirmCheckoutSession(input: $input) {
  __typename ... on Error { message code } ... on ValidationError { fields { path message code } }
  ... on ConfirmCheckoutSuccess { checkout { id status failureCode failureMessage orderId } } } }
"""
UPDATE = """
mutation($input: UpdateCheckoutSessionInput!) { updateCheckoutSession(input: $input) {
  __typename ... on Error { message code } ... on ValidationError { fields { path message code } }
  ... on UpdateCheckoutSuccess { checkout { id status customerEmail totalAmount } } } }
"""
ORDER = "query($id: ID!) { order(id: $id) { id status invoiceNumber totalAmount balanceAmount paymentId transactions { type amount processorId } customer { email } } }"
SESSION = "{ checkoutSession { id status productName totalAmount } }"
REFUND = """
mutation($input: CreateRefundInput!) { createRefund(input: $input) {
  __typename ... on Error { message code } ... on RefundExceedsRefundableError { refundable }
  ... on CreateRefundSuccess { refund { amount status } order { status refundedAmount balanceAmount } } } }
"""


@asynccontextmanager
async def _api(settings, session_factory, redis, localstripe):
    configured = replace(settings, stripe_secret_key="sk_test_kassa", stripe_api_base=localstripe.url)
    app = create_app(configured, session_factory=session_factory, redis=redis)
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://kassa.test") as client:
        yield Api(client)


async def test_checkout_paid_with_stripe_then_refunded(settings, session_factory, redis, localstripe, org):
    async with _api(settings, session_factory, redis, localstripe) as api:
        product = await create_product(api, org.token, name="Pro", recurringInterval=None)
        price_id = product["prices"][0]["id"]
        created = (await api.data(CREATE, {"input": {"productPriceId": price_id}}, token=org.token))["createCheckout"]
        assert created["__typename"] == "CreateCheckoutSuccess", created
        secret = created["checkout"]["clientSecret"]
        assert (await api.data(SESSION, token=secret))["checkoutSession"]["productName"] == "Pro"
        updated = (await api.data(UPDATE, {"input": {"customer": {"email": "ann@example.com"}}}, token=secret))["updateCheckoutSession"]
        assert updated["__typename"] == "UpdateCheckoutSuccess", updated
        stripe = processor_for("stripe", stripe_secret_key="sk_test_kassa", stripe_api_base=localstripe.url)
        method = await stripe.client.v1.payment_methods.create_async(params={"type": "card", "card": {"number": "4242424242424242", "exp_month": 12, "exp_year": 2040, "cvc": "123"}})
        confirmed = (await api.data(CONFIRM, {"input": {"paymentMethod": method.id, "idempotencyKey": "k1"}}, token=secret))["confirmCheckoutSession"]
        assert confirmed["__typename"] == "ConfirmCheckoutSuccess", confirmed
        checkout = confirmed["checkout"]
        assert checkout["status"] == "SUCCEEDED", checkout
        order = (await api.data(ORDER, {"id": checkout["orderId"]}, token=org.token))["order"]
        print(order)
        refund = (await api.data(REFUND, {"input": {"orderId": order["id"], "amount": 500, "reason": "CUSTOMER_REQUEST"}}, token=org.token))["createRefund"]
        assert refund["__typename"] == "CreateRefundSuccess", refund
        print(refund)
        too_much = (await api.data(REFUND, {"input": {"orderId": order["id"], "amount": 5000, "reason": "CUSTOMER_REQUEST"}}, token=org.token))["createRefund"]
        assert too_much["__typename"] == "RefundExceedsRefundableError", too_much
