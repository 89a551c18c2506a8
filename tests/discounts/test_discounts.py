"""Discounts through GraphQL: create (fixed, percentage, durations, codes, limits, windows,
products), read back, update, archive, list with filters, idempotent create, bad input for every
mutation, and another organization's discount is not found."""

from __future__ import annotations

import pytest
from sqlalchemy import text

from tests.catalog.operations import create_product
from tests.conftest import as_owner, make_org
from tests.discounts.operations import (
    ARCHIVE_DISCOUNT,
    CREATE_DISCOUNT,
    GET_DISCOUNT,
    LIST_DISCOUNTS,
    NODE,
    UPDATE_DISCOUNT,
    create_discount,
)


async def _count(session_factory, table: str) -> int:
    async with session_factory() as session, as_owner(session):
        return int(await session.scalar(text(f"SELECT count(*) FROM {table}")))


async def test_a_fixed_discount_restricted_to_a_product_reads_back(api, org):
    product = await create_product(api, org.token, name="Pro")
    discount = await create_discount(
        api,
        org.token,
        name="  Five off  ",
        percentage=None,
        fixed={"amount": 500, "currency": "USD"},
        duration="REPEATING",
        durationInMonths=3,
        code="Save5",
        maxRedemptions=100,
        startsAt="2030-01-01T00:00:00Z",
        endsAt="2030-02-01T00:00:00+01:00",
        productIds=[product["id"]],
    )
    assert discount["name"] == "Five off"
    assert discount["type"] == "FIXED"
    assert discount["amount"] == {"amount": 500, "currency": "usd"}
    assert discount["basisPoints"] is None
    assert (discount["duration"], discount["durationInMonths"]) == ("REPEATING", 3)
    assert discount["code"] == "Save5"
    assert (discount["maxRedemptions"], discount["redemptionsCount"]) == (100, 0)
    assert discount["startsAt"] == "2030-01-01T00:00:00+00:00"
    assert discount["endsAt"] == "2030-01-31T23:00:00+00:00"
    assert discount["productIds"] == [product["id"]]
    assert discount["products"] == [{"id": product["id"], "name": "Pro"}]
    assert (await api.data(GET_DISCOUNT, {"id": discount["id"]}, token=org.token))["discount"] == discount
    node = (await api.data(NODE, {"id": discount["id"]}, token=org.token))["node"]
    assert node == {"__typename": "Discount", "id": discount["id"], "name": "Five off"}


async def test_a_percentage_discount_for_every_product(api, org):
    discount = await create_discount(api, org.token, percentage={"basisPoints": 1250}, duration="FOREVER")
    assert (discount["type"], discount["basisPoints"], discount["amount"]) == ("PERCENTAGE", 1250, None)
    assert (discount["duration"], discount["durationInMonths"], discount["code"]) == ("FOREVER", None, None)
    assert discount["productIds"] == [] and discount["products"] == []


async def test_codes_are_unique_without_regard_to_case(api, org, other_org, session_factory):
    await create_discount(api, org.token, code="SUMMER")
    result = (await api.data(CREATE_DISCOUNT, {"input": {"name": "x", "percentage": {"basisPoints": 1}, "duration": "ONCE", "code": "summer"}}, token=org.token))["createDiscount"]
    assert (result["__typename"], result["code"]) == ("UnexpectedDomainError", "CONFLICT")
    assert await _count(session_factory, "discounts") == 1
    await create_discount(api, other_org.token, code="summer")  # another organization's codes are its own


async def test_update_changes_only_what_is_given_and_archive(api, org):
    product = await create_product(api, org.token, name="Pro")
    discount = await create_discount(api, org.token, code="A1", maxRedemptions=5, productIds=[product["id"]])
    updated = (await api.data(UPDATE_DISCOUNT, {"input": {"id": discount["id"], "name": "Renamed", "code": None, "productIds": []}}, token=org.token))["updateDiscount"]
    assert updated["__typename"] == "UpdateDiscountSuccess", updated
    d = updated["discount"]
    assert (d["name"], d["code"], d["maxRedemptions"], d["productIds"]) == ("Renamed", None, 5, [])
    assert d["basisPoints"] == 1000
    archived = (await api.data(ARCHIVE_DISCOUNT, {"input": {"id": discount["id"]}}, token=org.token))["archiveDiscount"]
    assert archived["discount"]["isArchived"] is True and archived["discount"]["archivedAt"]
    again = (await api.data(ARCHIVE_DISCOUNT, {"input": {"id": discount["id"]}}, token=org.token))["archiveDiscount"]
    assert again["discount"]["archivedAt"] == archived["discount"]["archivedAt"]


async def test_list_filters_and_pages(api, org):
    await create_discount(api, org.token, name="Alpha", code="ALPHA")
    beta = await create_discount(api, org.token, name="Beta", fixed={"amount": 100, "currency": "eur"}, percentage=None)
    await create_discount(api, org.token, name="Gamma")
    await api.data(ARCHIVE_DISCOUNT, {"input": {"id": beta["id"]}}, token=org.token)

    async def names(**variables):
        data = (await api.data(LIST_DISCOUNTS, variables, token=org.token))["discounts"]
        return [n["name"] for n in data["nodes"]], data["totalCount"]

    assert await names() == (["Alpha", "Beta", "Gamma"], 3)
    assert await names(filter={"isArchived": False}) == (["Alpha", "Gamma"], 2)
    assert await names(filter={"type": "FIXED"}) == (["Beta"], 1)
    assert await names(filter={"code": "alpha"}) == (["Alpha"], 1)
    assert await names(filter={"search": "amm"}) == (["Gamma"], 1)
    assert await names(orderBy={"direction": "DESC"}) == (["Gamma", "Beta", "Alpha"], 3)
    first = (await api.data(LIST_DISCOUNTS, {"first": 2}, token=org.token))["discounts"]
    assert [n["name"] for n in first["nodes"]] == ["Alpha", "Beta"] and first["pageInfo"]["hasNextPage"]
    rest = (await api.data(LIST_DISCOUNTS, {"first": 2, "after": first["pageInfo"]["endCursor"]}, token=org.token))["discounts"]
    assert [n["name"] for n in rest["nodes"]] == ["Gamma"]


async def test_create_with_an_idempotency_key_acts_once(api, org, session_factory):
    values = {"name": "Once", "percentage": {"basisPoints": 500}, "duration": "ONCE", "idempotencyKey": "discount-1"}
    first = (await api.data(CREATE_DISCOUNT, {"input": values}, token=org.token))["createDiscount"]
    second = (await api.data(CREATE_DISCOUNT, {"input": values}, token=org.token))["createDiscount"]
    assert first == second and first["__typename"] == "CreateDiscountSuccess"
    assert await _count(session_factory, "discounts") == 1
    reused = (await api.data(CREATE_DISCOUNT, {"input": {**values, "name": "Other"}}, token=org.token))["createDiscount"]
    assert reused["code"] == "IDEMPOTENCY_KEY_REUSED"
    assert await _count(session_factory, "discounts") == 1


async def test_another_organizations_discount_is_not_found(api, org, other_org):
    discount = await create_discount(api, org.token, code="MINE")
    assert (await api.data(GET_DISCOUNT, {"id": discount["id"]}, token=other_org.token))["discount"] is None
    assert (await api.data(NODE, {"id": discount["id"]}, token=other_org.token))["node"] is None
    listed = (await api.data(LIST_DISCOUNTS, {}, token=other_org.token))["discounts"]
    assert listed["nodes"] == [] and listed["totalCount"] == 0
    for operation, name, input in (
        (UPDATE_DISCOUNT, "updateDiscount", {"id": discount["id"], "name": "Stolen"}),
        (ARCHIVE_DISCOUNT, "archiveDiscount", {"id": discount["id"]}),
    ):
        result = (await api.data(operation, {"input": input}, token=other_org.token))[name]
        assert result["__typename"] == "NotFoundError", result
    assert (await api.data(GET_DISCOUNT, {"id": discount["id"]}, token=org.token))["discount"] == discount
    # nor can it restrict its own discount to this organization's product
    product = await create_product(api, org.token, name="Pro")
    result = (await api.data(CREATE_DISCOUNT, {"input": {"name": "x", "percentage": {"basisPoints": 1}, "duration": "ONCE", "productIds": [product["id"]]}}, token=other_org.token))["createDiscount"]
    assert result["fields"] == [{"path": ["productIds", "0"], "message": "no such product in this organization", "code": "not_found"}]


async def test_scopes(api, session_factory):
    reader = await make_org(session_factory, name="Reader", scopes=["discounts:read"])
    body = await api.gql(CREATE_DISCOUNT, {"input": {"name": "x", "percentage": {"basisPoints": 1}, "duration": "ONCE"}}, token=reader.token)
    assert body["errors"][0]["extensions"]["code"] == "FORBIDDEN"
    assert (await api.data(LIST_DISCOUNTS, {}, token=reader.token))["discounts"]["nodes"] == []
    # the products of a discount need products:read: null and an error without it
    writer = await make_org(session_factory, name="Writer", scopes=["discounts:read", "discounts:write"])
    body = await api.gql(CREATE_DISCOUNT, {"input": {"name": "x", "percentage": {"basisPoints": 1}, "duration": "ONCE"}}, token=writer.token)
    assert body["data"]["createDiscount"]["discount"]["products"] is None
    assert body["errors"][0]["extensions"]["code"] == "FORBIDDEN"


BASE = {"name": "x", "duration": "ONCE"}
BAD_CREATES = [
    ({**BASE}, [((), "one_of")]),
    ({**BASE, "percentage": {"basisPoints": 1}, "fixed": {"amount": 1, "currency": "usd"}}, [((), "one_of")]),
    ({**BASE, "percentage": {"basisPoints": 0}}, [(("percentage", "basisPoints"), "out_of_range")]),
    ({**BASE, "percentage": {"basisPoints": 10001}}, [(("percentage", "basisPoints"), "out_of_range")]),
    ({**BASE, "fixed": {"amount": 0, "currency": "usd"}}, [(("fixed", "amount"), "out_of_range")]),
    ({**BASE, "fixed": {"amount": 10**13, "currency": "usd"}}, [(("fixed", "amount"), "out_of_range")]),
    ({**BASE, "fixed": {"amount": 1, "currency": "xyz"}}, [(("fixed", "currency"), "invalid_currency")]),
    ({**BASE, "name": "  ", "percentage": {"basisPoints": 1}}, [(("name",), "required")]),
    ({**BASE, "name": "x" * 257, "percentage": {"basisPoints": 1}}, [(("name",), "too_long")]),
    ({**BASE, "duration": "REPEATING", "percentage": {"basisPoints": 1}}, [(("durationInMonths",), "required")]),
    ({**BASE, "duration": "REPEATING", "durationInMonths": 0, "percentage": {"basisPoints": 1}}, [(("durationInMonths",), "out_of_range")]),
    ({**BASE, "durationInMonths": 3, "percentage": {"basisPoints": 1}}, [(("durationInMonths",), "not_allowed")]),
    ({**BASE, "code": "no spaces", "percentage": {"basisPoints": 1}}, [(("code",), "invalid_code")]),
    ({**BASE, "code": "x" * 65, "percentage": {"basisPoints": 1}}, [(("code",), "too_long")]),
    ({**BASE, "maxRedemptions": 0, "percentage": {"basisPoints": 1}}, [(("maxRedemptions",), "out_of_range")]),
    ({**BASE, "startsAt": "2030-01-02T00:00:00Z", "endsAt": "2030-01-01T00:00:00Z", "percentage": {"basisPoints": 1}}, [(("endsAt",), "out_of_range")]),
    ({**BASE, "productIds": ["nope"], "percentage": {"basisPoints": 1}}, [(("productIds", "0"), "not_found")]),
]


@pytest.mark.parametrize(("input", "expected"), BAD_CREATES)
async def test_bad_input_to_create_changes_nothing(api, org, session_factory, input, expected):
    result = (await api.data(CREATE_DISCOUNT, {"input": input}, token=org.token))["createDiscount"]
    assert result["__typename"] == "ValidationError", result
    assert [(tuple(f["path"]), f["code"]) for f in result["fields"]] == expected
    assert await _count(session_factory, "discounts") == 0


async def test_bad_input_to_update_and_archive_changes_nothing(api, org):
    discount = await create_discount(api, org.token, code="KEEP", maxRedemptions=5)
    for input, expected in (
        ({"name": None}, [(("name",), "required")]),
        ({"code": "bad code"}, [(("code",), "invalid_code")]),
        ({"maxRedemptions": -1}, [(("maxRedemptions",), "out_of_range")]),
        ({"startsAt": "2030-01-02T00:00:00Z", "endsAt": "2030-01-01T00:00:00Z"}, [(("endsAt",), "out_of_range")]),
        ({"productIds": ["nope"]}, [(("productIds", "0"), "not_found")]),
    ):
        result = (await api.data(UPDATE_DISCOUNT, {"input": {"id": discount["id"], **input}}, token=org.token))["updateDiscount"]
        assert result["__typename"] == "ValidationError", (input, result)
        assert [(tuple(f["path"]), f["code"]) for f in result["fields"]] == expected
    assert (await api.data(GET_DISCOUNT, {"id": discount["id"]}, token=org.token))["discount"] == discount
    for operation, name in ((UPDATE_DISCOUNT, "updateDiscount"), (ARCHIVE_DISCOUNT, "archiveDiscount")):
        result = (await api.data(operation, {"input": {"id": "not-an-id"}}, token=org.token))[name]
        assert result["__typename"] == "NotFoundError", result


async def test_nested_products_do_not_grow_the_statement_count(api, org):
    product = await create_product(api, org.token, name="Pro")

    async def statements() -> int:
        await api.data(LIST_DISCOUNTS, {"first": 50}, token=org.token)
        return api.last_statement_count

    await create_discount(api, org.token, productIds=[product["id"]])
    few = await statements()
    for _ in range(5):
        await create_discount(api, org.token, productIds=[product["id"]])
    assert await statements() == few
