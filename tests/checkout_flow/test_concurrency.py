"""Ten confirmations of one checkout at once, on real commits (each request its own connection
and transaction): exactly one charge at Stripe, one order, one payment; every other answer is
`CheckoutBusyError` (it ran while the first held the row) or `CheckoutNotOpenError(SUCCEEDED)`
(it ran after). Several rounds, because a race that is lost once in a while is still a race."""

from __future__ import annotations

import asyncio

from tests.checkout_flow.operations import (
    LIST_ORDERS,
    LIST_TRANSACTIONS,
    card,
    confirm_session,
    create_checkout,
    get_order,
    one_time_product,
    stripe_api,
    stripe_client,
)
from tests.conftest import make_org

ROUNDS = 5
AT_ONCE = 10


async def test_ten_confirmations_at_once_charge_once(live, localstripe):
    org = await make_org(live.session_factory, name="Seller")
    stripe = stripe_client(localstripe)
    async with stripe_api(live.settings, live.session_factory, live.redis, localstripe) as api:
        product = await one_time_product(api, org.token)
        price_id = product["prices"][0]["id"]
        for round in range(ROUNDS):
            checkout = await create_checkout(api, org.token, productPriceId=price_id, customer={"email": f"buyer{round}@example.com"})
            method = await card(localstripe)
            answers = await asyncio.gather(*(confirm_session(api, checkout["clientSecret"], paymentMethod=method) for _ in range(AT_ONCE)))

            succeeded = [a for a in answers if a["__typename"] == "ConfirmCheckoutSuccess"]
            assert len(succeeded) == 1, answers
            assert succeeded[0]["checkout"]["status"] == "SUCCEEDED"
            assert succeeded[0]["checkout"]["paymentAttempts"] == 1
            others = [a for a in answers if a["__typename"] != "ConfirmCheckoutSuccess"]
            for answer in others:
                assert (answer["__typename"], answer["code"]) in (
                    ("CheckoutBusyError", "CHECKOUT_CONFIRMATION_IN_PROGRESS"),
                    ("CheckoutNotOpenError", "CHECKOUT_NOT_OPEN"),
                ), answer
                if answer["__typename"] == "CheckoutNotOpenError":
                    assert answer["status"] == "SUCCEEDED"

            order = await get_order(api, org.token, succeeded[0]["checkout"]["orderId"])
            assert (order["status"], order["invoiceNumber"], order["dueAmount"]) == ("PAID", round + 1, 1999)
            intent = await stripe.v1.payment_intents.retrieve_async(order["paymentId"])
            charges = await stripe.v1.charges.list_async(params={"customer": intent.customer})
            assert [(charge.amount, charge.status) for charge in charges.data] == [(1999, "succeeded")]

        orders = (await api.data(LIST_ORDERS, token=org.token))["orders"]
        assert orders["totalCount"] == ROUNDS
        assert sorted(order["invoiceNumber"] for order in orders["nodes"]) == list(range(1, ROUNDS + 1))
        payments = (await api.data(LIST_TRANSACTIONS, {"filter": {"type": "PAYMENT"}}, token=org.token))["transactions"]["nodes"]
        assert len(payments) == ROUNDS


async def test_ten_confirmations_at_once_with_one_idempotency_key_all_answer_the_one_charge(live, localstripe):
    """The key makes the others wait for the first and replay its answer (not CheckoutBusyError)."""
    org = await make_org(live.session_factory, name="Seller")
    stripe = stripe_client(localstripe)
    async with stripe_api(live.settings, live.session_factory, live.redis, localstripe) as api:
        product = await one_time_product(api, org.token)
        checkout = await create_checkout(api, org.token, productPriceId=product["prices"][0]["id"], customer={"email": "same-key@example.com"})
        method = await card(localstripe)
        answers = await asyncio.gather(
            *(confirm_session(api, checkout["clientSecret"], paymentMethod=method, idempotencyKey="pay-once") for _ in range(AT_ONCE))
        )
        assert all(answer == answers[0] for answer in answers), answers
        assert answers[0]["__typename"] == "ConfirmCheckoutSuccess" and answers[0]["checkout"]["status"] == "SUCCEEDED", answers[0]
        order = await get_order(api, org.token, answers[0]["checkout"]["orderId"])
        intent = await stripe.v1.payment_intents.retrieve_async(order["paymentId"])
        charges = await stripe.v1.charges.list_async(params={"customer": intent.customer})
        assert [(charge.amount, charge.status) for charge in charges.data] == [(1999, "succeeded")]
