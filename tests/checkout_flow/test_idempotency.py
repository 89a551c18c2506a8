"""Idempotency keys on the money-moving mutations of checkouts and orders: a replayed key has one
effect (one charge, one refund, one checkout) and answers the first answer again; the same key
with another input is `IDEMPOTENCY_KEY_REUSED` and does nothing. A client secret's keys are its
checkout's own: two browsers that happen to pick the same key do not answer for each other."""

from __future__ import annotations

from tests.checkout_flow.operations import (
    CONFIRM_CHECKOUT,
    CREATE_CHECKOUT,
    card,
    confirm_session,
    create_checkout,
    flow_counts,
    get_order,
    one_time_product,
    refund,
    stripe_api,
    stripe_client,
)


async def _charges_of(localstripe, payment_id: str) -> list[tuple[int, str]]:
    stripe = stripe_client(localstripe)
    intent = await stripe.v1.payment_intents.retrieve_async(payment_id)
    charges = await stripe.v1.charges.list_async(params={"customer": intent.customer})
    return [(charge.amount, charge.status) for charge in charges.data]


async def test_a_replayed_confirmation_charges_once_and_answers_the_first_answer(settings, session_factory, redis, localstripe, org):
    async with stripe_api(settings, session_factory, redis, localstripe) as api:
        product = await one_time_product(api, org.token)
        checkout = await create_checkout(api, org.token, productPriceId=product["prices"][0]["id"], customer={"email": "kim@example.com"})
        method = await card(localstripe)
        first = await confirm_session(api, checkout["clientSecret"], paymentMethod=method, idempotencyKey="pay-1")
        assert first["__typename"] == "ConfirmCheckoutSuccess" and first["checkout"]["status"] == "SUCCEEDED", first
        counts = await flow_counts(session_factory)
        again = await confirm_session(api, checkout["clientSecret"], paymentMethod=method, idempotencyKey="pay-1")
        assert again == first  # not CheckoutNotOpenError: the first answer
        assert await flow_counts(session_factory) == counts
        order = await get_order(api, org.token, first["checkout"]["orderId"])
        assert await _charges_of(localstripe, order["paymentId"]) == [(1999, "succeeded")]

        other_card = await confirm_session(api, checkout["clientSecret"], paymentMethod=await card(localstripe), idempotencyKey="pay-1")
        assert (other_card["__typename"], other_card["code"]) == ("UnexpectedDomainError", "IDEMPOTENCY_KEY_REUSED")
        assert await flow_counts(session_factory) == counts
        assert await _charges_of(localstripe, order["paymentId"]) == [(1999, "succeeded")]


async def test_the_merchants_confirmation_replays_too(settings, session_factory, redis, localstripe, org):
    async with stripe_api(settings, session_factory, redis, localstripe) as api:
        product = await one_time_product(api, org.token)
        checkout = await create_checkout(api, org.token, productPriceId=product["prices"][0]["id"], paymentProcessor="MANUAL", customer={"email": "lee@example.com"})
        input = {"id": checkout["id"], "idempotencyKey": "offline-1"}
        first = (await api.data(CONFIRM_CHECKOUT, {"input": input}, token=org.token))["confirmCheckout"]
        assert first["__typename"] == "ConfirmCheckoutSuccess" and first["checkout"]["status"] == "SUCCEEDED", first
        again = (await api.data(CONFIRM_CHECKOUT, {"input": input}, token=org.token))["confirmCheckout"]
        assert again == first
        assert (await flow_counts(session_factory))["orders"] == 1


async def test_a_replayed_refund_refunds_once(settings, session_factory, redis, localstripe, org):
    async with stripe_api(settings, session_factory, redis, localstripe) as api:
        product = await one_time_product(api, org.token)
        checkout = await create_checkout(api, org.token, productPriceId=product["prices"][0]["id"], customer={"email": "max@example.com"})
        paid = await confirm_session(api, checkout["clientSecret"], paymentMethod=await card(localstripe))
        order_id = paid["checkout"]["orderId"]
        first = await refund(api, org.token, orderId=order_id, amount=700, idempotencyKey="refund-1")
        assert first["__typename"] == "CreateRefundSuccess", first
        counts = await flow_counts(session_factory)
        again = await refund(api, org.token, orderId=order_id, amount=700, idempotencyKey="refund-1")
        assert again == first
        assert await flow_counts(session_factory) == counts
        more = await refund(api, org.token, orderId=order_id, amount=701, idempotencyKey="refund-1")
        assert (more["__typename"], more["code"]) == ("UnexpectedDomainError", "IDEMPOTENCY_KEY_REUSED")
        order = await get_order(api, org.token, order_id)
        assert (order["refundedAmount"], order["status"], len(order["refunds"])) == (700, "PARTIALLY_REFUNDED", 1)
        intent = await stripe_client(localstripe).v1.payment_intents.retrieve_async(order["paymentId"])
        charge = await stripe_client(localstripe).v1.charges.retrieve_async(intent.latest_charge if isinstance(intent.latest_charge, str) else intent.latest_charge.id)
        assert charge.amount_refunded == 700


async def test_a_replayed_create_makes_one_checkout(settings, session_factory, redis, localstripe, org):
    async with stripe_api(settings, session_factory, redis, localstripe) as api:
        product = await one_time_product(api, org.token)
        input = {"productPriceId": product["prices"][0]["id"], "customer": {"email": "ned@example.com"}, "idempotencyKey": "create-1"}
        first = (await api.data(CREATE_CHECKOUT, {"input": input}, token=org.token))["createCheckout"]
        assert first["__typename"] == "CreateCheckoutSuccess", first
        again = (await api.data(CREATE_CHECKOUT, {"input": input}, token=org.token))["createCheckout"]
        assert again == first  # the same checkout, with its client secret
        assert (await flow_counts(session_factory))["checkouts"] == 1
        changed = (await api.data(CREATE_CHECKOUT, {"input": {**input, "customer": {"email": "other@example.com"}}}, token=org.token))["createCheckout"]
        assert (changed["__typename"], changed["code"]) == ("UnexpectedDomainError", "IDEMPOTENCY_KEY_REUSED")
        assert (await flow_counts(session_factory))["checkouts"] == 1


async def test_two_browsers_with_the_same_key_each_pay_for_their_own_checkout(settings, session_factory, redis, localstripe, org):
    """The key of a client secret is scoped to its checkout: a browser cannot know another's
    keys, so a collision must neither replay the other's answer nor be called a reuse."""
    async with stripe_api(settings, session_factory, redis, localstripe) as api:
        product = await one_time_product(api, org.token)
        free = await one_time_product(api, org.token, name="Starter", price={"free": {}})
        for price_id, needs_card in ((product["prices"][0]["id"], True), (free["prices"][0]["id"], False)):
            secrets = [
                (await create_checkout(api, org.token, productPriceId=price_id, customer={"email": f"{who}@example.com"}))["clientSecret"]
                for who in ("ann", "bob")
            ]
            for secret in secrets:
                payment = {"paymentMethod": await card(localstripe)} if needs_card else {}
                answer = await confirm_session(api, secret, idempotencyKey="confirm", **payment)
                assert answer["__typename"] == "ConfirmCheckoutSuccess", answer
                assert answer["checkout"]["status"] == "SUCCEEDED"
        assert (await flow_counts(session_factory))["orders"] == 4
