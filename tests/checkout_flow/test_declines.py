"""A declined card leaves the checkout FAILED with the reason and nothing paid (no order, no
transaction, no charge, no redemption of its discount); confirming again with a good card
succeeds, on the second attempt."""

from __future__ import annotations

import pytest

from tests.checkout_flow.operations import (
    ATTACHES_THEN_DECLINES,
    DECLINED,
    GET_CHECKOUT,
    card,
    confirm_session,
    create_checkout,
    flow_counts,
    get_order,
    one_time_product,
    stripe_api,
    stripe_client,
)
from tests.discounts.operations import create_discount


@pytest.mark.parametrize("number", [ATTACHES_THEN_DECLINES, DECLINED], ids=["charge-declined", "attach-declined"])
async def test_a_declined_card_fails_the_checkout_and_pays_nothing_then_a_good_card_succeeds(settings, session_factory, redis, localstripe, org, number):
    async with stripe_api(settings, session_factory, redis, localstripe) as api:
        product = await one_time_product(api, org.token)
        discount = await create_discount(api, org.token, code="TEN", maxRedemptions=1)
        created = await create_checkout(api, org.token, productPriceId=product["prices"][0]["id"], discountCode="ten", customer={"email": "dee@example.com"})
        assert (created["discountAmount"], created["totalAmount"]) == (200, 1799)
        secret = created["clientSecret"]

        declined = await confirm_session(api, secret, paymentMethod=await card(localstripe, number))
        assert declined["__typename"] == "ConfirmCheckoutSuccess", declined  # a decline is an outcome, not an error
        checkout = declined["checkout"]
        assert (checkout["status"], checkout["failureCode"], checkout["paymentAttempts"], checkout["orderId"]) == ("FAILED", "card_declined", 1, None)
        assert checkout["failureMessage"]
        assert (await api.data(GET_CHECKOUT, {"id": created["id"]}, token=org.token))["checkout"] == checkout
        counts = await flow_counts(session_factory)
        assert (counts["orders"], counts["order_items"], counts["transactions"], counts["refunds"], counts["discount_redemptions"]) == (0, 0, 0, 0, 0)
        assert counts["payment_methods"] == 0  # a refused card is not kept
        customer_id = checkout["customerId"]
        if customer_id is not None:  # the buyer became a customer (kept for the next attempt), who was not charged
            stripe_customer = await _stripe_customer(session_factory, customer_id)
            charges = await stripe_client(localstripe).v1.charges.list_async(params={"customer": stripe_customer})
            assert [charge.status for charge in charges.data] in ([], ["failed"])

        good = await confirm_session(api, secret, paymentMethod=await card(localstripe))
        assert good["__typename"] == "ConfirmCheckoutSuccess", good
        checkout = good["checkout"]
        assert (checkout["status"], checkout["paymentAttempts"], checkout["failureCode"], checkout["failureMessage"]) == ("SUCCEEDED", 2, None, None)
        order = await get_order(api, org.token, checkout["orderId"])
        assert (order["status"], order["invoiceNumber"], order["dueAmount"], order["discountAmount"]) == ("PAID", 1, 1799, 200)
        assert [(t["type"], t["amount"]) for t in order["transactions"]] == [("PAYMENT", 1799)]
        counts = await flow_counts(session_factory)
        assert (counts["orders"], counts["transactions"], counts["discount_redemptions"], counts["customers"]) == (1, 1, 1, 1)
        stripe_customer = await _stripe_customer(session_factory, checkout["customerId"])
        charges = await stripe_client(localstripe).v1.charges.list_async(params={"customer": stripe_customer})
        assert sorted(charge.status for charge in charges.data if charge.status == "succeeded") == ["succeeded"]
        assert sum(charge.amount for charge in charges.data if charge.status == "succeeded") == 1799
        from tests.discounts.operations import GET_DISCOUNT

        assert (await api.data(GET_DISCOUNT, {"id": discount["id"]}, token=org.token))["discount"]["redemptionsCount"] == 1


async def test_an_unknown_payment_method_fails_the_checkout_too(settings, session_factory, redis, localstripe, org):
    async with stripe_api(settings, session_factory, redis, localstripe) as api:
        product = await one_time_product(api, org.token)
        created = await create_checkout(api, org.token, productPriceId=product["prices"][0]["id"], customer={"email": "eve@example.com"})
        answer = await confirm_session(api, created["clientSecret"], paymentMethod="pm_does_not_exist")
        assert answer["__typename"] == "ConfirmCheckoutSuccess", answer
        assert (answer["checkout"]["status"], answer["checkout"]["orderId"]) == ("FAILED", None)
        assert answer["checkout"]["failureCode"]
        assert (await flow_counts(session_factory))["orders"] == 0


async def _stripe_customer(session_factory, customer_global_id: str) -> str:
    from sqlalchemy import text

    from app.kit.ids import from_global_id
    from tests.conftest import as_owner

    async with session_factory() as session, as_owner(session):
        value = await session.scalar(text("SELECT stripe_customer_id FROM customers WHERE id = :id"), {"id": from_global_id(customer_global_id)[1]})
    assert value, "the customer has a Stripe customer"
    return value



async def test_an_unreachable_stripe_is_a_typed_error_and_changes_nothing(settings, session_factory, redis, localstripe, org):
    from types import SimpleNamespace

    from tests.checkout_flow.operations import refund

    async with stripe_api(settings, session_factory, redis, localstripe) as api:
        product = await one_time_product(api, org.token)
        paid = await create_checkout(api, org.token, productPriceId=product["prices"][0]["id"], customer={"email": "hal@example.com"})
        paid = (await confirm_session(api, paid["clientSecret"], paymentMethod=await card(localstripe)))["checkout"]
        created = await create_checkout(api, org.token, productPriceId=product["prices"][0]["id"], customer={"email": "ivy@example.com"})
    nowhere = SimpleNamespace(url="http://127.0.0.1:9")  # nothing listens there
    async with stripe_api(settings, session_factory, redis, nowhere) as api:
        before = await flow_counts(session_factory)
        answer = await confirm_session(api, created["clientSecret"], paymentMethod="pm_card_visa")
        assert (answer["__typename"], answer["code"]) == ("UnexpectedDomainError", "PAYMENT_PROCESSOR_UNAVAILABLE"), answer
        assert await flow_counts(session_factory) == before  # not even the customer: the whole attempt is undone
        assert (await api.data(GET_CHECKOUT, {"id": created["id"]}, token=org.token))["checkout"] == created
        order = await get_order(api, org.token, paid["orderId"])
        answer = await refund(api, org.token, orderId=paid["orderId"], amount=100)
        assert (answer["__typename"], answer["code"]) == ("UnexpectedDomainError", "PAYMENT_PROCESSOR_UNAVAILABLE"), answer
        assert await flow_counts(session_factory) == before
        assert await get_order(api, org.token, paid["orderId"]) == order
