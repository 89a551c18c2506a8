"""Products and prices through GraphQL: every price type read back exactly, changes, archiving,
lists, node lookups and the statement count of nested prices."""

from __future__ import annotations

from decimal import Decimal

from sqlalchemy import select

from app.kit.ids import from_global_id
from app.models import ProductPrice
from tests.conftest import as_owner
from tests.catalog.operations import (
    ARCHIVE_PRICE,
    ARCHIVE_PRODUCT,
    CREATE_PRODUCT,
    CREATE_PRICE,
    FIXED,
    GET_PRODUCT,
    LIST_PRODUCTS,
    NODE,
    UNARCHIVE_PRODUCT,
    UPDATE_PRODUCT,
    catalog_counts,
    create_product,
    make_meter,
)


async def test_fixed_price_with_an_amount_beyond_32_bits(api, org):
    product = await create_product(
        api,
        org.token,
        name="  Enterprise  ",
        description="Everything, for a year.",
        recurringInterval="YEAR",
        metadata={"tier": "enterprise", "rank": 3, "public": False},
        prices=[{"fixed": {"amount": 5_000_000_000, "currency": "EUR"}}],
    )
    assert product["name"] == "Enterprise"
    assert product["description"] == "Everything, for a year."
    assert product["recurringInterval"] == "YEAR"
    assert product["isRecurring"] is True
    assert product["metadata"] == {"tier": "enterprise", "rank": 3, "public": False}
    assert product["isArchived"] is False and product["archivedAt"] is None
    [price] = product["prices"]
    assert price["__typename"] == "FixedPrice"
    assert price["type"] == "FIXED"
    assert price["currency"] == "eur"
    assert price["amount"] == {"amount": 5_000_000_000, "currency": "eur"}
    assert price["productId"] == product["id"]
    assert price["isArchived"] is False
    read = (await api.data(GET_PRODUCT, {"id": product["id"]}, token=org.token))["product"]
    assert read == product


async def test_custom_price_with_bounds_and_preset(api, org):
    product = await create_product(
        api,
        org.token,
        recurringInterval=None,
        prices=[{"custom": {"minimumAmount": 500, "maximumAmount": 10_000, "presetAmount": 2000}}],
    )
    assert product["recurringInterval"] is None and product["isRecurring"] is False
    [price] = product["prices"]
    assert price["__typename"] == "CustomPrice"
    assert price["minimumAmount"] == {"amount": 500, "currency": "usd"}
    assert price["maximumAmount"] == {"amount": 10_000, "currency": "usd"}
    assert price["presetAmount"] == {"amount": 2000, "currency": "usd"}

    open_ended = await create_product(api, org.token, prices=[{"custom": {"minimumAmount": 0}}])
    [price] = open_ended["prices"]
    assert price["minimumAmount"]["amount"] == 0
    assert price["maximumAmount"] is None and price["presetAmount"] is None


async def test_free_price(api, org):
    product = await create_product(api, org.token, recurringInterval=None, prices=[{"free": {}}])
    [price] = product["prices"]
    assert price["__typename"] == "FreePrice"
    assert price["type"] == "FREE"
    assert price["currency"] == "usd"


async def test_metered_prices_on_top_of_a_base_fee(api, org, session_factory):
    calls = await make_meter(session_factory, org.id, name="API calls")
    tokens = await make_meter(session_factory, org.id, name="Tokens")
    product = await create_product(
        api,
        org.token,
        prices=[
            {"fixed": {"amount": 2900}},
            {"meteredUnit": {"meterId": calls, "unitAmount": "0.05", "capAmount": 100_000, "walletEnabled": True}},
            {"meteredUnit": {"meterId": tokens, "unitAmount": "0.000001234567"}},
        ],
    )
    fixed, per_call, per_token = product["prices"]
    assert fixed["amount"]["amount"] == 2900
    assert per_call["__typename"] == "MeteredUnitPrice"
    assert per_call["type"] == "METERED_UNIT"
    assert per_call["meterId"] == calls
    assert per_call["meter"] == {"id": calls, "name": "API calls", "archivedAt": None}
    assert per_token["meter"]["name"] == "Tokens"
    assert per_call["unitAmount"] == "0.05"
    assert per_call["capAmount"] == {"amount": 100_000, "currency": "usd"}
    assert per_call["walletEnabled"] is True
    assert per_token["unitAmount"] == "0.000001234567"
    assert per_token["capAmount"] is None
    assert per_token["walletEnabled"] is False
    # stored as an exact decimal, not a float
    async with session_factory() as session, as_owner(session):
        stored = await session.scalar(select(ProductPrice.unit_amount).where(ProductPrice.id == from_global_id(per_call["id"])[1]))
    assert stored == Decimal("0.05")


async def test_metered_prices_alone_and_whole_unit_amounts(api, org, session_factory):
    meter = await make_meter(session_factory, org.id)
    product = await create_product(api, org.token, prices=[{"meteredUnit": {"meterId": meter, "unitAmount": "100"}}])
    assert product["prices"][0]["unitAmount"] == "100"
    # a JSON number is read as written, not through a binary float
    other = await make_meter(session_factory, org.id, name="other")
    product = await create_product(api, org.token, prices=[{"meteredUnit": {"meterId": other, "unitAmount": 0.05}}])
    assert product["prices"][0]["unitAmount"] == "0.05"


async def test_seat_price_with_volume_tiers(api, org):
    tiers = [
        {"minSeats": 1, "maxSeats": 4, "pricePerSeat": 1000},
        {"minSeats": 5, "maxSeats": 19, "pricePerSeat": 800},
        {"minSeats": 20, "maxSeats": None, "pricePerSeat": 0},
    ]
    product = await create_product(api, org.token, prices=[{"seatUnit": {"tiers": tiers, "currency": "gbp"}}])
    [price] = product["prices"]
    assert price["__typename"] == "SeatUnitPrice"
    assert price["currency"] == "gbp"
    assert price["tiers"] == [
        {"minSeats": 1, "maxSeats": 4, "pricePerSeat": {"amount": 1000, "currency": "gbp"}},
        {"minSeats": 5, "maxSeats": 19, "pricePerSeat": {"amount": 800, "currency": "gbp"}},
        {"minSeats": 20, "maxSeats": None, "pricePerSeat": {"amount": 0, "currency": "gbp"}},
    ]
    single = await create_product(api, org.token, recurringInterval=None, prices=[{"seatUnit": {"tiers": [{"minSeats": 1, "pricePerSeat": 500}]}}])
    assert single["prices"][0]["tiers"] == [{"minSeats": 1, "maxSeats": None, "pricePerSeat": {"amount": 500, "currency": "usd"}}]


async def test_amounts_may_be_sent_as_strings(api, org):
    product = await create_product(api, org.token, prices=[{"fixed": {"amount": "9007199254"}}])
    assert product["prices"][0]["amount"]["amount"] == 9007199254


async def test_update_changes_given_fields_only(api, org):
    product = await create_product(api, org.token, name="Basic", description="Old", metadata={"k": "v"})
    result = (await api.data(UPDATE_PRODUCT, {"input": {"id": product["id"], "name": "Basic+", "description": None}}, token=org.token))[
        "updateProduct"
    ]
    assert result["__typename"] == "UpdateProductSuccess", result
    updated = result["product"]
    assert updated["name"] == "Basic+"
    assert updated["description"] is None
    assert updated["metadata"] == {"k": "v"}
    assert updated["recurringInterval"] == "MONTH"
    assert updated["prices"] == product["prices"]
    result = (await api.data(UPDATE_PRODUCT, {"input": {"id": product["id"], "metadata": {"new": 1}}}, token=org.token))["updateProduct"]
    assert result["product"]["metadata"] == {"new": 1}
    assert result["product"]["name"] == "Basic+"


async def test_recurring_interval_cannot_be_changed(api, org):
    product = await create_product(api, org.token)
    body = await api.gql(UPDATE_PRODUCT, {"input": {"id": product["id"], "recurringInterval": "YEAR"}}, token=org.token)
    assert body["errors"] and "recurringInterval" in body["errors"][0]["message"]
    assert (await api.data(GET_PRODUCT, {"id": product["id"]}, token=org.token))["product"]["recurringInterval"] == "MONTH"


async def test_archive_and_unarchive(api, org, session_factory):
    product = await create_product(api, org.token)
    archived = (await api.data(ARCHIVE_PRODUCT, {"input": {"id": product["id"]}}, token=org.token))["archiveProduct"]
    assert archived["__typename"] == "ArchiveProductSuccess"
    assert archived["product"]["isArchived"] is True
    assert archived["product"]["archivedAt"] is not None
    # its prices are kept as they are
    assert archived["product"]["prices"] == product["prices"]
    # archiving again is a no-op that keeps the first archive time
    again = (await api.data(ARCHIVE_PRODUCT, {"input": {"id": product["id"]}}, token=org.token))["archiveProduct"]
    assert again["product"]["archivedAt"] == archived["product"]["archivedAt"]
    assert (await catalog_counts(session_factory))["archived_products"] == 1

    restored = (await api.data(UNARCHIVE_PRODUCT, {"input": {"id": product["id"]}}, token=org.token))["unarchiveProduct"]
    assert restored["__typename"] == "UnarchiveProductSuccess"
    assert restored["product"]["isArchived"] is False
    assert restored["product"]["archivedAt"] is None
    assert (await catalog_counts(session_factory))["archived_products"] == 0


async def test_change_a_price_by_replacing_it(api, org):
    product = await create_product(api, org.token, prices=[{"fixed": {"amount": 1000}}])
    old = product["prices"][0]
    result = (
        await api.data(
            CREATE_PRICE,
            {"input": {"productId": product["id"], "price": {"fixed": {"amount": 1200}}, "archivePriceIds": [old["id"]]}},
            token=org.token,
        )
    )["createProductPrice"]
    assert result["__typename"] == "CreateProductPriceSuccess", result
    assert result["price"]["amount"]["amount"] == 1200
    after = result["product"]
    assert [p["amount"]["amount"] for p in after["prices"]] == [1200]
    # the old price is kept, archived, after the active ones
    assert after["allPrices"] == [{"id": result["price"]["id"], "isArchived": False}, {"id": old["id"], "isArchived": True}]


async def test_add_and_archive_metered_prices(api, org, session_factory):
    meter = await make_meter(session_factory, org.id)
    product = await create_product(api, org.token)
    added = (
        await api.data(
            CREATE_PRICE, {"input": {"productId": product["id"], "price": {"meteredUnit": {"meterId": meter, "unitAmount": "1.5"}}}}, token=org.token
        )
    )["createProductPrice"]
    assert added["__typename"] == "CreateProductPriceSuccess", added
    assert added["price"]["unitAmount"] == "1.5"
    assert len(added["product"]["prices"]) == 2

    archived = (await api.data(ARCHIVE_PRICE, {"input": {"id": added["price"]["id"]}}, token=org.token))["archiveProductPrice"]
    assert archived["__typename"] == "ArchiveProductPriceSuccess", archived
    assert archived["price"]["isArchived"] is True
    assert archived["price"]["archivedAt"] is not None
    assert [p["id"] for p in archived["product"]["prices"]] == [product["prices"][0]["id"]]
    # archiving twice is a no-op
    again = (await api.data(ARCHIVE_PRICE, {"input": {"id": added["price"]["id"]}}, token=org.token))["archiveProductPrice"]
    assert again["price"]["archivedAt"] == archived["price"]["archivedAt"]
    # the same meter can be priced again once its price is archived
    readded = (
        await api.data(
            CREATE_PRICE, {"input": {"productId": product["id"], "price": {"meteredUnit": {"meterId": meter, "unitAmount": "2"}}}}, token=org.token
        )
    )["createProductPrice"]
    assert readded["__typename"] == "CreateProductPriceSuccess", readded


async def test_switch_to_a_seat_price_by_archiving_everything_else_at_once(api, org, session_factory):
    meter = await make_meter(session_factory, org.id)
    product = await create_product(
        api, org.token, prices=[FIXED, {"meteredUnit": {"meterId": meter, "unitAmount": "0.1"}}]
    )
    result = (
        await api.data(
            CREATE_PRICE,
            {
                "input": {
                    "productId": product["id"],
                    "price": {"seatUnit": {"tiers": [{"minSeats": 1, "pricePerSeat": 900}]}},
                    "archivePriceIds": [p["id"] for p in product["prices"]],
                }
            },
            token=org.token,
        )
    )["createProductPrice"]
    assert result["__typename"] == "CreateProductPriceSuccess", result
    assert [p["__typename"] for p in result["product"]["prices"]] == ["SeatUnitPrice"]
    assert len(result["product"]["allPrices"]) == 3


async def test_list_filters(api, org):
    await create_product(api, org.token, name="Monthly Pro", recurringInterval="MONTH")
    await create_product(api, org.token, name="Yearly Pro", recurringInterval="YEAR")
    await create_product(api, org.token, name="E-book", recurringInterval=None)
    old = await create_product(api, org.token, name="Legacy 100%_plan", recurringInterval="MONTH")
    await api.data(ARCHIVE_PRODUCT, {"input": {"id": old["id"]}}, token=org.token)

    async def names(filter):
        listed = (await api.data(LIST_PRODUCTS, {"first": 50, "filter": filter}, token=org.token))["products"]
        assert listed["totalCount"] == len(listed["edges"])
        return [edge["node"]["name"] for edge in listed["edges"]]

    assert await names(None) == ["Monthly Pro", "Yearly Pro", "E-book", "Legacy 100%_plan"]
    assert await names({"isArchived": False}) == ["Monthly Pro", "Yearly Pro", "E-book"]
    assert await names({"isArchived": True}) == ["Legacy 100%_plan"]
    assert await names({"isRecurring": False}) == ["E-book"]
    assert await names({"isRecurring": True, "isArchived": False}) == ["Monthly Pro", "Yearly Pro"]
    assert await names({"recurringInterval": "YEAR"}) == ["Yearly Pro"]
    assert await names({"recurringInterval": "MONTH"}) == ["Monthly Pro", "Legacy 100%_plan"]
    assert await names({"search": "pro"}) == ["Monthly Pro", "Yearly Pro"]
    assert await names({"search": "100%_"}) == ["Legacy 100%_plan"]
    assert await names({"search": "%"}) == ["Legacy 100%_plan"]


async def test_pagination_and_order(api, org):
    for i in range(7):
        await create_product(api, org.token, name=f"P{6 - i}")
    seen = []
    after = None
    pages = 0
    while True:
        page = (await api.data(LIST_PRODUCTS, {"first": 3, "after": after, "orderBy": {"field": "NAME"}}, token=org.token))["products"]
        pages += 1
        assert page["totalCount"] == 7
        assert page["pageInfo"]["hasPreviousPage"] is (after is not None)
        seen += [edge["node"]["name"] for edge in page["edges"]]
        if not page["pageInfo"]["hasNextPage"]:
            break
        after = page["pageInfo"]["endCursor"]
    assert pages == 3
    assert seen == [f"P{i}" for i in range(7)]
    descending = (await api.data(LIST_PRODUCTS, {"first": 2, "orderBy": {"field": "NAME", "direction": "DESC"}}, token=org.token))["products"]
    assert [e["node"]["name"] for e in descending["edges"]] == ["P6", "P5"]
    by_creation = (await api.data(LIST_PRODUCTS, {"first": 2}, token=org.token))["products"]
    assert [e["node"]["name"] for e in by_creation["edges"]] == ["P6", "P5"]


async def test_bad_page_arguments_are_refused(api, org):
    for variables in ({"first": 0}, {"first": 101}, {"first": 5, "after": "not-a-cursor"}):
        body = await api.gql(LIST_PRODUCTS, variables, token=org.token)
        assert body["data"] is None or body["data"]["products"] is None
        assert body["errors"][0]["extensions"]["code"] == "BAD_USER_INPUT"


async def test_node_lookups(api, org):
    product = await create_product(api, org.token, name="Nodey")
    price = product["prices"][0]
    node = (await api.data(NODE, {"id": product["id"]}, token=org.token))["node"]
    assert node == {"__typename": "Product", "id": product["id"], "name": "Nodey"}
    node = (await api.data(NODE, {"id": price["id"]}, token=org.token))["node"]
    assert node == {"__typename": "FixedPrice", "id": price["id"], "type": "FIXED", "product": {"id": product["id"], "name": "Nodey"}}


NESTED = """
query List($first: Int!) {
  products(first: $first) {
    edges { node { id prices(includeArchived: true) { id product { id prices { id } } ... on MeteredUnitPrice { meter { id } } } } }
  }
}
"""


async def test_statement_count_does_not_grow_with_the_page(api, org, session_factory):
    meter = await make_meter(session_factory, org.id)
    for i in range(40):
        await create_product(api, org.token, name=f"N{i}", prices=[FIXED, {"meteredUnit": {"meterId": meter, "unitAmount": "1"}}])
    counts = {}
    for first in (5, 40):
        data = await api.data(NESTED, {"first": first}, token=org.token)
        assert len(data["products"]["edges"]) == first
        assert all(len(edge["node"]["prices"]) == 2 for edge in data["products"]["edges"])
        assert all(edge["node"]["prices"][1]["meter"]["id"] == meter for edge in data["products"]["edges"])
        counts[first] = api.last_statement_count
    assert counts[5] == counts[40], counts
    # token, page, prices, meters (products come primed), plus the harness's SAVEPOINT and its release
    assert counts[5] <= 6, counts


async def test_a_recurring_product_offers_a_trial_that_can_change_and_a_one_time_product_none(api, org):
    product = await create_product(api, org.token, trialDays=14)
    assert product["trialDays"] == 14
    changed = (await api.data(UPDATE_PRODUCT, {"input": {"id": product["id"], "trialDays": None}}, token=org.token))["updateProduct"]
    assert changed["product"]["trialDays"] is None
    for values, code in (({"recurringInterval": None, "trialDays": 7}, "not_allowed"), ({"trialDays": 0}, "out_of_range"), ({"trialDays": 731}, "out_of_range")):
        result = (await api.data(CREATE_PRODUCT, {"input": {"name": "P", "recurringInterval": "MONTH", "prices": [FIXED], **values}}, token=org.token))["createProduct"]
        assert result["__typename"] == "ValidationError", result
        assert [(f["path"], f["code"]) for f in result["fields"]] == [(["trialDays"], code)]
    refused = (await api.data(UPDATE_PRODUCT, {"input": {"id": product["id"], "trialDays": -1}}, token=org.token))["updateProduct"]
    assert refused["__typename"] == "ValidationError"
