"""Top-ups through a checkout (manual and Stripe), credited once however often the payment is
reported; the organization's bounds; refunds of a top-up limited to what remains unspent, and
`createRefund` refused on a top-up's order."""

from __future__ import annotations

from app.kit.ids import from_global_id
from tests.checkout_flow.operations import card, post_stripe_event, stripe_api, stripe_client, stripe_event, stripe_event_outcomes
from tests.conftest import make_org
from tests.operations import create_customer
from tests.wallets.top_up_operations import (
    CREATE_REFUND,
    CREATE_TOP_UP_CHECKOUT,
    GET_ORDER,
    REFUND_TOP_UP,
    balance_of,
    confirm,
    create_top_up_checkout,
    manual_top_up,
    spend,
    sql,
    wallet_of,
)


async def test_a_manual_top_up_credits_the_wallet_once_with_its_paid_order(api, org, session_factory):
    customer = await create_customer(api, org.token, email="ann@example.com")
    variables = {"input": {"customerId": customer["id"], "currency": "USD", "amount": 2500, "paymentProcessor": "MANUAL", "idempotencyKey": "top-up-1"}}
    first = (await api.data(CREATE_TOP_UP_CHECKOUT, variables, token=org.token))["createWalletTopUpCheckout"]
    again = (await api.data(CREATE_TOP_UP_CHECKOUT, variables, token=org.token))["createWalletTopUpCheckout"]
    assert first == again  # the same key replays the first answer: one checkout
    checkout = first["checkout"]
    assert (checkout["walletTopUp"], checkout["productId"], checkout["productName"], checkout["currency"], checkout["totalAmount"], checkout["dueNow"]) == (
        True, None, "Wallet top-up", "usd", 2500, 2500,
    )
    assert await wallet_of(api, org.token, customer["id"]) is None  # nothing credited before it is paid

    confirmed = await confirm(api, org.token, checkout["id"])
    assert confirmed["checkout"]["status"] == "SUCCEEDED"
    assert (await confirm(api, org.token, checkout["id"]))["__typename"] == "CheckoutNotOpenError"  # a second confirmation pays nothing
    order = (await api.data(GET_ORDER, {"id": confirmed["checkout"]["orderId"]}, token=org.token))["order"]
    assert (order["status"], order["billingReason"], order["dueAmount"], order["taxAmount"], order["productId"]) == ("PAID", "WALLET_TOP_UP", 2500, 0, None)
    assert [(i["label"], i["amount"]) for i in order["items"]] == [("Wallet top-up", 2500)]
    wallet = await wallet_of(api, org.token, customer["id"])
    assert wallet["balance"] == {"amount": 2500, "currency": "usd"}
    assert [(t["type"], t["amount"]["amount"], t["orderId"]) for t in wallet["recentTransactions"]] == [("TOP_UP", 2500, order["id"])]


async def test_an_amount_outside_the_organizations_bounds_is_a_typed_error_naming_them(api, org, session_factory):
    customer = await create_customer(api, org.token, email="bo@example.com")
    for amount in (99, 1_000_001):
        result = await create_top_up_checkout(api, org.token, customerId=customer["id"], currency="usd", amount=amount, paymentProcessor="MANUAL")
        assert result["__typename"] == "ValidationError"
        assert [(f["path"], f["code"]) for f in result["fields"]] == [(["amount"], "out_of_bounds")]
        assert "from 100 to 1000000" in result["fields"][0]["message"]
    await sql(session_factory, "UPDATE organizations SET wallet_minimum_top_up = 500 WHERE id = :id", id=org.id)
    low = await create_top_up_checkout(api, org.token, customerId=customer["id"], currency="usd", amount=499, paymentProcessor="MANUAL")
    assert "from 500 to 1000000" in low["fields"][0]["message"]
    bad = await create_top_up_checkout(api, org.token, customerId=customer["id"], currency="xyz", amount=1000, paymentProcessor="MANUAL")
    assert [(f["path"], f["code"]) for f in bad["fields"]] == [(["currency"], "invalid_currency")]
    stripe = await create_top_up_checkout(api, org.token, customerId=customer["id"], currency="usd", amount=1000, paymentProcessor="STRIPE")
    assert [(f["path"], f["code"]) for f in stripe["fields"]] == [(["paymentProcessor"], "not_configured")]
    assert (await sql(session_factory, "SELECT count(*) FROM checkouts"))[0][0] == 0


async def test_a_stripe_top_up_is_credited_once_when_the_webhook_comes_twice(live, localstripe):
    org = await make_org(live.session_factory, name="Seller")
    async with stripe_api(live.settings, live.session_factory, live.redis, localstripe) as api:
        customer = await create_customer(api, org.token, email="cy@example.com")
        created = await create_top_up_checkout(api, org.token, customerId=customer["id"], currency="usd", amount=5000, paymentProcessor="STRIPE")
        checkout = created["checkout"]
        confirmed = await confirm(api, org.token, checkout["id"], paymentMethod=await card(localstripe))
        assert confirmed["checkout"]["status"] == "SUCCEEDED", confirmed
        assert await balance_of(api, org.token, customer["id"]) == 5000
        order = (await api.data(GET_ORDER, {"id": confirmed["checkout"]["orderId"]}, token=org.token))["order"]
        intent = (await stripe_client(localstripe).v1.payment_intents.retrieve_async(order["paymentId"])).to_dict()
        assert (intent["amount"], intent["status"]) == (5000, "succeeded")

        # Stripe's event for the same payment, delivered twice, and another event for it: nothing more.
        event = stripe_event("payment_intent.succeeded", intent)
        await post_stripe_event(api, event)
        assert (await post_stripe_event(api, event))["duplicate"] is True
        await post_stripe_event(api, stripe_event("payment_intent.succeeded", intent))
        await live.run_worker()
        assert sorted((await stripe_event_outcomes(live.session_factory)).values()) == ["already recorded", "already recorded"]
        assert await balance_of(api, org.token, customer["id"]) == 5000
        assert (await sql(live.session_factory, "SELECT count(*), sum(amount) FROM wallet_entries WHERE type = 'top_up'"))[0] == (1, 5000)
        # the card is saved for later off-session charges (auto top-up)
        assert (await sql(live.session_factory, "SELECT count(*) FROM payment_methods"))[0][0] == 1


async def test_a_top_up_paid_behind_kassas_back_is_credited_once_by_the_webhook(live, localstripe):
    """The confirmation's answer never came back: Stripe's events (twice, and a second one) complete
    the checkout and credit the wallet once."""
    org = await make_org(live.session_factory, name="Seller")
    async with stripe_api(live.settings, live.session_factory, live.redis, localstripe) as api:
        customer = await create_customer(api, org.token, email="di@example.com")
        checkout = (await create_top_up_checkout(api, org.token, customerId=customer["id"], currency="usd", amount=1200, paymentProcessor="STRIPE"))["checkout"]
        stripe = stripe_client(localstripe)
        intent = await stripe.v1.payment_intents.create_async(
            params={
                "amount": 1200, "currency": "usd", "payment_method": await card(localstripe), "confirm": True,
                "metadata": {"kassa_organization_id": str(org.id), "kassa_checkout_id": str(from_global_id(checkout["id"])[1])},
            }
        )
        intent = (await stripe.v1.payment_intents.retrieve_async(intent.id)).to_dict()
        first = stripe_event("payment_intent.succeeded", intent)
        await post_stripe_event(api, first)
        await post_stripe_event(api, first)
        await post_stripe_event(api, stripe_event("payment_intent.succeeded", intent))
        await live.run_worker()
        assert sorted((await stripe_event_outcomes(live.session_factory)).values()) == ["already recorded", "handled: checkout succeeded"]
        assert await balance_of(api, org.token, customer["id"]) == 1200
        assert (await sql(live.session_factory, "SELECT billing_reason, status, due_amount FROM orders")) == [("wallet_top_up", "paid", 1200)]


async def test_a_refund_takes_at_most_what_is_unspent_out_of_the_wallet_and_refunds_the_order(api, org, session_factory):
    customer = await create_customer(api, org.token, email="ed@example.com")
    checkout = await manual_top_up(api, org.token, customer["id"], 3000)
    order_id = checkout["orderId"]
    await spend(api, org.token, customer["id"], 1000)

    before = await sql(session_factory, "SELECT count(*) FROM refunds")
    beyond = (await api.data(REFUND_TOP_UP, {"input": {"orderId": order_id, "amount": 2001, "idempotencyKey": "r-1"}}, token=org.token))["refundWalletTopUp"]
    assert (beyond["__typename"], beyond["code"], beyond["requested"], beyond["refundable"], beyond["currency"]) == (
        "RefundExceedsUnspentError", "REFUND_EXCEEDS_UNSPENT", 2001, 2000, "usd",
    )
    assert await balance_of(api, org.token, customer["id"]) == 2000  # nothing changed
    assert await sql(session_factory, "SELECT count(*) FROM refunds") == before
    order = (await api.data(GET_ORDER, {"id": order_id}, token=org.token))["order"]
    assert (order["status"], order["refundedAmount"]) == ("PAID", 0)

    variables = {"input": {"orderId": order_id, "amount": 1500, "comment": "asked by mail", "idempotencyKey": "r-2"}}
    done = (await api.data(REFUND_TOP_UP, variables, token=org.token))["refundWalletTopUp"]
    again = (await api.data(REFUND_TOP_UP, variables, token=org.token))["refundWalletTopUp"]
    assert done == again  # replayed: refunded once
    assert done["__typename"] == "RefundWalletTopUpSuccess", done
    assert done["wallet"]["balance"]["amount"] == 500
    assert (done["transaction"]["type"], done["transaction"]["amount"]["amount"], done["transaction"]["orderId"]) == ("REFUND", -1500, order_id)
    order = (await api.data(GET_ORDER, {"id": order_id}, token=org.token))["order"]
    assert (order["status"], order["refundedAmount"]) == ("PARTIALLY_REFUNDED", 1500)
    assert [(r["id"], r["amount"], r["status"], r["reason"]) for r in order["refunds"]] == [(done["refundId"], 1500, "SUCCEEDED", "CUSTOMER_REQUEST")]
    assert await balance_of(api, org.token, customer["id"]) == 500
    # what is left of it is 500: one more cent is refused
    rest = (await api.data(REFUND_TOP_UP, {"input": {"orderId": order_id, "amount": 501}}, token=org.token))["refundWalletTopUp"]
    assert (rest["__typename"], rest["refundable"]) == ("RefundExceedsUnspentError", 500)


async def test_create_refund_on_a_top_up_order_is_refused_and_refund_wallet_top_up_only_takes_top_ups(api, org, session_factory):
    customer = await create_customer(api, org.token, email="fi@example.com")
    checkout = await manual_top_up(api, org.token, customer["id"], 1000)
    refused = (await api.data(CREATE_REFUND, {"input": {"orderId": checkout["orderId"], "amount": 100, "reason": "OTHER"}}, token=org.token))["createRefund"]
    assert (refused["__typename"], refused["code"]) == ("RefundThroughWalletError", "REFUND_THROUGH_WALLET")
    assert await balance_of(api, org.token, customer["id"]) == 1000
    assert (await sql(session_factory, "SELECT count(*) FROM refunds"))[0][0] == 0

    from tests.checkout_flow.operations import one_time_product, paid_order

    product = await one_time_product(api, org.token)
    purchase = await paid_order(api, org.token, product, email="gus@example.com")
    other = (await api.data(REFUND_TOP_UP, {"input": {"orderId": purchase["orderId"], "amount": 100}}, token=org.token))["refundWalletTopUp"]
    assert (other["__typename"], other["code"]) == ("WalletNotAllowedError", "WALLET_NOT_ALLOWED")
    bad = (await api.data(REFUND_TOP_UP, {"input": {"orderId": checkout["orderId"], "amount": 0}}, token=org.token))["refundWalletTopUp"]
    assert [(f["path"], f["code"]) for f in bad["fields"]] == [(["amount"], "out_of_range")]
