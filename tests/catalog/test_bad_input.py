"""Bad input: each case gets a clear, typed error and writes nothing."""

from __future__ import annotations

import uuid

import pytest

from app.kit.ids import to_global_id
from tests.catalog.operations import (
    ARCHIVE_PRICE,
    ARCHIVE_PRODUCT,
    CREATE_PRICE,
    CREATE_PRODUCT,
    FIXED,
    UNARCHIVE_PRODUCT,
    UPDATE_PRODUCT,
    catalog_counts,
    create_product,
    make_meter,
)
from tests.operations import create_customer


@pytest.fixture
async def unchanged(session_factory):
    """Asserts that the test body changed no product or price."""
    holder = {}

    async def snapshot():
        holder["before"] = await catalog_counts(session_factory)

    async def check():
        assert await catalog_counts(session_factory) == holder["before"]

    return snapshot, check


async def create(api, token, **input):
    values = {"name": "Pro", "recurringInterval": "MONTH", "prices": [FIXED]}
    values.update(input)
    return (await api.data(CREATE_PRODUCT, {"input": values}, token=token))["createProduct"]


async def add_price(api, token, product_id, price, archive=None):
    input = {"productId": product_id, "price": price}
    if archive is not None:
        input["archivePriceIds"] = archive
    return (await api.data(CREATE_PRICE, {"input": input}, token=token))["createProductPrice"]


def fields(result) -> dict[tuple[str, ...], str]:
    assert result["__typename"] == "ValidationError", result
    assert result["code"] == "VALIDATION_ERROR"
    return {tuple(f["path"]): f["code"] for f in result["fields"]}


@pytest.mark.parametrize(
    "price, path, code",
    [
        ({"fixed": {"amount": -1}}, ("prices", "0", "fixed", "amount"), "out_of_range"),
        ({"fixed": {"amount": 0}}, ("prices", "0", "fixed", "amount"), "out_of_range"),
        ({"fixed": {"amount": 10**12 + 1}}, ("prices", "0", "fixed", "amount"), "out_of_range"),
        ({"fixed": {"amount": 100, "currency": "usdollar"}}, ("prices", "0", "fixed", "currency"), "invalid_currency"),
        ({"fixed": {"amount": 100, "currency": "abc"}}, ("prices", "0", "fixed", "currency"), "invalid_currency"),
        ({"custom": {"minimumAmount": -5}}, ("prices", "0", "custom", "minimumAmount"), "out_of_range"),
        ({"custom": {"minimumAmount": 1000, "maximumAmount": 500}}, ("prices", "0", "custom", "maximumAmount"), "less_than_minimum"),
        ({"custom": {"minimumAmount": 1000, "presetAmount": 999}}, ("prices", "0", "custom", "presetAmount"), "out_of_bounds"),
        (
            {"custom": {"minimumAmount": 100, "maximumAmount": 200, "presetAmount": 201}},
            ("prices", "0", "custom", "presetAmount"),
            "out_of_bounds",
        ),
        ({"seatUnit": {"tiers": []}}, ("prices", "0", "seatUnit", "tiers"), "required"),
        ({"seatUnit": {"tiers": [{"minSeats": 2, "pricePerSeat": 100}]}}, ("prices", "0", "seatUnit", "tiers", "0", "minSeats"), "tier_start"),
        (
            {"seatUnit": {"tiers": [{"minSeats": 1, "maxSeats": 5, "pricePerSeat": 100}, {"minSeats": 5, "pricePerSeat": 90}]}},
            ("prices", "0", "seatUnit", "tiers", "1", "minSeats"),
            "tier_overlap",
        ),
        (
            {"seatUnit": {"tiers": [{"minSeats": 1, "maxSeats": 5, "pricePerSeat": 100}, {"minSeats": 7, "pricePerSeat": 90}]}},
            ("prices", "0", "seatUnit", "tiers", "1", "minSeats"),
            "tier_gap",
        ),
        (
            {"seatUnit": {"tiers": [{"minSeats": 1, "maxSeats": 5, "pricePerSeat": 100}]}},
            ("prices", "0", "seatUnit", "tiers", "0", "maxSeats"),
            "tier_not_open_ended",
        ),
        (
            {"seatUnit": {"tiers": [{"minSeats": 1, "pricePerSeat": 100}, {"minSeats": 2, "pricePerSeat": 90}]}},
            ("prices", "0", "seatUnit", "tiers", "0", "maxSeats"),
            "tier_open_ended",
        ),
        (
            {"seatUnit": {"tiers": [{"minSeats": 1, "maxSeats": 0, "pricePerSeat": 100}, {"minSeats": 1, "pricePerSeat": 90}]}},
            ("prices", "0", "seatUnit", "tiers", "0", "maxSeats"),
            "out_of_range",
        ),
        ({"seatUnit": {"tiers": [{"minSeats": 1, "pricePerSeat": -1}]}}, ("prices", "0", "seatUnit", "tiers", "0", "pricePerSeat"), "out_of_range"),
    ],
)
async def test_bad_price_fields(api, org, unchanged, price, path, code):
    snapshot, check = unchanged
    await snapshot()
    result = await create(api, org.token, prices=[price])
    assert fields(result) == {path: code}
    await check()


async def test_bad_metered_price_fields(api, org, session_factory, unchanged):
    meter = await make_meter(session_factory, org.id)
    snapshot, check = unchanged
    await snapshot()
    cases = [
        ({"unitAmount": "0"}, "unitAmount", "out_of_range"),
        ({"unitAmount": "-0.5"}, "unitAmount", "out_of_range"),
        ({"unitAmount": "0.0000000000001"}, "unitAmount", "too_precise"),
        ({"unitAmount": "1", "capAmount": 0}, "capAmount", "out_of_range"),
        ({"unitAmount": "1", "capAmount": -100}, "capAmount", "out_of_range"),
    ]
    for values, field, code in cases:
        result = await create(api, org.token, prices=[{"meteredUnit": {"meterId": meter, **values}}])
        assert fields(result) == {("prices", "0", "meteredUnit", field): code}, values
    # not a decimal at all: refused by the GraphQL layer before anything runs
    body = await api.gql(CREATE_PRODUCT, {"input": {"name": "X", "recurringInterval": "MONTH", "prices": [{"meteredUnit": {"meterId": meter, "unitAmount": "abc"}}]}}, token=org.token)
    assert body["errors"] and body.get("data") is None
    await check()


async def test_every_bad_field_is_reported_at_once(api, org, unchanged):
    snapshot, check = unchanged
    await snapshot()
    result = await create(
        api,
        org.token,
        name="   ",
        description="x" * 5001,
        metadata={"nested": {"no": 1}},
        prices=[{"fixed": {"amount": -1}}, {"custom": {"minimumAmount": 10, "maximumAmount": 5}}],
    )
    assert fields(result) == {
        ("name",): "required",
        ("description",): "too_long",
        ("metadata", "nested"): "invalid_value",
        ("prices", "0", "fixed", "amount"): "out_of_range",
        ("prices", "1", "custom", "maximumAmount"): "less_than_minimum",
        ("prices", "1", "custom"): "multiple_base_prices",
    }
    await check()


async def test_price_composition_rules(api, org, session_factory, unchanged):
    meter = await make_meter(session_factory, org.id)
    metered = {"meteredUnit": {"meterId": meter, "unitAmount": "0.5"}}
    seat = {"seatUnit": {"tiers": [{"minSeats": 1, "pricePerSeat": 100}]}}
    snapshot, check = unchanged
    await snapshot()
    cases = [
        ({"prices": []}, {("prices",): "required"}),
        ({"prices": [FIXED, {"free": {}}]}, {("prices", "1", "free"): "multiple_base_prices"}),
        ({"prices": [seat, metered]}, {("prices", "0", "seatUnit"): "seat_price_not_alone"}),
        ({"prices": [FIXED, seat]}, {("prices", "1", "seatUnit"): "multiple_base_prices"}),
        ({"prices": [FIXED, metered, metered]}, {("prices", "2", "meteredUnit", "meterId"): "duplicate_meter"}),
        ({"recurringInterval": None, "prices": [FIXED, metered]}, {("prices", "1", "meteredUnit"): "metered_on_one_time"}),
        (
            {"prices": [FIXED, {"meteredUnit": {"meterId": meter, "unitAmount": "1", "currency": "eur"}}]},
            {("prices", "1", "meteredUnit", "currency"): "currency_mismatch"},
        ),
        ({"prices": [FIXED] * 21}, None),
    ]
    for input, expected in cases:
        result = await create(api, org.token, **input)
        if expected is None:
            assert ("prices",) in fields(result) and fields(result)[("prices",)] == "too_many"
        else:
            assert fields(result) == expected, input
    await check()


async def test_rules_on_prices_added_later(api, org, session_factory, unchanged):
    meter = await make_meter(session_factory, org.id)
    one_time = await create_product(api, org.token, recurringInterval=None)
    monthly = await create_product(api, org.token, prices=[FIXED, {"meteredUnit": {"meterId": meter, "unitAmount": "1"}}])
    seats = await create_product(api, org.token, prices=[{"seatUnit": {"tiers": [{"minSeats": 1, "pricePerSeat": 100}]}}])
    snapshot, check = unchanged
    await snapshot()
    cases = [
        (one_time, {"meteredUnit": {"meterId": meter, "unitAmount": "1"}}, None, {("price", "meteredUnit"): "metered_on_one_time"}),
        (monthly, {"fixed": {"amount": 5000}}, None, {("price", "fixed"): "multiple_base_prices"}),
        (monthly, {"fixed": {"amount": 5000, "currency": "eur"}}, [monthly["prices"][0]["id"]], {("price", "fixed", "currency"): "currency_mismatch"}),
        (monthly, {"meteredUnit": {"meterId": meter, "unitAmount": "2"}}, None, {("price", "meteredUnit", "meterId"): "duplicate_meter"}),
        (seats, {"meteredUnit": {"meterId": meter, "unitAmount": "2"}}, None, {("price", "meteredUnit"): "seat_price_not_alone"}),
        (monthly, {"seatUnit": {"tiers": [{"minSeats": 1, "pricePerSeat": 1}]}}, [monthly["prices"][0]["id"]], {("price", "seatUnit"): "seat_price_not_alone"}),
        # a price of another product cannot be archived through this one
        (monthly, {"fixed": {"amount": 1}}, [seats["prices"][0]["id"]], {("archivePriceIds", "0"): "not_found", ("price", "fixed"): "multiple_base_prices"}),
        (monthly, {"fixed": {"amount": 1}}, ["garbage"], {("archivePriceIds", "0"): "not_found"}),
    ]
    for product, price, archive, expected in cases:
        result = await add_price(api, org.token, product["id"], price, archive)
        assert fields(result) == expected, (price, archive, result)
    await check()


async def test_unknown_foreign_and_archived_meters(api, org, other_org, session_factory, unchanged):
    theirs = await make_meter(session_factory, other_org.id)
    archived = await make_meter(session_factory, org.id, archived=True)
    customer = await create_customer(api, org.token)
    snapshot, check = unchanged
    await snapshot()
    cases = [
        (to_global_id("Meter", uuid.uuid4()), "not_found"),
        (theirs, "not_found"),
        (archived, "meter_archived"),
        (customer["id"], "not_found"),  # an id of another type
        ("garbage!!", "not_found"),
    ]
    for meter_id, code in cases:
        result = await create(api, org.token, prices=[FIXED, {"meteredUnit": {"meterId": meter_id, "unitAmount": "1"}}])
        assert fields(result) == {("prices", "1", "meteredUnit", "meterId"): code}, meter_id
    product = await create_product(api, org.token)
    await snapshot()
    result = await add_price(api, org.token, product["id"], {"meteredUnit": {"meterId": archived, "unitAmount": "1"}})
    assert fields(result) == {("price", "meteredUnit", "meterId"): "meter_archived"}
    await check()


async def test_one_of_input_needs_exactly_one_member(api, org, unchanged):
    snapshot, check = unchanged
    await snapshot()
    two = {"fixed": {"amount": 100}, "free": {}}
    body = await api.gql(CREATE_PRODUCT, {"input": {"name": "X", "recurringInterval": "MONTH", "prices": [two]}}, token=org.token)
    assert body.get("data") is None
    assert "exactly one" in body["errors"][0]["message"].lower()
    inline = 'mutation { createProduct(input: {name: "X", prices: [{fixed: {amount: 1}, free: {}}]}) { __typename } }'
    body = await api.gql(inline, token=org.token)
    assert body.get("data") is None and body["errors"]
    none = await api.gql(CREATE_PRODUCT, {"input": {"name": "X", "prices": [{}]}}, token=org.token)
    assert none.get("data") is None and none["errors"]
    await check()


async def test_last_active_price_cannot_be_archived(api, org, session_factory, unchanged):
    meter = await make_meter(session_factory, org.id)
    single = await create_product(api, org.token)
    metered_only = await create_product(
        api, org.token, prices=[{"meteredUnit": {"meterId": meter, "unitAmount": "1"}}, {"meteredUnit": {"meterId": await make_meter(session_factory, org.id, name="b"), "unitAmount": "2"}}]
    )
    first = (await api.data(ARCHIVE_PRICE, {"input": {"id": metered_only["prices"][0]["id"]}}, token=org.token))["archiveProductPrice"]
    assert first["__typename"] == "ArchiveProductPriceSuccess"
    snapshot, check = unchanged
    await snapshot()
    for price_id in (single["prices"][0]["id"], metered_only["prices"][1]["id"]):
        result = (await api.data(ARCHIVE_PRICE, {"input": {"id": price_id}}, token=org.token))["archiveProductPrice"]
        assert result["__typename"] == "LastActivePriceError", result
        assert result["code"] == "LAST_ACTIVE_PRICE"
        assert result["priceId"] == price_id
    # nor by replacing it with nothing valid: archiving every price while adding an invalid one
    result = await add_price(api, org.token, single["id"], {"fixed": {"amount": -5}}, [single["prices"][0]["id"]])
    assert fields(result) == {("price", "fixed", "amount"): "out_of_range"}
    await check()


async def test_prices_of_an_archived_product_do_not_change(api, org, unchanged):
    product = await create_product(api, org.token, prices=[FIXED])
    await api.data(ARCHIVE_PRODUCT, {"input": {"id": product["id"]}}, token=org.token)
    snapshot, check = unchanged
    await snapshot()
    added = await add_price(api, org.token, product["id"], {"free": {}}, [product["prices"][0]["id"]])
    assert added["__typename"] == "ProductArchivedError", added
    assert added["code"] == "PRODUCT_ARCHIVED"
    assert added["productId"] == product["id"]
    archived = (await api.data(ARCHIVE_PRICE, {"input": {"id": product["prices"][0]["id"]}}, token=org.token))["archiveProductPrice"]
    assert archived["__typename"] == "ProductArchivedError"
    await check()


async def test_update_refuses_bad_fields(api, org, unchanged):
    product = await create_product(api, org.token, name="Keep")
    snapshot, check = unchanged
    await snapshot()
    result = (await api.data(UPDATE_PRODUCT, {"input": {"id": product["id"], "name": None, "metadata": "nope"}}, token=org.token))["updateProduct"]
    assert fields(result) == {("name",): "required", ("metadata",): "invalid_type"}
    await check()
    result = (await api.data(UPDATE_PRODUCT, {"input": {"id": product["id"], "name": "x" * 257, "description": "new"}}, token=org.token))["updateProduct"]
    assert fields(result) == {("name",): "too_long"}
    # nothing of the failed update was kept, not even the valid description
    from tests.catalog.operations import GET_PRODUCT

    after = (await api.data(GET_PRODUCT, {"id": product["id"]}, token=org.token))["product"]
    assert after["name"] == "Keep" and after["description"] is None


async def test_unknown_foreign_and_wrong_type_ids(api, org, other_org, unchanged):
    theirs = await create_product(api, other_org.token)
    mine = await create_product(api, org.token)
    customer = await create_customer(api, org.token)
    snapshot, check = unchanged
    await snapshot()
    product_ids = [to_global_id("Product", uuid.uuid4()), theirs["id"], mine["prices"][0]["id"], customer["id"], "garbage!!", ""]
    for bad_id in product_ids:
        for operation, field, input in (
            (UPDATE_PRODUCT, "updateProduct", {"id": bad_id, "name": "Hijacked"}),
            (ARCHIVE_PRODUCT, "archiveProduct", {"id": bad_id}),
            (UNARCHIVE_PRODUCT, "unarchiveProduct", {"id": bad_id}),
            (CREATE_PRICE, "createProductPrice", {"productId": bad_id, "price": {"free": {}}}),
        ):
            result = (await api.data(operation, {"input": input}, token=org.token))[field]
            assert result["__typename"] == "NotFoundError", (field, bad_id, result)
            assert result["code"] == "NOT_FOUND"
    price_ids = [to_global_id("ProductPrice", uuid.uuid4()), theirs["prices"][0]["id"], mine["id"], "garbage!!"]
    for bad_id in price_ids:
        result = (await api.data(ARCHIVE_PRICE, {"input": {"id": bad_id}}, token=org.token))["archiveProductPrice"]
        assert result["__typename"] == "NotFoundError", (bad_id, result)
    await check()
