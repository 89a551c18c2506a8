"""GraphQL operations and factories of the checkout and order tests, written as a merchant would write them."""

from __future__ import annotations

import json
import time
import uuid
from contextlib import asynccontextmanager
from typing import Any, AsyncIterator

import httpx
from sqlalchemy import text

from app.server import create_app
from tests.conftest import Api, as_owner
from tests.operations import ERROR_FIELDS, NOT_FOUND, VALIDATION

CHECKOUT_FIELDS = """
  id status clientSecret paymentProcessor expiresAt productId productPriceId productName currency seats amount
  subtotalAmount discountAmount netAmount taxAmount totalAmount dueNow taxBasisPoints discountId trialDays
  customerId customerType customerEmail customerName customerBillingName
  customerBillingAddress { line1 city state postalCode country } customerTaxId orderId paymentAttempts
  paymentClientSecret failureCode failureMessage metadata
"""
CHECKOUT_ERRORS = f"""{ERROR_FIELDS} {VALIDATION} {NOT_FOUND}
  ... on CheckoutNotOpenError {{ status }}
"""

CREATE_CHECKOUT = f"""
mutation CreateCheckout($input: CreateCheckoutInput!) {{
  createCheckout(input: $input) {{
    {ERROR_FIELDS} {VALIDATION}
    ... on CreateCheckoutSuccess {{ checkout {{ {CHECKOUT_FIELDS} }} }}
  }}
}}
"""

UPDATE_CHECKOUT = f"""
mutation UpdateCheckout($input: UpdateCheckoutInput!) {{
  updateCheckout(input: $input) {{
    {CHECKOUT_ERRORS}
    ... on UpdateCheckoutSuccess {{ checkout {{ {CHECKOUT_FIELDS} }} }}
  }}
}}
"""

CONFIRM_CHECKOUT = f"""
mutation ConfirmCheckout($input: ConfirmCheckoutInput!) {{
  confirmCheckout(input: $input) {{
    {CHECKOUT_ERRORS}
    ... on ConfirmCheckoutSuccess {{ checkout {{ {CHECKOUT_FIELDS} }} }}
  }}
}}
"""

CHECKOUT_SESSION = f"query CheckoutSession {{ checkoutSession {{ {CHECKOUT_FIELDS} }} }}"

UPDATE_CHECKOUT_SESSION = f"""
mutation UpdateCheckoutSession($input: UpdateCheckoutSessionInput!) {{
  updateCheckoutSession(input: $input) {{
    {CHECKOUT_ERRORS}
    ... on UpdateCheckoutSuccess {{ checkout {{ {CHECKOUT_FIELDS} }} }}
  }}
}}
"""

CONFIRM_CHECKOUT_SESSION = f"""
mutation ConfirmCheckoutSession($input: ConfirmCheckoutSessionInput!) {{
  confirmCheckoutSession(input: $input) {{
    {CHECKOUT_ERRORS}
    ... on ConfirmCheckoutSuccess {{ checkout {{ {CHECKOUT_FIELDS} }} }}
  }}
}}
"""

ORDER_FIELDS = """
  id invoiceNumber status billingReason customerId productId checkoutId discountId currency
  subtotalAmount discountAmount netAmount taxAmount totalAmount appliedBalanceAmount dueAmount
  refundedAmount refundedTaxAmount refundableAmount balanceAmount taxBasisPoints taxCountry
  billingName processor paymentId paidAt metadata
  items { label quantity unitAmount amount priceId }
  refunds { id amount taxAmount status reason processorRefundId }
  transactions { type amount taxAmount processor processorId }
"""

GET_ORDER = f"query Order($id: ID!) {{ order(id: $id) {{ {ORDER_FIELDS} }} }}"

CREATE_REFUND = f"""
mutation CreateRefund($input: CreateRefundInput!) {{
  createRefund(input: $input) {{
    {ERROR_FIELDS} {VALIDATION} {NOT_FOUND}
    ... on RefundExceedsRefundableError {{ requested refundable currency }}
    ... on CreateRefundSuccess {{ refund {{ id amount taxAmount status reason }} order {{ {ORDER_FIELDS} }} }}
  }}
}}
"""


async def create_checkout(api, token: str, **input: Any) -> dict:
    """Create a checkout and return it; the test fails if the API returns an error."""
    result = (await api.data(CREATE_CHECKOUT, {"input": input}, token=token))["createCheckout"]
    assert result["__typename"] == "CreateCheckoutSuccess", result
    return result["checkout"]


async def paid_order(api, token: str, product: dict, *, email: str = "buyer@example.com") -> dict:
    """A paid order of `product`'s first price: a manual checkout for a new customer, confirmed
    by the merchant (an offline payment). Returns the checkout."""
    checkout = await create_checkout(api, token, productPriceId=product["prices"][0]["id"], paymentProcessor="MANUAL", customer={"email": email})
    result = (await api.data(CONFIRM_CHECKOUT, {"input": {"id": checkout["id"]}}, token=token))["confirmCheckout"]
    assert result["__typename"] == "ConfirmCheckoutSuccess" and result["checkout"]["status"] == "SUCCEEDED", result
    return result["checkout"]


# -- more operations -----------------------------------------------------------------------

GET_CHECKOUT = f"query Checkout($id: ID!) {{ checkout(id: $id) {{ {CHECKOUT_FIELDS} }} }}"

LIST_CHECKOUTS = """
query Checkouts($first: Int! = 50, $filter: CheckoutFilter) {
  checkouts(first: $first, filter: $filter) { totalCount nodes { id status } }
}
"""

LIST_ORDERS = """
query Orders($first: Int! = 50, $filter: OrderFilter) {
  orders(first: $first, filter: $filter) { totalCount nodes { id status invoiceNumber } }
}
"""

LIST_TRANSACTIONS = """
query Transactions($first: Int! = 50, $filter: TransactionFilter) {
  transactions(first: $first, filter: $filter) { nodes { id type amount orderId } }  # the ledger is not counted
}
"""

CUSTOMER_ORDERS = """
query CustomerOrders($id: ID!) {
  customer(id: $id) { id email billingName orders { id invoiceNumber status totalAmount checkoutId } }
}
"""

NODE = """
query Node($id: ID!) {
  node(id: $id) {
    __typename id
    ... on Checkout { checkoutStatus: status }
    ... on Order { orderStatus: status }
    ... on Refund { amount }
    ... on Transaction { type }
  }
}
"""

NODES = "query Nodes($ids: [ID!]!) { nodes(ids: $ids) { __typename id } }"


# -- Stripe (localstripe) ------------------------------------------------------------------

from tests.localstripe_server import STRIPE_KEY, card  # noqa: F401  (card: what the browser pays with)
STRIPE_WEBHOOK_SECRET = "whsec_kassa_checkout_flow"
STRIPE_WEBHOOK = "/v1/integrations/stripe/webhook"

SUCCEEDS = "4242424242424242"
DECLINED = "4000000000000002"  # declined when it is attached to the customer
ATTACHES_THEN_DECLINES = "4000000000000341"  # attached, then every charge is declined


def stripe_settings(settings, localstripe):
    from dataclasses import replace

    return replace(settings, stripe_secret_key=STRIPE_KEY, stripe_api_base=localstripe.url, stripe_webhook_secret=STRIPE_WEBHOOK_SECRET)


@asynccontextmanager
async def stripe_api(settings, session_factory, redis, localstripe) -> AsyncIterator[Api]:
    """The app with Stripe configured (localstripe), on `session_factory`: the test's rolled-back
    transaction, or `live.session_factory` for real commits."""
    app = create_app(stripe_settings(settings, localstripe), session_factory=session_factory, redis=redis)
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://kassa.test") as client:
        yield Api(client)


def stripe_client(localstripe):
    """The official SDK's client, on localstripe (what the tests ask Stripe directly)."""
    from app.payments.stripe_processor import stripe_client as client

    return client(STRIPE_KEY, api_base=localstripe.url)


def stripe_event(event_type: str, obj: dict, *, event_id: str | None = None) -> str:
    """A Stripe event around `obj` (a real object fetched from localstripe), as JSON."""
    return json.dumps(
        {
            "id": event_id or f"evt_{uuid.uuid4().hex[:24]}",
            "object": "event",
            "api_version": "2024-06-20",
            "type": event_type,
            "created": int(time.time()),
            "livemode": False,
            "data": {"object": obj},
        }
    )


async def post_stripe_event(api: Api, payload: str) -> dict:
    """POST `payload` to Kassa's Stripe webhook, signed with the SDK's own helper as Stripe signs."""
    from stripe._webhook import WebhookSignature

    headers = {"Stripe-Signature": WebhookSignature.generate_signature_header(payload, STRIPE_WEBHOOK_SECRET), "Content-Type": "application/json"}
    response = await api.client.post(STRIPE_WEBHOOK, content=payload, headers=headers)
    assert response.status_code == 200, response.text
    return response.json()


# -- factories -----------------------------------------------------------------------------


async def confirm_session(api, secret: str, **input: Any) -> dict:
    """confirmCheckoutSession's answer (any member of its union)."""
    return (await api.data(CONFIRM_CHECKOUT_SESSION, {"input": input}, token=secret))["confirmCheckoutSession"]


async def update_session(api, secret: str, **input: Any) -> dict:
    return (await api.data(UPDATE_CHECKOUT_SESSION, {"input": input}, token=secret))["updateCheckoutSession"]


async def refund(api, token: str, **input: Any) -> dict:
    values: dict[str, Any] = {"reason": "CUSTOMER_REQUEST"}
    values.update(input)
    return (await api.data(CREATE_REFUND, {"input": values}, token=token))["createRefund"]


async def get_order(api, token: str, order_id: str) -> dict:
    return (await api.data(GET_ORDER, {"id": order_id}, token=token))["order"]


async def one_time_product(api, token: str, *, name: str = "Pro", price: dict | None = None) -> dict:
    """A one-time product (no trial, no subscription) with one price (19.99 usd by default)."""
    from tests.catalog.operations import create_product

    return await create_product(api, token, name=name, recurringInterval=None, prices=[price or {"fixed": {"amount": 1999}}])


async def flow_counts(session_factory) -> dict[str, int]:
    """Rows of the tables a checkout writes, across organizations."""
    async with session_factory() as session, as_owner(session):
        return {
            table: int(await session.scalar(text(f"SELECT count(*) FROM {table}")))
            for table in ("checkouts", "orders", "order_items", "customers", "transactions", "refunds", "payment_methods", "discount_redemptions")
        }


async def webhook_events(session_factory, *, prefixes: tuple[str, ...] = ("checkout.", "order.", "refund.")) -> list[tuple[str, dict]]:
    """(type, payload) of the webhook events written (the outbox), oldest first, of `prefixes`."""
    async with session_factory() as session, as_owner(session):
        rows = (await session.execute(text("SELECT type, payload FROM webhook_events ORDER BY sequence"))).all()
    return [(row[0], row[1]) for row in rows if row[0].startswith(prefixes)]


async def stripe_event_outcomes(session_factory) -> dict[str, str | None]:
    async with session_factory() as session, as_owner(session):
        rows = (await session.execute(text("SELECT id, outcome FROM stripe_events ORDER BY received_at, id"))).all()
    return {row[0]: row[1] for row in rows}
