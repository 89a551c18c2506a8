"""Stripe's events complete a checkout whose confirmation never came back (Stripe charged, Kassa
did not record it): the same event delivered twice is processed once, and two different events
for the same succeeded PaymentIntent make one order. On real commits, with the worker."""

from __future__ import annotations

from app.kit.ids import from_global_id
from tests.checkout_flow.operations import (
    GET_CHECKOUT,
    LIST_ORDERS,
    card,
    create_checkout,
    flow_counts,
    get_order,
    one_time_product,
    post_stripe_event,
    stripe_api,
    stripe_client,
    stripe_event,
    stripe_event_outcomes,
    webhook_events,
)
from tests.conftest import make_org
from tests.operations import create_customer


async def _charged_behind_kassas_back(localstripe, org, checkout: dict) -> dict:
    """A succeeded PaymentIntent for the checkout, as Kassa asks for one (its metadata), whose
    answer never reached Kassa: only Stripe's events can tell."""
    stripe = stripe_client(localstripe)
    intent = await stripe.v1.payment_intents.create_async(
        params={
            "amount": checkout["dueNow"],
            "currency": checkout["currency"],
            "payment_method": await card(localstripe),
            "confirm": True,
            "metadata": {"kassa_organization_id": str(org.id), "kassa_checkout_id": str(from_global_id(checkout["id"])[1])},
        }
    )
    intent = (await stripe.v1.payment_intents.retrieve_async(intent.id)).to_dict()
    assert intent["status"] == "succeeded"
    return intent


async def test_one_event_delivered_twice_and_another_for_the_same_payment_make_one_order(live, localstripe):
    org = await make_org(live.session_factory, name="Seller")
    async with stripe_api(live.settings, live.session_factory, live.redis, localstripe) as api:
        product = await one_time_product(api, org.token)
        customer = await create_customer(api, org.token, email="fay@example.com")
        checkout = await create_checkout(api, org.token, productPriceId=product["prices"][0]["id"], customerId=customer["id"])
        intent = await _charged_behind_kassas_back(localstripe, org, checkout)

        first = stripe_event("payment_intent.succeeded", intent)
        assert await post_stripe_event(api, first) == {"received": True, "duplicate": False}
        assert await post_stripe_event(api, first) == {"received": True, "duplicate": True}  # Stripe delivers at least once
        second = stripe_event("payment_intent.succeeded", intent)  # another event id, the same payment
        assert await post_stripe_event(api, second) == {"received": True, "duplicate": False}
        await live.run_worker()  # both events' jobs, at once

        outcomes = await stripe_event_outcomes(live.session_factory)
        assert len(outcomes) == 2
        assert sorted(outcomes.values()) == ["already recorded", "handled: checkout succeeded"]

        read = (await api.data(GET_CHECKOUT, {"id": checkout["id"]}, token=org.token))["checkout"]
        assert (read["status"], read["customerId"]) == ("SUCCEEDED", customer["id"])
        orders = (await api.data(LIST_ORDERS, token=org.token))["orders"]
        assert orders["totalCount"] == 1
        order = await get_order(api, org.token, read["orderId"])
        assert (order["status"], order["invoiceNumber"], order["dueAmount"], order["paymentId"]) == ("PAID", 1, 1999, intent["id"])
        charge_id = intent["latest_charge"]["id"] if isinstance(intent["latest_charge"], dict) else intent["latest_charge"]
        assert [(t["type"], t["amount"], t["processorId"]) for t in order["transactions"]] == [("PAYMENT", 1999, charge_id)]
        counts = await flow_counts(live.session_factory)
        assert (counts["orders"], counts["transactions"]) == (1, 1)
        events = [type for type, _ in await webhook_events(live.session_factory)]
        assert events == ["checkout.created", "order.created", "order.paid", "order.updated", "checkout.updated"]

        # Delivered once more later (a retry of Stripe's, its job run again): still nothing new.
        assert await post_stripe_event(api, second) == {"received": True, "duplicate": True}
        await live.redis.enqueue_job("stripe.process_event", _event_id(second))
        await live.run_worker()
        assert await flow_counts(live.session_factory) == counts
        assert len(await stripe_event_outcomes(live.session_factory)) == 2


async def test_a_payment_failed_event_after_success_is_ignored(live, localstripe):
    org = await make_org(live.session_factory, name="Seller")
    async with stripe_api(live.settings, live.session_factory, live.redis, localstripe) as api:
        product = await one_time_product(api, org.token)
        customer = await create_customer(api, org.token, email="gil@example.com")
        checkout = await create_checkout(api, org.token, productPriceId=product["prices"][0]["id"], customerId=customer["id"])
        intent = await _charged_behind_kassas_back(localstripe, org, checkout)
        await post_stripe_event(api, stripe_event("payment_intent.succeeded", intent))
        await live.run_worker()
        failed = dict(intent, status="requires_payment_method", last_payment_error={"code": "card_declined", "message": "Declined"})
        await post_stripe_event(api, stripe_event("payment_intent.payment_failed", failed))
        await live.run_worker()
        assert sorted((await stripe_event_outcomes(live.session_factory)).values()) == ["handled: checkout succeeded", "ignored: the checkout is succeeded"]
        read = (await api.data(GET_CHECKOUT, {"id": checkout["id"]}, token=org.token))["checkout"]
        assert (read["status"], read["failureCode"]) == ("SUCCEEDED", None)


def _event_id(payload: str) -> str:
    import json

    return json.loads(payload)["id"]


async def test_money_that_moved_is_recorded_even_on_a_checkout_that_expired_since(live, localstripe, clock):
    from datetime import timedelta

    org = await make_org(live.session_factory, name="Seller")
    async with stripe_api(live.settings, live.session_factory, live.redis, localstripe) as api:
        product = await one_time_product(api, org.token)
        customer = await create_customer(api, org.token, email="hex@example.com")
        checkout = await create_checkout(api, org.token, productPriceId=product["prices"][0]["id"], customerId=customer["id"], expiresInSeconds=60)
        intent = await _charged_behind_kassas_back(localstripe, org, checkout)
        clock.advance(timedelta(minutes=5))
        await live.redis.enqueue_job("checkouts.expire")
        await live.run_worker()
        assert (await api.data(GET_CHECKOUT, {"id": checkout["id"]}, token=org.token))["checkout"]["status"] == "EXPIRED"

        await post_stripe_event(api, stripe_event("payment_intent.succeeded", intent))
        await live.run_worker()
        read = (await api.data(GET_CHECKOUT, {"id": checkout["id"]}, token=org.token))["checkout"]
        assert read["status"] == "SUCCEEDED"
        order = await get_order(api, org.token, read["orderId"])
        assert (order["status"], order["dueAmount"], order["paymentId"]) == ("PAID", 1999, intent["id"])
