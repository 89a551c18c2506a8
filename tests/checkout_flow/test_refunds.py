"""Refunds through GraphQL: partial, then beyond what is left (a typed error saying what is
refundable), in full, the tax parts adding up; a refund of a Stripe payment is made at Stripe, and
Stripe's `charge.refunded` for it records nothing new (one made in Stripe's dashboard is
recorded); bad input answers a typed error and changes nothing."""

from __future__ import annotations

import pytest

from app.kit.ids import to_global_id
from tests.checkout_flow.operations import (
    CREATE_REFUND,
    CUSTOMER_ORDERS,
    card,
    confirm_session,
    create_checkout,
    flow_counts,
    get_order,
    one_time_product,
    paid_order,
    post_stripe_event,
    refund,
    stripe_api,
    stripe_client,
    stripe_event,
    stripe_event_outcomes,
    webhook_events,
)
from tests.conftest import make_org
from tests.discounts.operations import create_discount, set_tax_rate


async def _stripe_paid_order(api, org, localstripe, **checkout) -> dict:
    product = await one_time_product(api, org.token)
    created = await create_checkout(api, org.token, productPriceId=product["prices"][0]["id"], **checkout)
    paid = await confirm_session(api, created["clientSecret"], paymentMethod=await card(localstripe))
    assert paid["__typename"] == "ConfirmCheckoutSuccess" and paid["checkout"]["status"] == "SUCCEEDED", paid
    return await get_order(api, org.token, paid["checkout"]["orderId"])


async def _charge(localstripe, payment_id: str):
    stripe = stripe_client(localstripe)
    intent = await stripe.v1.payment_intents.retrieve_async(payment_id)
    latest = intent.latest_charge
    return await stripe.v1.charges.retrieve_async(latest if isinstance(latest, str) else latest.id)


async def test_partial_then_beyond_then_the_rest_with_the_tax_in_proportion(settings, session_factory, redis, localstripe, org):
    async with stripe_api(settings, session_factory, redis, localstripe) as api:
        await set_tax_rate(api, org.token, country="FR", basisPoints=2000)
        address = {"line1": "1 rue de Rivoli", "city": "Paris", "postalCode": "75001", "country": "FR"}
        order = await _stripe_paid_order(
            api, org, localstripe, customer={"type": "BUSINESS", "email": "a@societe.example", "billingName": "Société", "billingAddress": address}
        )
        assert (order["netAmount"], order["taxAmount"], order["dueAmount"]) == (1999, 400, 2399)

        first = await refund(api, org.token, orderId=order["id"], amount=1000, comment="Half, roughly")
        assert first["__typename"] == "CreateRefundSuccess", first
        # 400 x 1000 / 2399 = 166.74: 167 of the refund is tax.
        assert (first["refund"]["amount"], first["refund"]["taxAmount"], first["refund"]["status"]) == (1000, 167, "SUCCEEDED")
        after = first["order"]
        assert (after["status"], after["refundedAmount"], after["refundedTaxAmount"], after["refundableAmount"], after["balanceAmount"]) == (
            "PARTIALLY_REFUNDED", 1000, 167, 1399, 1399,
        )
        assert (await _charge(localstripe, order["paymentId"])).amount_refunded == 1000

        counts = await flow_counts(session_factory)
        beyond = await refund(api, org.token, orderId=order["id"], amount=1400)
        assert beyond["__typename"] == "RefundExceedsRefundableError", beyond
        assert (beyond["code"], beyond["requested"], beyond["refundable"], beyond["currency"]) == ("REFUND_EXCEEDS_REFUNDABLE", 1400, 1399, "usd")
        assert await flow_counts(session_factory) == counts
        assert (await _charge(localstripe, order["paymentId"])).amount_refunded == 1000

        rest = await refund(api, org.token, orderId=order["id"], amount=1399, reason="DUPLICATE")
        assert rest["__typename"] == "CreateRefundSuccess", rest
        assert (rest["refund"]["amount"], rest["refund"]["taxAmount"], rest["refund"]["reason"]) == (1399, 233, "DUPLICATE")
        done = await get_order(api, org.token, order["id"])
        assert (done["status"], done["refundedAmount"], done["refundedTaxAmount"], done["refundableAmount"], done["balanceAmount"]) == ("REFUNDED", 2399, 400, 0, 0)
        assert [(t["type"], t["amount"], t["taxAmount"]) for t in done["transactions"]] == [("PAYMENT", 2399, 400), ("REFUND", -1000, -167), ("REFUND", -1399, -233)]
        assert [r["amount"] for r in done["refunds"]] == [1000, 1399]
        assert (await _charge(localstripe, order["paymentId"])).amount_refunded == 2399

        more = await refund(api, org.token, orderId=order["id"], amount=1)
        assert (more["__typename"], more["code"]) == ("RefundNotAllowedError", "REFUND_NOT_ALLOWED")


async def test_an_order_that_cost_nothing_cannot_be_refunded(api, org, session_factory):
    product = await one_time_product(api, org.token)
    await create_discount(api, org.token, code="ALL", percentage={"basisPoints": 10000})
    checkout = await create_checkout(api, org.token, productPriceId=product["prices"][0]["id"], paymentProcessor="MANUAL", discountCode="ALL", customer={"email": "z@example.com"})
    assert checkout["totalAmount"] == 0
    answer = await confirm_session(api, checkout["clientSecret"])
    assert answer["checkout"]["status"] == "SUCCEEDED", answer
    result = await refund(api, org.token, orderId=answer["checkout"]["orderId"], amount=1)
    assert (result["__typename"], result["code"]) == ("RefundNotAllowedError", "REFUND_NOT_ALLOWED")


async def test_charge_refunded_from_stripe_records_only_what_kassa_does_not_know(live, localstripe):
    org = await make_org(live.session_factory, name="Seller")
    async with stripe_api(live.settings, live.session_factory, live.redis, localstripe) as api:
        order = await _stripe_paid_order(api, org, localstripe, customer={"email": "ray@example.com"})
        made = await refund(api, org.token, orderId=order["id"], amount=500)
        assert made["__typename"] == "CreateRefundSuccess", made
        charge = await _charge(localstripe, order["paymentId"])
        assert charge.amount_refunded == 500
        counts = await flow_counts(live.session_factory)
        events = await webhook_events(live.session_factory)

        # Stripe's event for the refund Kassa made: nothing new.
        await post_stripe_event(api, stripe_event("charge.refunded", charge.to_dict()))
        await live.run_worker()
        assert list((await stripe_event_outcomes(live.session_factory)).values()) == ["handled: 0 refund(s) recorded"]
        assert await flow_counts(live.session_factory) == counts
        assert await webhook_events(live.session_factory) == events
        assert (await get_order(api, org.token, order["id"]))["refundedAmount"] == 500

        # A refund made in Stripe's dashboard: its event records it, once.
        stripe = stripe_client(localstripe)
        await stripe.v1.refunds.create_async(params={"charge": charge.id, "amount": 300})
        charge = await _charge(localstripe, order["paymentId"])
        assert charge.amount_refunded == 800
        payload = stripe_event("charge.refunded", charge.to_dict())
        await post_stripe_event(api, payload)
        await post_stripe_event(api, payload)
        await post_stripe_event(api, stripe_event("charge.refunded", charge.to_dict()))  # another event, the same refunds
        await live.run_worker()
        outcomes = sorted((await stripe_event_outcomes(live.session_factory)).values())
        assert outcomes == ["handled: 0 refund(s) recorded", "handled: 0 refund(s) recorded", "handled: 1 refund(s) recorded"]
        after = await get_order(api, org.token, order["id"])
        assert (after["status"], after["refundedAmount"], after["refundableAmount"], after["balanceAmount"]) == ("PARTIALLY_REFUNDED", 800, 1199, 1199)
        assert sorted(r["amount"] for r in after["refunds"]) == [300, 500]
        new_events = [type for type, _ in (await webhook_events(live.session_factory))[len(events):]]
        assert new_events == ["refund.created", "order.refunded", "order.updated"]


BAD_AMOUNTS = [
    (0, "out_of_range"),
    (-1, "out_of_range"),
    (-(2**63), "out_of_range"),
    (10**12 + 1, "out_of_range"),  # more than any amount Kassa holds
    (2**63, "out_of_range"),  # past 64 bits
    (10**30, "out_of_range"),
    ("99999999999999999999", None),  # past what the BigInt scalar reads: a GraphQL error
    ("12.5", None),
    (True, None),
]


@pytest.mark.parametrize(("amount", "code"), BAD_AMOUNTS, ids=[str(a)[:12] for a, _ in BAD_AMOUNTS])
async def test_bad_refund_amounts_change_nothing(api, org, session_factory, amount, code):
    product = await one_time_product(api, org.token)
    order_id = (await paid_order(api, org.token, product))["orderId"]
    counts = await flow_counts(session_factory)
    body = await api.gql(CREATE_REFUND, {"input": {"orderId": order_id, "amount": amount, "reason": "OTHER"}}, token=org.token)
    if code is None:
        assert body.get("errors") and body.get("data") is None, body
    else:
        result = body["data"]["createRefund"]
        assert result["__typename"] == "ValidationError", result
        assert [(f["path"], f["code"]) for f in result["fields"]] == [(["amount"], code)]
    assert await flow_counts(session_factory) == counts
    assert (await get_order(api, org.token, order_id))["refundedAmount"] == 0


async def test_refunds_of_orders_that_are_not_there_or_not_yours_are_not_found(api, org, session_factory):
    other = await make_org(session_factory, name="Other")
    product = await one_time_product(api, org.token)
    order_id = (await paid_order(api, org.token, product))["orderId"]
    theirs = (await paid_order(api, other.token, await one_time_product(api, other.token)))["orderId"]
    customer_id = (await get_order(api, org.token, order_id))["customerId"]
    counts = await flow_counts(session_factory)
    for bad in (theirs, to_global_id("Order", "00000000-0000-4000-8000-000000000000"), customer_id, "not-an-id", ""):
        result = await refund(api, org.token, orderId=bad, amount=1)
        assert (result["__typename"], result["code"]) == ("NotFoundError", "NOT_FOUND"), (bad, result)
    assert await flow_counts(session_factory) == counts
    assert (await get_order(api, other.token, theirs))["refundedAmount"] == 0


@pytest.mark.parametrize(
    ("extra", "path", "code"),
    [
        ({"comment": "bad\x00byte"}, ["comment"], "invalid_characters"),
        ({"comment": "line\x07bell"}, ["comment"], "invalid_characters"),
        ({"comment": "x" * 1001}, ["comment"], "too_long"),
    ],
)
async def test_a_bad_comment_changes_nothing(api, org, session_factory, extra, path, code):
    product = await one_time_product(api, org.token)
    order_id = (await paid_order(api, org.token, product))["orderId"]
    counts = await flow_counts(session_factory)
    result = await refund(api, org.token, orderId=order_id, amount=1, **extra)
    assert result["__typename"] == "ValidationError", result
    assert [(f["path"], f["code"]) for f in result["fields"]] == [(path, code)]
    assert await flow_counts(session_factory) == counts


async def test_a_comment_is_a_note_of_several_lines(api, org):
    product = await one_time_product(api, org.token)
    order_id = (await paid_order(api, org.token, product))["orderId"]
    result = await refund(api, org.token, orderId=order_id, amount=1, comment="  Damaged in transit.\nRefunded the shipping.  ")
    assert result["__typename"] == "CreateRefundSuccess", result
    node = (await api.data("query($id: ID!) { node(id: $id) { ... on Refund { comment } } }", {"id": result["refund"]["id"]}, token=org.token))["node"]
    assert node == {"comment": "Damaged in transit.\nRefunded the shipping."}


async def test_a_customers_orders_show_refunds(api, org):
    product = await one_time_product(api, org.token)
    order_id = (await paid_order(api, org.token, product))["orderId"]
    assert (await refund(api, org.token, orderId=order_id, amount=1999))["__typename"] == "CreateRefundSuccess"
    order = await get_order(api, org.token, order_id)
    customer = (await api.data(CUSTOMER_ORDERS, {"id": order["customerId"]}, token=org.token))["customer"]
    assert [(o["id"], o["status"]) for o in customer["orders"]] == [(order_id, "REFUNDED")]
    assert [(t["type"], t["amount"], t["processor"]) for t in order["transactions"]] == [("PAYMENT", 1999, "MANUAL"), ("REFUND", -1999, "MANUAL")]


async def test_refunds_at_once_never_pass_what_was_paid(live, localstripe):
    import asyncio

    org = await make_org(live.session_factory, name="Seller")
    async with stripe_api(live.settings, live.session_factory, live.redis, localstripe) as api:
        order = await _stripe_paid_order(api, org, localstripe, customer={"email": "sue@example.com"})
        answers = await asyncio.gather(*(refund(api, org.token, orderId=order["id"], amount=500) for _ in range(5)))
        kinds = sorted(answer["__typename"] for answer in answers)
        assert kinds == ["CreateRefundSuccess"] * 3 + ["RefundExceedsRefundableError"] * 2, answers
        assert {answer["refundable"] for answer in answers if answer["__typename"] == "RefundExceedsRefundableError"} == {499}
        after = await get_order(api, org.token, order["id"])
        assert (after["refundedAmount"], after["refundableAmount"], len(after["refunds"])) == (1500, 499, 3)
        assert (await _charge(localstripe, order["paymentId"])).amount_refunded == 1500
