"""A card that asks for authentication (3-D Secure, localstripe's 4000002500003155): confirming
leaves the checkout CONFIRMED, and Stripe's event decides. Succeeded: the order, paid, and the
discount counted once. Failed: the checkout FAILED with the reason, its discount given back, so
that the customer can confirm again with another card and still have it."""

from __future__ import annotations

from datetime import timedelta

import httpx

from app.kit.ids import from_global_id
from tests.checkout_flow.operations import (
    GET_CHECKOUT,
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
    stripe_settings,
)
from tests.conftest import make_org
from tests.discounts.operations import GET_DISCOUNT, create_discount

AUTHENTICATES = "4000002500003155"


async def _intent_of(localstripe, checkout_id: str) -> dict:
    """The PaymentIntent Kassa asked Stripe for, for this checkout (found by its metadata)."""
    wanted = str(from_global_id(checkout_id)[1])
    intents = await stripe_client(localstripe).v1.payment_intents.list_async(params={"limit": 100})
    [intent] = [i for i in (i.to_dict() for i in intents.data) if (i.get("metadata") or {}).get("kassa_checkout_id") == wanted]
    return intent


async def _authenticate(localstripe, intent: dict, *, success: bool) -> dict:
    """The customer passes (or fails) 3-D Secure: localstripe's stand-in for Stripe.js."""
    async with httpx.AsyncClient() as client:
        response = await client.post(
            f"{localstripe.url}/v1/payment_intents/{intent['id']}/_authenticate",
            data={"client_secret": intent["client_secret"], "success": "true" if success else "false"},
            auth=("sk_test_kassa", ""),
        )
    assert response.status_code == 200, response.text
    return (await stripe_client(localstripe).v1.payment_intents.retrieve_async(intent["id"])).to_dict()


async def _redemptions(api, org, discount) -> int:
    return (await api.data(GET_DISCOUNT, {"id": discount["id"]}, token=org.token))["discount"]["redemptionsCount"]


async def test_authenticated_then_paid_by_stripes_event(live, localstripe):
    org = await make_org(live.session_factory, name="Seller")
    async with stripe_api(live.settings, live.session_factory, live.redis, localstripe) as api:
        product = await one_time_product(api, org.token)
        discount = await create_discount(api, org.token, code="ONE", maxRedemptions=1)
        checkout = await create_checkout(api, org.token, productPriceId=product["prices"][0]["id"], discountCode="ONE", customer={"email": "pat@example.com"})
        answer = await confirm_session(api, checkout["clientSecret"], paymentMethod=await card(localstripe, AUTHENTICATES))
        assert answer["__typename"] == "ConfirmCheckoutSuccess", answer
        assert (answer["checkout"]["status"], answer["checkout"]["orderId"]) == ("CONFIRMED", None)
        # what the browser hands Stripe.js to run 3-D Secure: the PaymentIntent's client secret
        pending = await _intent_of(localstripe, checkout["id"])
        assert answer["checkout"]["paymentClientSecret"] == pending["client_secret"] and pending["client_secret"].startswith(pending["id"])
        again = await confirm_session(api, checkout["clientSecret"], paymentMethod=await card(localstripe))
        assert (again["__typename"], again["status"]) == ("CheckoutNotOpenError", "CONFIRMED"), again
        assert (await flow_counts(live.session_factory))["orders"] == 0

        intent = await _authenticate(localstripe, await _intent_of(localstripe, checkout["id"]), success=True)
        assert intent["status"] == "succeeded"
        await post_stripe_event(api, stripe_event("payment_intent.succeeded", intent))
        await live.run_worker()
        assert list((await stripe_event_outcomes(live.session_factory)).values()) == ["handled: checkout succeeded"]
        read = (await api.data(GET_CHECKOUT, {"id": checkout["id"]}, token=org.token))["checkout"]
        assert read["status"] == "SUCCEEDED"
        order = await get_order(api, org.token, read["orderId"])
        assert (order["status"], order["dueAmount"], order["discountAmount"], order["paymentId"]) == ("PAID", 1799, 200, intent["id"])
        assert await _redemptions(api, org, discount) == 1


async def test_failed_authentication_fails_the_checkout_and_gives_its_discount_back(live, localstripe):
    org = await make_org(live.session_factory, name="Seller")
    async with stripe_api(live.settings, live.session_factory, live.redis, localstripe) as api:
        product = await one_time_product(api, org.token)
        discount = await create_discount(api, org.token, code="ONE", maxRedemptions=1)
        checkout = await create_checkout(api, org.token, productPriceId=product["prices"][0]["id"], discountCode="ONE", customer={"email": "quinn@example.com"})
        answer = await confirm_session(api, checkout["clientSecret"], paymentMethod=await card(localstripe, AUTHENTICATES))
        assert answer["checkout"]["status"] == "CONFIRMED", answer

        intent = await _authenticate(localstripe, await _intent_of(localstripe, checkout["id"]), success=False)
        assert intent["status"] == "requires_payment_method" and intent["last_payment_error"]
        await post_stripe_event(api, stripe_event("payment_intent.payment_failed", intent))
        await live.run_worker()
        assert list((await stripe_event_outcomes(live.session_factory)).values()) == ["handled: checkout failed"]
        read = (await api.data(GET_CHECKOUT, {"id": checkout["id"]}, token=org.token))["checkout"]
        assert (read["status"], read["failureCode"], read["orderId"]) == ("FAILED", "payment_intent_authentication_failure", None)
        assert await _redemptions(api, org, discount) == 0  # nothing was bought with it

        paid = await confirm_session(api, checkout["clientSecret"], paymentMethod=await card(localstripe))
        assert paid["__typename"] == "ConfirmCheckoutSuccess", paid
        assert (paid["checkout"]["status"], paid["checkout"]["paymentAttempts"], paid["checkout"]["discountAmount"]) == ("SUCCEEDED", 2, 200)
        assert await _redemptions(api, org, discount) == 1
        counts = await flow_counts(live.session_factory)
        assert (counts["orders"], counts["transactions"], counts["discount_redemptions"]) == (1, 1, 1)


async def _settle(live, localstripe) -> int:
    """The worker's `checkouts.settle` sweep, run once (as its cron would)."""
    from workers.checkouts import settle

    return await settle({"session_factory": live.session_factory, "redis": live.redis, "settings": stripe_settings(live.settings, localstripe)})


async def test_a_lost_event_is_made_up_for_by_asking_stripe_and_an_abandoned_authentication_is_canceled(live, localstripe, clock):
    """Stripe's events never came: ten minutes after the confirmation, the sweep asks Stripe.
    Authenticated: the order, paid. Never authenticated, and the checkout expired: the payment
    is canceled at Stripe, the checkout failed, then expired by the expiry sweep; its discount given back."""
    from workers.checkouts import expire

    org = await make_org(live.session_factory, name="Seller")
    async with stripe_api(live.settings, live.session_factory, live.redis, localstripe) as api:
        product = await one_time_product(api, org.token)
        discount = await create_discount(api, org.token, code="ONE", maxRedemptions=2)
        paid, abandoned = [
            await create_checkout(api, org.token, productPriceId=product["prices"][0]["id"], discountCode="ONE", customer={"email": email}, expiresInSeconds=1200)
            for email in ("pat@example.com", "quinn@example.com")
        ]
        for checkout in (paid, abandoned):
            answer = await confirm_session(api, checkout["clientSecret"], paymentMethod=await card(localstripe, AUTHENTICATES))
            assert answer["checkout"]["status"] == "CONFIRMED", answer
        await _authenticate(localstripe, await _intent_of(localstripe, paid["id"]), success=True)
        assert await _settle(live, localstripe) == 0  # too early: the events may still come
        clock.advance(timedelta(minutes=11))
        assert await _settle(live, localstripe) == 1
        read = (await api.data(GET_CHECKOUT, {"id": paid["id"]}, token=org.token))["checkout"]
        assert (read["status"], read["paymentClientSecret"]) == ("SUCCEEDED", None)
        assert (await get_order(api, org.token, read["orderId"]))["status"] == "PAID"
        assert (await api.data(GET_CHECKOUT, {"id": abandoned["id"]}, token=org.token))["checkout"]["status"] == "CONFIRMED"

        clock.advance(timedelta(minutes=10))  # past the abandoned checkout's expiry: its payment is given up
        assert await _settle(live, localstripe) == 1
        assert (await _intent_of(localstripe, abandoned["id"]))["status"] == "canceled"
        read = (await api.data(GET_CHECKOUT, {"id": abandoned["id"]}, token=org.token))["checkout"]
        assert (read["status"], read["failureCode"], read["paymentClientSecret"]) == ("FAILED", "payment_canceled", None)
        await expire({"session_factory": live.session_factory, "redis": live.redis})
        assert (await api.data(GET_CHECKOUT, {"id": abandoned["id"]}, token=org.token))["checkout"]["status"] == "EXPIRED"
        assert await _redemptions(api, org, discount) == 1
        assert (await flow_counts(live.session_factory))["orders"] == 1
