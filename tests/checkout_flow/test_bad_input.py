"""Bad input for every checkout mutation (createCheckout, updateCheckout, confirmCheckout,
updateCheckoutSession, confirmCheckoutSession; createRefund's are in test_refunds.py): ids of the
wrong type, unknown or another organization's; seats where none are taken or missing where they
are; amounts outside a pay-what-you-want price's bounds; control characters and NUL; bad emails and
countries; metered and archived prices; expiry out of range. Each answers a typed error naming
the field, and nothing changes: no checkout, order or customer is written, an existing checkout
reads back the same, and no webhook event is written."""

from __future__ import annotations

from typing import Any

from sqlalchemy import text

from app.kit.ids import to_global_id
from tests.catalog.operations import ARCHIVE_PRODUCT, CREATE_PRICE, create_product, make_meter
from tests.checkout_flow.operations import (
    CONFIRM_CHECKOUT,
    CONFIRM_CHECKOUT_SESSION,
    CREATE_CHECKOUT,
    GET_CHECKOUT,
    UPDATE_CHECKOUT,
    UPDATE_CHECKOUT_SESSION,
    create_checkout,
    flow_counts,
    one_time_product,
    stripe_api,
)
from tests.conftest import as_owner, make_org
from tests.operations import create_customer

UNKNOWN = "00000000-0000-4000-8000-000000000000"
SEATS = {"seatUnit": {"tiers": [{"minSeats": 1, "maxSeats": 10, "pricePerSeat": 1000}, {"minSeats": 11, "pricePerSeat": 900}]}}
CUSTOM = {"custom": {"minimumAmount": 500, "maximumAmount": 10000}}


async def _state(session_factory) -> dict[str, int]:
    """What a refused mutation must leave as it was: the rows of the flow, and the outbox."""
    async with session_factory() as session, as_owner(session):
        events = int(await session.scalar(text("SELECT count(*) FROM webhook_events")))
    return {**await flow_counts(session_factory), "webhook_events": events}


async def _catalog(api, session_factory, org) -> dict[str, Any]:
    fixed = await one_time_product(api, org.token, name="Fixed")
    seats = await one_time_product(api, org.token, name="Seats", price=SEATS)
    custom = await one_time_product(api, org.token, name="Custom", price=CUSTOM)
    meter = await make_meter(session_factory, org.id)
    metered = await create_product(api, org.token, name="Metered", prices=[{"fixed": {"amount": 1000}}, {"meteredUnit": {"meterId": meter, "unitAmount": "0.5"}}])
    repriced = await one_time_product(api, org.token, name="Repriced")
    old_price = repriced["prices"][0]["id"]
    new_price = (await api.data(CREATE_PRICE, {"input": {"productId": repriced["id"], "price": {"fixed": {"amount": 2500}}, "archivePriceIds": [old_price]}}, token=org.token))["createProductPrice"]
    assert new_price["__typename"] == "CreateProductPriceSuccess", new_price
    gone = await one_time_product(api, org.token, name="Gone")
    archived_product = (await api.data(ARCHIVE_PRODUCT, {"input": {"id": gone["id"]}}, token=org.token))["archiveProduct"]
    assert archived_product["__typename"] == "ArchiveProductSuccess", archived_product
    other = await make_org(session_factory, name="Other")
    theirs = await one_time_product(api, other.token, name="Theirs")
    their_customer = await create_customer(api, other.token, email="theirs@example.com")
    return {
        "fixed": fixed["prices"][0]["id"],
        "seats": seats["prices"][0]["id"],
        "custom": custom["prices"][0]["id"],
        "metered": next(p["id"] for p in metered["prices"] if p["type"] == "METERED_UNIT"),
        "archived_price": old_price,
        "archived_product": gone["prices"][0]["id"],
        "product": fixed["id"],
        "their_price": theirs["prices"][0]["id"],
        "their_customer": their_customer["id"],
    }


def _fields(result: dict) -> set[tuple[tuple[str, ...], str]]:
    assert result["__typename"] == "ValidationError", result
    return {(tuple(f["path"]), f["code"]) for f in result["fields"]}


def _create_cases(c: dict[str, Any]) -> list[tuple[str, dict[str, Any], set]]:
    fixed, manual = c["fixed"], {"paymentProcessor": "MANUAL"}
    return [
        ("price id not an id", {"productPriceId": "nope"}, {(("productPriceId",), "not_found")}),
        ("price id of a product", {"productPriceId": c["product"]}, {(("productPriceId",), "not_found")}),
        ("unknown price", {"productPriceId": to_global_id("ProductPrice", UNKNOWN)}, {(("productPriceId",), "not_found")}),
        ("another organization's price", {"productPriceId": c["their_price"]}, {(("productPriceId",), "not_found")}),
        ("a metered price", {"productPriceId": c["metered"]}, {(("productPriceId",), "not_allowed")}),
        ("an archived price", {"productPriceId": c["archived_price"]}, {(("productPriceId",), "archived")}),
        ("an archived product's price", {"productPriceId": c["archived_product"]}, {(("productPriceId",), "archived")}),
        ("customer id not an id", {"productPriceId": fixed, "customerId": "x"}, {(("customerId",), "not_found")}),
        ("unknown customer", {"productPriceId": fixed, "customerId": to_global_id("Customer", UNKNOWN)}, {(("customerId",), "not_found")}),
        ("another organization's customer", {"productPriceId": fixed, "customerId": c["their_customer"]}, {(("customerId",), "not_found")}),
        ("a customer id and a new customer", {"productPriceId": fixed, "customerId": c["their_customer"], "customer": {"email": "a@example.com"}}, {(("customer",), "not_allowed")}),
        ("discount id of a price", {"productPriceId": fixed, "discountId": fixed}, {(("discountId",), "not_found")}),
        ("unknown discount id", {"productPriceId": fixed, "discountId": to_global_id("Discount", UNKNOWN)}, {(("discountId",), "not_found")}),
        ("unknown discount code", {"productPriceId": fixed, "discountCode": "NOPE"}, {(("discountCode",), "not_found")}),
        ("NUL in the discount code", {"productPriceId": fixed, "discountCode": "SAVE\x0010"}, {(("discountCode",), "invalid_characters")}),
        ("seats for a fixed price", {"productPriceId": fixed, "seats": 2}, {(("seats",), "not_allowed")}),
        ("no seats for a seat price", {"productPriceId": c["seats"]}, {(("seats",), "required")}),
        ("0 seats", {"productPriceId": c["seats"], "seats": 0}, {(("seats",), "out_of_range")}),
        ("-3 seats", {"productPriceId": c["seats"], "seats": -3}, {(("seats",), "out_of_range")}),
        ("more seats than Kassa sells", {"productPriceId": c["seats"], "seats": 100_001}, {(("seats",), "out_of_range")}),
        ("an amount for a fixed price", {"productPriceId": fixed, "amount": 500}, {(("amount",), "not_allowed")}),
        ("below the minimum", {"productPriceId": c["custom"], "amount": 499}, {(("amount",), "out_of_range")}),
        ("above the maximum", {"productPriceId": c["custom"], "amount": 10001}, {(("amount",), "out_of_range")}),
        ("a negative amount", {"productPriceId": c["custom"], "amount": -1}, {(("amount",), "out_of_range")}),
        ("an amount past 64 bits", {"productPriceId": c["custom"], "amount": 2**64}, {(("amount",), "out_of_range")}),
        ("expires in 59 s", {"productPriceId": fixed, "expiresInSeconds": 59}, {(("expiresInSeconds",), "out_of_range")}),
        ("expires in 7 days and 1 s", {"productPriceId": fixed, "expiresInSeconds": 7 * 86_400 + 1}, {(("expiresInSeconds",), "out_of_range")}),
        ("expires in the past", {"productPriceId": fixed, "expiresInSeconds": -60}, {(("expiresInSeconds",), "out_of_range")}),
        ("a bad email", {"productPriceId": fixed, "customer": {"email": "not-an-email"}}, {(("customer", "email"), "invalid_email")}),
        ("NUL in the email", {"productPriceId": fixed, "customer": {"email": "a\x00b@example.com"}}, {(("customer", "email"), "invalid_email")}),
        ("NUL in the name", {"productPriceId": fixed, "customer": {"name": "Ann\x00"}}, {(("customer", "name"), "invalid_characters")}),
        ("a line break in the billing name", {"productPriceId": fixed, "customer": {"billingName": "Acme\nInc"}}, {(("customer", "billingName"), "invalid_characters")}),
        ("a bell in the tax id", {"productPriceId": fixed, "customer": {"taxId": "DE\x07123"}}, {(("customer", "taxId"), "invalid_characters")}),
        ("NUL in the external id", {"productPriceId": fixed, "customer": {"externalId": "u\x001"}}, {(("customer", "externalId"), "invalid_characters")}),
        ("a country that is not a code", {"productPriceId": fixed, "customer": {"billingAddress": {"country": "U1"}}}, {(("customer", "billingAddress", "country"), "invalid_country")}),
        ("NUL in the address", {"productPriceId": fixed, "customer": {"billingAddress": {"country": "US", "line1": "1\x00 Main"}}}, {(("customer", "billingAddress", "line1"), "invalid_characters")}),
        ("metadata that is not an object", {"productPriceId": fixed, "metadata": [1, 2]}, {(("metadata",), "invalid_type")}),
        ("NUL in metadata", {"productPriceId": fixed, "metadata": {"k": "v\x00"}}, {(("metadata", "k"), "invalid_characters")}),
        ("Stripe when it is not configured", {"productPriceId": fixed, "paymentProcessor": "STRIPE"}, {(("paymentProcessor",), "not_configured")}),
        ("several at once", {"productPriceId": c["custom"], "amount": 1, "seats": 1, "expiresInSeconds": 1, "customer": {"email": "x"}}, {
            (("amount",), "out_of_range"), (("seats",), "not_allowed"), (("expiresInSeconds",), "out_of_range"), (("customer", "email"), "invalid_email"),
        }),
    ], manual


async def test_create_checkout_refuses_bad_input_and_writes_nothing(api, org, session_factory):
    catalog = await _catalog(api, session_factory, org)
    cases, manual = _create_cases(catalog)
    before = await _state(session_factory)
    for name, input, expected in cases:
        values = {**manual, **input}
        result = (await api.data(CREATE_CHECKOUT, {"input": values}, token=org.token))["createCheckout"]
        assert _fields(result) == expected, (name, result)
        assert await _state(session_factory) == before, name


async def test_values_graphql_cannot_read_are_top_level_errors_and_write_nothing(api, org, session_factory):
    catalog = await _catalog(api, session_factory, org)
    before = await _state(session_factory)
    for name, input in [
        ("seats past 32 bits", {"productPriceId": catalog["seats"], "seats": 2**31}),
        ("seats as text", {"productPriceId": catalog["seats"], "seats": "two"}),
        ("an amount past the BigInt scalar", {"productPriceId": catalog["custom"], "amount": "99999999999999999999"}),
        ("an unknown processor", {"productPriceId": catalog["fixed"], "paymentProcessor": "PAYPAL"}),
        ("no price", {"paymentProcessor": "MANUAL"}),
        ("an unknown field", {"productPriceId": catalog["fixed"], "price": 5}),
    ]:
        body = await api.gql(CREATE_CHECKOUT, {"input": {"paymentProcessor": "MANUAL", **input}}, token=org.token)
        assert body.get("errors") and body.get("data") is None, (name, body)
    assert await _state(session_factory) == before


async def test_update_checkout_refuses_bad_input_and_changes_nothing(api, org, session_factory):
    catalog = await _catalog(api, session_factory, org)
    fixed = await create_checkout(api, org.token, productPriceId=catalog["fixed"], paymentProcessor="MANUAL", customer={"email": "ann@example.com"})
    seats = await create_checkout(api, org.token, productPriceId=catalog["seats"], paymentProcessor="MANUAL", seats=2)
    custom = await create_checkout(api, org.token, productPriceId=catalog["custom"], paymentProcessor="MANUAL", amount=700)
    checkouts = {"fixed": fixed, "seats": seats, "custom": custom}
    before = await _state(session_factory)
    not_found = [
        ("checkout id not an id", {"id": "nope"}),
        ("checkout id of a price", {"id": catalog["fixed"]}),
        ("unknown checkout", {"id": to_global_id("Checkout", UNKNOWN)}),
    ]
    for name, input in not_found:
        result = (await api.data(UPDATE_CHECKOUT, {"input": {"seats": 1, **input}}, token=org.token))["updateCheckout"]
        assert (result["__typename"], result["code"]) == ("NotFoundError", "NOT_FOUND"), (name, result)
    invalid = [
        ("seats for a fixed price", "fixed", {"seats": 3}, {(("seats",), "not_allowed")}),
        ("an amount for a fixed price", "fixed", {"amount": 100}, {(("amount",), "not_allowed")}),
        ("a bad email", "fixed", {"customer": {"email": "ann@"}}, {(("customer", "email"), "invalid_email")}),
        ("NUL in the name", "fixed", {"customer": {"name": "\x00"}}, {(("customer", "name"), "invalid_characters")}),
        ("a bad country", "fixed", {"customer": {"billingAddress": {"country": "1X"}}}, {(("customer", "billingAddress", "country"), "invalid_country")}),
        ("customer id not an id", "fixed", {"customerId": "x"}, {(("customerId",), "not_found")}),
        ("unknown customer", "fixed", {"customerId": to_global_id("Customer", UNKNOWN)}, {(("customerId",), "not_found")}),
        ("another organization's customer", "fixed", {"customerId": catalog["their_customer"]}, {(("customerId",), "not_found")}),
        ("unknown discount code", "fixed", {"discountCode": "NOPE"}, {(("discountCode",), "not_found")}),
        ("NUL in metadata", "fixed", {"metadata": {"a\x00": 1}}, {(("metadata", "a\x00"), "invalid_key")}),
        ("no seats for a seat price", "seats", {"seats": None}, {(("seats",), "required")}),
        ("0 seats", "seats", {"seats": 0}, {(("seats",), "out_of_range")}),
        ("more seats than Kassa sells", "seats", {"seats": 100_001}, {(("seats",), "out_of_range")}),
        ("below the minimum", "custom", {"amount": 1}, {(("amount",), "out_of_range")}),
        ("above the maximum", "custom", {"amount": 10**12}, {(("amount",), "out_of_range")}),
    ]
    for name, which, input, expected in invalid:
        checkout = checkouts[which]
        result = (await api.data(UPDATE_CHECKOUT, {"input": {"id": checkout["id"], **input}}, token=org.token))["updateCheckout"]
        assert _fields(result) == expected, (name, result)
        assert (await api.data(GET_CHECKOUT, {"id": checkout["id"]}, token=org.token))["checkout"] == checkout, name
        assert await _state(session_factory) == before, name


async def test_confirm_checkout_refuses_bad_input_and_changes_nothing(api, org, session_factory):
    catalog = await _catalog(api, session_factory, org)
    anonymous = await create_checkout(api, org.token, productPriceId=catalog["fixed"], paymentProcessor="MANUAL")
    business = await create_checkout(api, org.token, productPriceId=catalog["fixed"], paymentProcessor="MANUAL", customer={"type": "BUSINESS", "email": "b@example.com"})
    good = await create_checkout(api, org.token, productPriceId=catalog["fixed"], paymentProcessor="MANUAL", customer={"email": "c@example.com"})
    before = await _state(session_factory)
    for name, id in [("not an id", "nope"), ("a price's id", catalog["fixed"]), ("unknown", to_global_id("Checkout", UNKNOWN))]:
        result = (await api.data(CONFIRM_CHECKOUT, {"input": {"id": id}}, token=org.token))["confirmCheckout"]
        assert (result["__typename"], result["code"]) == ("NotFoundError", "NOT_FOUND"), (name, result)
    cases = [
        ("no email to make a customer of", anonymous, {}, {(("customer", "email"), "required")}),
        ("a business without its billing name and address", business, {}, {(("customer", "billingName"), "required"), (("customer", "billingAddress"), "required")}),
        ("NUL in the payment method", good, {"paymentMethod": "pm_\x00"}, {(("paymentMethod",), "invalid_characters")}),
        ("a blank payment method", good, {"paymentMethod": "   "}, {(("paymentMethod",), "required")}),
        ("a payment method too long", good, {"paymentMethod": "pm_" + "x" * 300}, {(("paymentMethod",), "too_long")}),
    ]
    for name, checkout, input, expected in cases:
        result = (await api.data(CONFIRM_CHECKOUT, {"input": {"id": checkout["id"], **input}}, token=org.token))["confirmCheckout"]
        assert _fields(result) == expected, (name, result)
        read = (await api.data(GET_CHECKOUT, {"id": checkout["id"]}, token=org.token))["checkout"]
        assert read == checkout, name  # still open, no attempt counted
        assert await _state(session_factory) == before, name


async def test_the_browsers_mutations_refuse_bad_input_and_change_nothing(settings, session_factory, redis, localstripe, org):
    async with stripe_api(settings, session_factory, redis, localstripe) as api:
        catalog = await _catalog(api, session_factory, org)
        stripe = await create_checkout(api, org.token, productPriceId=catalog["fixed"], customer={"email": "d@example.com"})
        anonymous = await create_checkout(api, org.token, productPriceId=catalog["fixed"])
        manual = await create_checkout(api, org.token, productPriceId=catalog["fixed"], paymentProcessor="MANUAL", customer={"email": "e@example.com"})
        before = await _state(session_factory)
        updates = [
            ("seats for a fixed price", {"seats": 2}, {(("seats",), "not_allowed")}),
            ("an amount for a fixed price", {"amount": 100}, {(("amount",), "not_allowed")}),
            ("a bad email", {"customer": {"email": "@example.com"}}, {(("customer", "email"), "invalid_email")}),
            ("NUL in the name", {"customer": {"name": "Dee\x00"}}, {(("customer", "name"), "invalid_characters")}),
            ("NUL in the address", {"customer": {"billingAddress": {"country": "DE", "city": "K\x00ln"}}}, {(("customer", "billingAddress", "city"), "invalid_characters")}),
            ("an unknown discount code", {"discountCode": "NOPE"}, {(("discountCode",), "not_found")}),
        ]
        for name, input, expected in updates:
            result = (await api.data(UPDATE_CHECKOUT_SESSION, {"input": input}, token=stripe["clientSecret"]))["updateCheckoutSession"]
            assert _fields(result) == expected, (name, result)
            assert (await api.data(GET_CHECKOUT, {"id": stripe["id"]}, token=org.token))["checkout"] == stripe, name
            assert await _state(session_factory) == before, name
        confirms = [
            ("no payment method when something is due", stripe, {}, {(("paymentMethod",), "required")}),
            ("NUL in the payment method", stripe, {"paymentMethod": "pm\x00"}, {(("paymentMethod",), "invalid_characters")}),
            ("no email", anonymous, {"paymentMethod": "pm_card_visa"}, {(("customer", "email"), "required")}),
            ("an offline payment is the merchant's to record", manual, {}, {(("paymentMethod",), "not_allowed")}),
        ]
        for name, checkout, input, expected in confirms:
            result = (await api.data(CONFIRM_CHECKOUT_SESSION, {"input": input}, token=checkout["clientSecret"]))["confirmCheckoutSession"]
            assert _fields(result) == expected, (name, result)
            assert (await api.data(GET_CHECKOUT, {"id": checkout["id"]}, token=org.token))["checkout"] == checkout, name
            assert await _state(session_factory) == before, name
        # The browser cannot reach the merchant's fields: they are not in its input.
        body = await api.gql(UPDATE_CHECKOUT_SESSION, {"input": {"customerId": catalog["their_customer"]}}, token=stripe["clientSecret"])
        assert body.get("errors") and body.get("data") is None, body
        body = await api.gql(UPDATE_CHECKOUT_SESSION, {"input": {"metadata": {"a": 1}}}, token=stripe["clientSecret"])
        assert body.get("errors") and body.get("data") is None, body
        assert await _state(session_factory) == before
