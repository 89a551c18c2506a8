"""End to end against localstripe, on real commits: the merchant creates a product and a checkout,
the customer's browser (with the client secret alone) reads it, fills in a business buyer in a
taxed country and pays by card; the merchant reads the paid order; then Stripe's own
`payment_intent.succeeded` for that payment arrives through the signed webhook and the worker,
and changes nothing. The webhook events written to the outbox tell the whole story."""

from __future__ import annotations

from tests.checkout_flow.operations import (
    CHECKOUT_SESSION,
    CUSTOMER_ORDERS,
    LIST_TRANSACTIONS,
    card,
    confirm_session,
    create_checkout,
    flow_counts,
    get_order,
    one_time_product,
    post_stripe_event,
    stripe_api,
    stripe_client,
    stripe_event,
    stripe_event_outcomes,
    update_session,
    webhook_events,
)
from tests.conftest import make_org
from tests.discounts.operations import set_tax_rate

ADDRESS = {"line1": "Unter den Linden 1", "postalCode": "10117", "city": "Berlin", "country": "de"}


async def test_a_business_pays_by_card_and_stripes_own_event_changes_nothing(live, localstripe):
    org = await make_org(live.session_factory, name="Seller")
    async with stripe_api(live.settings, live.session_factory, live.redis, localstripe) as api:
        await set_tax_rate(api, org.token, country="DE", basisPoints=1900)
        product = await one_time_product(api, org.token, name="Pro license", price={"fixed": {"amount": 4999, "currency": "eur"}})
        price_id = product["prices"][0]["id"]
        created = await create_checkout(api, org.token, productPriceId=price_id, metadata={"campaign": "spring"})
        assert (created["status"], created["totalAmount"], created["taxAmount"], created["dueNow"]) == ("OPEN", 4999, 0, 4999)
        secret = created["clientSecret"]
        assert secret.startswith("kassa_cs_")

        # The browser: reads its checkout, then says who buys (the billing country brings the tax).
        session = (await api.data(CHECKOUT_SESSION, token=secret))["checkoutSession"]
        assert (session["id"], session["productName"], session["currency"]) == (created["id"], "Pro license", "eur")
        updated = await update_session(
            api,
            secret,
            customer={"type": "BUSINESS", "email": "buyer@firma.example", "name": "Anna", "billingName": "Firma GmbH", "billingAddress": ADDRESS, "taxId": "DE123456789"},
        )
        assert updated["__typename"] == "UpdateCheckoutSuccess", updated
        checkout = updated["checkout"]
        # 19 % of 49.99: 949.81 cents, rounded half away from zero to 950.
        assert (checkout["subtotalAmount"], checkout["taxAmount"], checkout["totalAmount"], checkout["taxBasisPoints"]) == (4999, 950, 5949, 1900)
        assert checkout["customerBillingAddress"] == {"line1": "Unter den Linden 1", "city": "Berlin", "state": None, "postalCode": "10117", "country": "DE"}

        confirmed = await confirm_session(api, secret, paymentMethod=await card(localstripe))
        assert confirmed["__typename"] == "ConfirmCheckoutSuccess", confirmed
        checkout = confirmed["checkout"]
        assert (checkout["status"], checkout["paymentAttempts"], checkout["failureCode"]) == ("SUCCEEDED", 1, None)
        assert checkout["orderId"] and checkout["customerId"]

        # The merchant: the paid order.
        order = await get_order(api, org.token, checkout["orderId"])
        assert order["status"] == "PAID" and order["invoiceNumber"] == 1
        assert (order["subtotalAmount"], order["discountAmount"], order["netAmount"], order["taxAmount"], order["totalAmount"]) == (4999, 0, 4999, 950, 5949)
        assert (order["dueAmount"], order["refundableAmount"], order["balanceAmount"], order["refundedAmount"]) == (5949, 5949, 5949, 0)
        assert (order["currency"], order["taxBasisPoints"], order["taxCountry"], order["billingName"]) == ("eur", 1900, "DE", "Firma GmbH")
        assert (order["billingReason"], order["processor"], order["checkoutId"], order["metadata"]) == ("PURCHASE", "STRIPE", created["id"], {"campaign": "spring"})
        assert order["items"] == [{"label": "Pro license", "quantity": 1, "unitAmount": 4999, "amount": 4999, "priceId": price_id}]
        [payment] = order["transactions"]
        assert (payment["type"], payment["amount"], payment["taxAmount"], payment["processor"]) == ("PAYMENT", 5949, 950, "STRIPE")
        assert order["refunds"] == []

        # At Stripe: one succeeded PaymentIntent of that amount, for the customer, with Kassa's metadata.
        stripe = stripe_client(localstripe)
        intent = (await stripe.v1.payment_intents.retrieve_async(order["paymentId"])).to_dict()
        assert (intent["status"], intent["amount"], intent["currency"]) == ("succeeded", 5949, "eur")
        assert intent["metadata"] == {"kassa_organization_id": str(org.id), "kassa_checkout_id": _uuid_of(created["id"])}
        assert payment["processorId"] == _charge_of(intent)
        charges = await stripe.v1.charges.list_async(params={"customer": intent["customer"]})
        assert len(charges.data) == 1

        # The customer, created from the checkout, with the order nested.
        customer = (await api.data(CUSTOMER_ORDERS, {"id": order["customerId"]}, token=org.token))["customer"]
        assert (customer["email"], customer["billingName"]) == ("buyer@firma.example", "Firma GmbH")
        assert customer["orders"] == [{"id": order["id"], "invoiceNumber": 1, "status": "PAID", "totalAmount": 5949, "checkoutId": created["id"]}]

        # Stripe's own event for the payment: recorded already, nothing changes.
        before = await flow_counts(live.session_factory)
        events_before = await webhook_events(live.session_factory)
        payload = stripe_event("payment_intent.succeeded", intent)
        assert await post_stripe_event(api, payload) == {"received": True, "duplicate": False}
        await live.run_worker()
        assert list((await stripe_event_outcomes(live.session_factory)).values()) == ["already recorded"]
        assert await flow_counts(live.session_factory) == before
        assert await webhook_events(live.session_factory) == events_before
        assert await get_order(api, org.token, order["id"]) == order
        listed = (await api.data(LIST_TRANSACTIONS, {"filter": {"orderId": order["id"]}}, token=org.token))["transactions"]
        assert [(row["type"], row["amount"]) for row in listed["nodes"]] == [("PAYMENT", 5949)]

    # The outbox: what the merchant's endpoints are told, in order.
    events = await webhook_events(live.session_factory)
    assert [type for type, _ in events] == [
        "checkout.created",
        "checkout.updated",  # the browser's customer data
        "order.created",
        "order.paid",
        "order.updated",
        "checkout.updated",  # succeeded
    ]
    paid = dict(events)["order.paid"]["data"]
    assert (paid["id"], paid["status"], paid["totalAmount"], paid["taxAmount"], paid["dueAmount"]) == (order["id"], "PAID", 5949, 950, 5949)
    last = events[-1][1]["data"]
    assert (last["status"], last["totalAmount"], last["orderId"]) == ("SUCCEEDED", 5949, order["id"])
    assert "clientSecret" not in last
    assert last["customerBillingAddress"] == {"line1": "Unter den Linden 1", "line2": None, "postalCode": "10117", "city": "Berlin", "state": None, "country": "DE"}


def _uuid_of(global_id: str) -> str:
    from app.kit.ids import from_global_id

    return str(from_global_id(global_id)[1])


def _charge_of(intent: dict) -> str:
    latest = intent.get("latest_charge")
    return latest["id"] if isinstance(latest, dict) else latest


async def test_a_page_of_customers_shows_each_ones_newest_orders(api, org):
    from tests.checkout_flow.operations import paid_order

    product = await one_time_product(api, org.token)
    for email in ("ann@example.com", "bob@example.com", "ann@example.com", "ann@example.com"):
        await paid_order(api, org.token, product, email=email)  # the same email and type: the same customer
    body = await api.data("{ customers(first: 10) { nodes { email orders { invoiceNumber status } } } }", token=org.token)
    statements = api.last_statement_count
    pages = {node["email"]: sorted(order["invoiceNumber"] for order in node["orders"]) for node in body["customers"]["nodes"]}
    assert pages == {"ann@example.com": [1, 3, 4], "bob@example.com": [2]}
    for email in ("cat@example.com", "dan@example.com", "eve@example.com"):
        await paid_order(api, org.token, product, email=email)
    await api.data("{ customers(first: 10) { nodes { email orders { invoiceNumber status } } } }", token=org.token)
    assert api.last_statement_count == statements  # one batch for every customer's orders, however many customers
