"""Tenant isolation and scopes: another organization sees and changes nothing; a token needs
`products:read` to read the catalog and `products:write` to change it."""

from __future__ import annotations

from tests.catalog.operations import (
    ARCHIVE_PRICE,
    ARCHIVE_PRODUCT,
    CREATE_PRICE,
    CREATE_PRODUCT,
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
from tests.conftest import as_owner, make_org


async def test_other_organization_sees_nothing(api, org, other_org):
    mine = await create_product(api, org.token, name="Secret plan")
    theirs = await create_product(api, other_org.token, name="Their plan")

    listed = (await api.data(LIST_PRODUCTS, {"first": 100}, token=other_org.token))["products"]
    assert listed["totalCount"] == 1
    assert [e["node"]["id"] for e in listed["edges"]] == [theirs["id"]]
    searched = (await api.data(LIST_PRODUCTS, {"first": 100, "filter": {"search": "secret"}}, token=other_org.token))["products"]
    assert searched["edges"] == [] and searched["totalCount"] == 0

    assert (await api.data(GET_PRODUCT, {"id": mine["id"]}, token=other_org.token))["product"] is None
    assert (await api.data(NODE, {"id": mine["id"]}, token=other_org.token))["node"] is None
    assert (await api.data(NODE, {"id": mine["prices"][0]["id"]}, token=other_org.token))["node"] is None
    # the owner still sees its own
    assert (await api.data(GET_PRODUCT, {"id": mine["id"]}, token=org.token))["product"]["name"] == "Secret plan"


async def test_other_organization_cannot_change_anything(api, org, other_org, session_factory):
    meter = await make_meter(session_factory, org.id)
    product = await create_product(api, org.token, prices=[FIXED, {"meteredUnit": {"meterId": meter, "unitAmount": "1"}}])
    before = await catalog_counts(session_factory)
    attempts = [
        (UPDATE_PRODUCT, {"id": product["id"], "name": "pwned"}, "updateProduct"),
        (ARCHIVE_PRODUCT, {"id": product["id"]}, "archiveProduct"),
        (UNARCHIVE_PRODUCT, {"id": product["id"]}, "unarchiveProduct"),
        (CREATE_PRICE, {"productId": product["id"], "price": {"free": {}}}, "createProductPrice"),
        (ARCHIVE_PRICE, {"id": product["prices"][1]["id"]}, "archiveProductPrice"),
    ]
    for operation, input, field in attempts:
        result = (await api.data(operation, {"input": input}, token=other_org.token))[field]
        assert result["__typename"] == "NotFoundError", (field, result)
    # nor can it price its own product with this organization's meter
    result = (
        await api.data(
            CREATE_PRODUCT,
            {"input": {"name": "Copy", "recurringInterval": "MONTH", "prices": [{"meteredUnit": {"meterId": meter, "unitAmount": "1"}}]}},
            token=other_org.token,
        )
    )["createProduct"]
    assert result["__typename"] == "ValidationError"
    assert await catalog_counts(session_factory) == before
    after = (await api.data(GET_PRODUCT, {"id": product["id"]}, token=org.token))["product"]
    assert after == product


async def test_writing_needs_products_write(api, org, session_factory):
    product = await create_product(api, org.token)
    reader = await make_org(session_factory, name="Reader", scopes=["products:read"])
    # a read-only token of the same organization
    from app.auth.service import issue_token

    async with session_factory() as session, as_owner(session):
        _token, plain = await issue_token(session, org.id, scopes=["products:read"])
        await session.commit()
    before = await catalog_counts(session_factory)
    attempts = [
        (CREATE_PRODUCT, {"name": "X", "prices": [FIXED]}, "createProduct"),
        (UPDATE_PRODUCT, {"id": product["id"], "name": "pwned"}, "updateProduct"),
        (ARCHIVE_PRODUCT, {"id": product["id"]}, "archiveProduct"),
        (UNARCHIVE_PRODUCT, {"id": product["id"]}, "unarchiveProduct"),
        (CREATE_PRICE, {"productId": product["id"], "price": {"free": {}}}, "createProductPrice"),
        (ARCHIVE_PRICE, {"id": product["prices"][0]["id"]}, "archiveProductPrice"),
    ]
    for operation, input, field in attempts:
        body = await api.gql(operation, {"input": input}, token=plain)
        assert body["data"] is None, (field, body)
        assert body["errors"][0]["extensions"]["code"] == "FORBIDDEN", (field, body)
    assert await catalog_counts(session_factory) == before
    # but it reads
    assert (await api.data(GET_PRODUCT, {"id": product["id"]}, token=plain))["product"]["id"] == product["id"]
    assert (await api.data(LIST_PRODUCTS, {"first": 10}, token=reader.token))["products"]["totalCount"] == 0


async def test_reading_needs_products_read(api, org, session_factory):
    product = await create_product(api, org.token)
    from app.auth.service import issue_token

    async with session_factory() as session, as_owner(session):
        _token, plain = await issue_token(session, org.id, scopes=["customers:read"])
        await session.commit()
    for query, variables in ((GET_PRODUCT, {"id": product["id"]}), (LIST_PRODUCTS, {"first": 10}), (NODE, {"id": product["id"]})):
        body = await api.gql(query, variables, token=plain)
        assert body["data"] is None or all(value is None for value in body["data"].values())
        assert body["errors"][0]["extensions"]["code"] == "FORBIDDEN"
    anonymous = await api.gql(LIST_PRODUCTS, {"first": 10})
    assert anonymous["errors"][0]["extensions"]["code"] == "UNAUTHENTICATED"
