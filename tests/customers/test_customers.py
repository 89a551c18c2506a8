"""Creating, reading, updating, deleting and upgrading customers through GraphQL."""

from __future__ import annotations

from tests.conftest import count_rows
from tests.operations import (
    DELETE_CUSTOMER,
    GET_CUSTOMER,
    LIST_CUSTOMERS,
    UPDATE_CUSTOMER,
    UPGRADE,
    create_business,
    create_customer,
)


async def test_individual_gets_its_owner_member(api, org):
    customer = await create_customer(
        api,
        org.token,
        email="Jane@Example.com",
        name="Jane",
        externalId="user_1",
        billingAddress={"line1": "1 Main St", "city": "Springfield", "country": "us"},
        taxId="US123",
        metadata={"plan": "pro", "seats": 3, "beta": True},
    )
    assert customer["__typename"] == "IndividualCustomer"
    assert customer["type"] == "INDIVIDUAL"
    assert customer["email"] == "Jane@example.com"
    assert customer["billingAddress"]["country"] == "US"
    assert customer["metadata"] == {"plan": "pro", "seats": 3, "beta": True}
    assert len(customer["members"]) == 1
    owner = customer["members"][0]
    assert owner["role"] == "OWNER"
    assert owner["email"] == "Jane@example.com"
    assert owner["externalId"] == "user_1"
    assert customer["owner"]["id"] == owner["id"]
    assert owner["customer"]["id"] == customer["id"]


async def test_business_with_owner_and_members_in_one_call(api, org):
    customer = await create_business(
        api,
        org.token,
        prefix="globex",
        members=[
            {"email": "bill@globex.example", "role": "BILLING_MANAGER"},
            {"email": "dev@globex.example", "name": "Dev", "externalId": "u-dev"},
        ],
    )
    assert customer["__typename"] == "BusinessCustomer"
    roles = [(m["email"], m["role"]) for m in customer["members"]]
    assert roles == [
        ("owner@globex.example", "OWNER"),
        ("bill@globex.example", "BILLING_MANAGER"),
        ("dev@globex.example", "MEMBER"),
    ]
    assert customer["owner"]["email"] == "owner@globex.example"


async def test_lookup_by_id_and_external_id(api, org):
    created = await create_customer(api, org.token, externalId="ext-42")
    by_id = (await api.data(GET_CUSTOMER, {"id": created["id"]}, token=org.token))["customer"]
    by_external = (await api.data(GET_CUSTOMER, {"externalId": "ext-42"}, token=org.token))["customer"]
    assert by_id["id"] == by_external["id"] == created["id"]
    missing = (await api.data(GET_CUSTOMER, {"externalId": "nope"}, token=org.token))["customer"]
    assert missing is None


async def test_lookup_needs_exactly_one_key(api, org):
    body = await api.gql(GET_CUSTOMER, {}, token=org.token)
    assert body["data"] == {"customer": None}
    assert body["errors"][0]["extensions"]["code"] == "BAD_USER_INPUT"


async def test_update_changes_given_fields_only_and_mirrors_individual_owner(api, org):
    created = await create_customer(api, org.token, email="a@example.com", name="A", taxId="T1", metadata={"k": "v"})
    result = (
        await api.data(UPDATE_CUSTOMER, {"input": {"id": created["id"], "email": "b@example.com", "taxId": None}}, token=org.token)
    )["updateCustomer"]
    assert result["__typename"] == "UpdateCustomerSuccess", result
    customer = result["customer"]
    assert customer["email"] == "b@example.com"
    assert customer["name"] == "A"
    assert customer["taxId"] is None
    assert customer["metadata"] == {"k": "v"}
    assert customer["owner"]["email"] == "b@example.com"


async def test_delete_hides_customer_and_frees_external_id(api, org, session_factory):
    created = await create_customer(api, org.token, externalId="dup")
    result = (await api.data(DELETE_CUSTOMER, {"input": {"id": created["id"]}}, token=org.token))["deleteCustomer"]
    assert result == {"__typename": "DeleteCustomerSuccess", "deletedCustomerId": created["id"]}
    assert (await api.data(GET_CUSTOMER, {"id": created["id"]}, token=org.token))["customer"] is None
    listed = (await api.data(LIST_CUSTOMERS, {"first": 10}, token=org.token))["customers"]
    assert listed["totalCount"] == 0
    again = await create_customer(api, org.token, externalId="dup")
    assert again["id"] != created["id"]
    assert await count_rows(session_factory, "customers") == 2  # history is kept
    second = (await api.data(DELETE_CUSTOMER, {"input": {"id": created["id"]}}, token=org.token))["deleteCustomer"]
    assert second["__typename"] == "NotFoundError"


async def test_upgrade_individual_to_business_keeps_id_and_owner(api, org):
    created = await create_customer(api, org.token, email="solo@example.com", name="Solo")
    result = (await api.data(UPGRADE, {"input": {"id": created["id"], "name": "Solo Ltd"}}, token=org.token))[
        "upgradeCustomerToBusiness"
    ]
    assert result["__typename"] == "UpgradeCustomerToBusinessSuccess", result
    customer = result["customer"]
    assert customer["id"] == created["id"]
    assert customer["__typename"] == "BusinessCustomer"
    assert customer["name"] == "Solo Ltd"
    assert customer["owner"]["id"] == created["owner"]["id"]
    again = (await api.data(UPGRADE, {"input": {"id": created["id"]}}, token=org.token))["upgradeCustomerToBusiness"]
    assert again["__typename"] == "CustomerAlreadyBusinessError"
    assert again["code"] == "CUSTOMER_ALREADY_BUSINESS"


async def test_list_filters_order_and_pagination(api, org):
    for i in range(5):
        await create_customer(api, org.token, email=f"user{i}@example.com", name=f"User {4 - i}", externalId=f"u{i}")
    await create_business(api, org.token, prefix="initech", members=1, name="Initech")

    async def listing(**variables):
        variables.setdefault("first", 50)
        return (await api.data(LIST_CUSTOMERS, variables, token=org.token))["customers"]

    everything = await listing()
    assert everything["totalCount"] == 6
    businesses = await listing(filter={"type": "BUSINESS"})
    assert [e["node"]["name"] for e in businesses["edges"]] == ["Initech"]
    by_email = await listing(filter={"email": "USER3@example.com"})
    assert [e["node"]["externalId"] for e in by_email["edges"]] == ["u3"]
    by_external = await listing(filter={"externalId": "u1"})
    assert [e["node"]["email"] for e in by_external["edges"]] == ["user1@example.com"]
    search = await listing(filter={"search": "initech"})
    assert search["totalCount"] == 1
    by_name = await listing(orderBy={"field": "NAME", "direction": "ASC"}, filter={"type": "INDIVIDUAL"})
    assert [e["node"]["name"] for e in by_name["edges"]] == [f"User {i}" for i in range(5)]

    created_times = [e["node"]["createdAt"] for e in everything["edges"]]
    assert created_times == sorted(created_times)
    window = await listing(filter={"createdAfter": created_times[1], "createdBefore": created_times[3]})
    assert [e["node"]["createdAt"] for e in window["edges"]] == created_times[1:3]

    seen = []
    after = None
    while True:
        page = await listing(first=2, after=after, orderBy={"field": "EMAIL", "direction": "DESC"})
        seen += [e["node"]["email"] for e in page["edges"]]
        if not page["pageInfo"]["hasNextPage"]:
            break
        after = page["pageInfo"]["endCursor"]
    assert seen == sorted(seen, reverse=True)
    assert len(seen) == 6


async def test_page_size_is_capped(api, org):
    body = await api.gql(LIST_CUSTOMERS, {"first": 101}, token=org.token)
    assert body["data"] is None
    assert body["errors"][0]["extensions"]["code"] == "BAD_USER_INPUT"
    bad_cursor = await api.gql(LIST_CUSTOMERS, {"first": 10, "after": "garbage"}, token=org.token)
    assert bad_cursor["errors"][0]["extensions"]["code"] == "BAD_USER_INPUT"
