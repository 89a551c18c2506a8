"""A table of prices, discounts and tax rates with their exact amounts in minor units, through
createCheckout, and the same amounts on the order once it is paid: rounding half away from zero
(once per share), currencies with 0, 2 and 3 decimals (JPY, USD, KWD), the state's rate before the
country's before the default, seats, pay-what-you-want, a discount larger than the price. Then a
100 % discount (nothing due: paid without a card, no payment in the ledger) and codes that have
expired or run out (`discount_expired`, `discount_exhausted`)."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any

import pytest

from tests.checkout_flow.operations import (
    CONFIRM_CHECKOUT,
    CREATE_CHECKOUT,
    confirm_session,
    create_checkout,
    flow_counts,
    get_order,
    one_time_product,
    stripe_api,
    update_session,
)
from tests.conftest import FROZEN_AT
from tests.discounts.operations import create_discount, set_tax_rate


@dataclass
class Case:
    id: str
    price: dict[str, Any]
    expected: tuple[int, int, int, int]  # subtotal, discount, tax, total
    discount: dict[str, Any] | None = None
    tax_rates: list[dict[str, Any]] = field(default_factory=list)
    address: dict[str, Any] | None = None
    checkout: dict[str, Any] = field(default_factory=dict)
    basis_points: int = 0


def usd(amount: int, currency: str = "usd") -> dict:
    return {"fixed": {"amount": amount, "currency": currency}}


US = {"country": "US", "state": "CA", "city": "Oakland", "line1": "1 Main St", "postalCode": "94601"}
CASES = [
    Case("plain", usd(1999), (1999, 0, 0, 1999)),
    Case("10% off 19.99 is 2.00 (199.9 rounded)", usd(1999), (1999, 200, 0, 1799), discount={"percentage": {"basisPoints": 1000}}),
    Case("8.25% tax on 19.99 is 1.65 (164.9175)", usd(1999), (1999, 0, 165, 2164), tax_rates=[{"country": "US", "basisPoints": 825}], address={"country": "US"}, basis_points=825),
    Case(
        "discount first, then tax on the net (148.4175)",
        usd(1999),
        (1999, 200, 148, 1947),
        discount={"percentage": {"basisPoints": 1000}},
        tax_rates=[{"country": "US", "basisPoints": 825}],
        address={"country": "US"},
        basis_points=825,
    ),
    Case("fixed 5.00 off, 20% tax", usd(1000), (1000, 500, 100, 600), discount={"fixed": {"amount": 500, "currency": "USD"}}, tax_rates=[{"country": "FR", "basisPoints": 2000}], address={"country": "fr"}, basis_points=2000),
    Case("a fixed discount larger than the price stops at the price", usd(300), (300, 300, 0, 0), discount={"fixed": {"amount": 500, "currency": "usd"}}, tax_rates=[{"country": "FR", "basisPoints": 2000}], address={"country": "FR"}, basis_points=2000),
    Case("half a cent of tax rounds up", usd(5), (5, 0, 1, 6), tax_rates=[{"country": "NL", "basisPoints": 1000}], address={"country": "NL"}, basis_points=1000),
    Case("half a cent of discount rounds up", usd(5), (5, 1, 0, 4), discount={"percentage": {"basisPoints": 1000}}),
    Case("the state's rate before the country's (72.5)", usd(1000), (1000, 0, 73, 1073), tax_rates=[{"country": "US", "basisPoints": 500}, {"country": "US", "state": "CA", "basisPoints": 725}], address=US, basis_points=725),
    Case("the country's rate for another state", usd(1000), (1000, 0, 50, 1050), tax_rates=[{"country": "US", "basisPoints": 500}, {"country": "US", "state": "CA", "basisPoints": 725}], address={**US, "state": "NY"}, basis_points=500),
    Case("the default rate without an address", usd(1000), (1000, 0, 150, 1150), tax_rates=[{"basisPoints": 1500}, {"country": "US", "basisPoints": 500}], basis_points=1500),
    Case("no rate for the country: no tax", usd(1000), (1000, 0, 0, 1000), tax_rates=[{"country": "US", "basisPoints": 500}], address={"country": "BR"}),
    Case(
        "JPY has no decimals: 12.5% of 1001 yen is 125, 10% tax of 876 is 88",
        usd(1001, "jpy"),
        (1001, 125, 88, 964),
        discount={"percentage": {"basisPoints": 1250}},
        tax_rates=[{"country": "JP", "basisPoints": 1000}],
        address={"country": "JP"},
        basis_points=1000,
    ),
    Case("JPY fixed discount", usd(5000, "jpy"), (5000, 500, 450, 4950), discount={"fixed": {"amount": 500, "currency": "jpy"}}, tax_rates=[{"country": "JP", "basisPoints": 1000}], address={"country": "JP"}, basis_points=1000),
    Case("KWD has 3 decimals: 5% of 12.345 is 0.617", usd(12345, "kwd"), (12345, 0, 617, 12962), tax_rates=[{"country": "KW", "basisPoints": 500}], address={"country": "KW"}, basis_points=500),
    Case(
        "5 seats in the 5+ tier at 8.00, 15% off",
        {"seatUnit": {"tiers": [{"minSeats": 1, "maxSeats": 4, "pricePerSeat": 1000}, {"minSeats": 5, "pricePerSeat": 800}]}},
        (4000, 600, 0, 3400),
        discount={"percentage": {"basisPoints": 1500}},
        checkout={"seats": 5},
    ),
    Case(
        "4 seats in the first tier",
        {"seatUnit": {"tiers": [{"minSeats": 1, "maxSeats": 4, "pricePerSeat": 1000}, {"minSeats": 5, "pricePerSeat": 800}]}},
        (4000, 0, 0, 4000),
        checkout={"seats": 4},
    ),
    Case("pay what you want: 12.34, 19% tax (234.46)", {"custom": {"minimumAmount": 500, "maximumAmount": 10000}}, (1234, 0, 234, 1468), tax_rates=[{"country": "DE", "basisPoints": 1900}], address={"country": "DE"}, checkout={"amount": 1234}, basis_points=1900),
    Case("pay what you want: its preset by default", {"custom": {"minimumAmount": 500, "presetAmount": 2500}}, (2500, 0, 0, 2500)),
    Case("pay what you want: its minimum without a preset", {"custom": {"minimumAmount": 500}}, (500, 0, 0, 500)),
    Case("100% off", usd(1999), (1999, 1999, 0, 0), discount={"percentage": {"basisPoints": 10000}}, tax_rates=[{"country": "US", "basisPoints": 825}], address={"country": "US"}, basis_points=825),
    Case("a free price", {"free": {}}, (0, 0, 0, 0)),
]


@pytest.mark.parametrize("case", CASES, ids=[case.id for case in CASES])
async def test_amounts_to_the_cent_on_the_checkout_and_its_order(api, org, case):
    product = await one_time_product(api, org.token, price=case.price)
    for rate in case.tax_rates:
        await set_tax_rate(api, org.token, **rate)
    input: dict[str, Any] = {"productPriceId": product["prices"][0]["id"], "paymentProcessor": "MANUAL", **case.checkout}
    if case.discount is not None:
        await create_discount(api, org.token, code="CASE", **{"percentage": None, **case.discount})
        input["discountCode"] = "case"
    customer: dict[str, Any] = {"email": "buyer@example.com"}
    if case.address is not None:
        customer.update(type="BUSINESS", billingName="Buyer Ltd", billingAddress=case.address)
    checkout = await create_checkout(api, org.token, customer=customer, **input)
    subtotal, discount, tax, total = case.expected
    assert (checkout["subtotalAmount"], checkout["discountAmount"], checkout["taxAmount"], checkout["totalAmount"]) == case.expected
    assert (checkout["netAmount"], checkout["dueNow"], checkout["taxBasisPoints"]) == (subtotal - discount, total, case.basis_points)

    confirmed = (await api.data(CONFIRM_CHECKOUT, {"input": {"id": checkout["id"]}}, token=org.token))["confirmCheckout"]
    assert confirmed["__typename"] == "ConfirmCheckoutSuccess" and confirmed["checkout"]["status"] == "SUCCEEDED", confirmed
    order = await get_order(api, org.token, confirmed["checkout"]["orderId"])
    assert (order["subtotalAmount"], order["discountAmount"], order["taxAmount"], order["totalAmount"]) == case.expected
    assert (order["netAmount"], order["dueAmount"], order["balanceAmount"], order["taxBasisPoints"]) == (subtotal - discount, total, total, case.basis_points)
    assert order["currency"] == product["prices"][0]["currency"]
    assert sum(item["amount"] for item in order["items"]) == subtotal
    payments = [(t["type"], t["amount"], t["taxAmount"]) for t in order["transactions"]]
    assert payments == ([("PAYMENT", total, tax)] if total else [])


async def test_a_discount_in_another_currency_does_not_apply(api, org, session_factory):
    product = await one_time_product(api, org.token, price=usd(1000, "jpy"))
    await create_discount(api, org.token, code="FIVE", percentage=None, fixed={"amount": 500, "currency": "usd"})
    before = await flow_counts(session_factory)
    result = (await api.data(CREATE_CHECKOUT, {"input": {"productPriceId": product["prices"][0]["id"], "paymentProcessor": "MANUAL", "discountCode": "FIVE"}}, token=org.token))["createCheckout"]
    assert result["__typename"] == "ValidationError", result
    assert [(f["path"], f["code"]) for f in result["fields"]] == [(["discountCode"], "discount_other_currency")]
    assert await flow_counts(session_factory) == before


async def test_a_full_discount_is_paid_without_a_card_and_no_payment_is_recorded(settings, session_factory, redis, localstripe, org):
    async with stripe_api(settings, session_factory, redis, localstripe) as api:
        product = await one_time_product(api, org.token)
        discount = await create_discount(api, org.token, code="FREE", percentage={"basisPoints": 10000}, maxRedemptions=5)
        checkout = await create_checkout(api, org.token, productPriceId=product["prices"][0]["id"], discountCode="free", customer={"email": "zoe@example.com"})
        assert (checkout["paymentProcessor"], checkout["totalAmount"], checkout["dueNow"]) == ("STRIPE", 0, 0)
        answer = await confirm_session(api, checkout["clientSecret"])
        assert answer["__typename"] == "ConfirmCheckoutSuccess", answer
        assert (answer["checkout"]["status"], answer["checkout"]["paymentAttempts"]) == ("SUCCEEDED", 1)
        order = await get_order(api, org.token, answer["checkout"]["orderId"])
        assert (order["status"], order["totalAmount"], order["dueAmount"], order["discountAmount"], order["balanceAmount"]) == ("PAID", 0, 0, 1999, 0)
        assert (order["discountId"], order["paymentId"], order["transactions"]) == (discount["id"], None, [])
        assert (order["invoiceNumber"], order["paidAt"] is not None) == (1, True)
        counts = await flow_counts(session_factory)
        assert (counts["transactions"], counts["payment_methods"], counts["discount_redemptions"]) == (0, 0, 1)


async def test_an_expired_code_is_refused_and_a_checkout_whose_code_expired_cannot_use_it(api, org, session_factory, clock):
    product = await one_time_product(api, org.token)
    price_id = product["prices"][0]["id"]
    await create_discount(api, org.token, code="SOON", endsAt=(FROZEN_AT + timedelta(hours=2)).isoformat())
    early = await create_checkout(api, org.token, productPriceId=price_id, paymentProcessor="MANUAL", discountCode="SOON", customer={"email": "amy@example.com"}, expiresInSeconds=86_400)
    assert early["discountAmount"] == 200

    clock.advance(timedelta(hours=3))
    before = await flow_counts(session_factory)
    result = (await api.data(CREATE_CHECKOUT, {"input": {"productPriceId": price_id, "paymentProcessor": "MANUAL", "discountCode": "soon"}}, token=org.token))["createCheckout"]
    assert result["__typename"] == "ValidationError", result
    assert [(f["path"], f["code"]) for f in result["fields"]] == [(["discountCode"], "discount_expired")]
    again = await update_session(api, early["clientSecret"], discountCode="SOON")
    assert again["__typename"] == "ValidationError" and [(f["path"], f["code"]) for f in again["fields"]] == [(["discountCode"], "discount_expired")], again

    confirmed = (await api.data(CONFIRM_CHECKOUT, {"input": {"id": early["id"]}}, token=org.token))["confirmCheckout"]
    assert confirmed["__typename"] == "ValidationError", confirmed
    assert [(f["path"], f["code"]) for f in confirmed["fields"]] == [(["discountCode"], "discount_expired")]
    assert await flow_counts(session_factory) == before  # no order, no redemption

    removed = await update_session(api, early["clientSecret"], discountCode=None)
    assert removed["__typename"] == "UpdateCheckoutSuccess" and removed["checkout"]["totalAmount"] == 1999, removed
    confirmed = (await api.data(CONFIRM_CHECKOUT, {"input": {"id": early["id"]}}, token=org.token))["confirmCheckout"]
    assert confirmed["__typename"] == "ConfirmCheckoutSuccess" and confirmed["checkout"]["status"] == "SUCCEEDED", confirmed


async def test_an_exhausted_code_is_refused_also_to_a_checkout_that_had_it_already(api, org, session_factory):
    product = await one_time_product(api, org.token)
    price_id = product["prices"][0]["id"]
    await create_discount(api, org.token, code="ONCE", maxRedemptions=1)
    first, second = [
        await create_checkout(api, org.token, productPriceId=price_id, paymentProcessor="MANUAL", discountCode="ONCE", customer={"email": f"{who}@example.com"})
        for who in ("bea", "cal")
    ]
    paid = (await api.data(CONFIRM_CHECKOUT, {"input": {"id": first["id"]}}, token=org.token))["confirmCheckout"]
    assert paid["__typename"] == "ConfirmCheckoutSuccess" and paid["checkout"]["status"] == "SUCCEEDED", paid

    before = await flow_counts(session_factory)
    result = (await api.data(CREATE_CHECKOUT, {"input": {"productPriceId": price_id, "paymentProcessor": "MANUAL", "discountCode": "once"}}, token=org.token))["createCheckout"]
    assert result["__typename"] == "ValidationError", result
    assert [(f["path"], f["code"]) for f in result["fields"]] == [(["discountCode"], "discount_exhausted")]
    late = (await api.data(CONFIRM_CHECKOUT, {"input": {"id": second["id"]}}, token=org.token))["confirmCheckout"]
    assert late["__typename"] == "ValidationError", late
    assert [(f["path"], f["code"]) for f in late["fields"]] == [(["discountCode"], "discount_exhausted")]
    assert await flow_counts(session_factory) == before
