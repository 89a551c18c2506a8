"""Organization B's token sees none of A's customers or members and cannot change them."""

from __future__ import annotations

from tests.conftest import table_counts
from tests.operations import (
    ADD_MEMBER,
    DELETE_CUSTOMER,
    GET_CUSTOMER,
    LIST_CUSTOMERS,
    NODE,
    REMOVE_MEMBER,
    TRANSFER,
    UPDATE_CUSTOMER,
    UPDATE_MEMBER,
    UPGRADE,
    create_business,
    create_customer,
)


async def test_other_organization_sees_nothing(api, org, other_org):
    business = await create_business(api, org.token, prefix="secret", externalId="shared-ext")
    individual = await create_customer(api, org.token, email="private@example.com", externalId="a-only")
    await create_customer(api, other_org.token, email="b@example.com", externalId="shared-ext")

    listed = (await api.data(LIST_CUSTOMERS, {"first": 100}, token=other_org.token))["customers"]
    assert listed["totalCount"] == 1
    assert [e["node"]["email"] for e in listed["edges"]] == ["b@example.com"]
    searched = (await api.data(LIST_CUSTOMERS, {"first": 100, "filter": {"search": "secret"}}, token=other_org.token))["customers"]
    assert searched["edges"] == []

    for customer in (business, individual):
        assert (await api.data(GET_CUSTOMER, {"id": customer["id"]}, token=other_org.token))["customer"] is None
        assert (await api.data(NODE, {"id": customer["id"]}, token=other_org.token))["node"] is None
        for member in customer["members"]:
            assert (await api.data(NODE, {"id": member["id"]}, token=other_org.token))["node"] is None
            assert (await api.data("query($id: ID!) { member(id: $id) { id } }", {"id": member["id"]}, token=other_org.token))[
                "member"
            ] is None
    assert (await api.data(GET_CUSTOMER, {"externalId": "a-only"}, token=other_org.token))["customer"] is None
    # the same external id in both organizations resolves to each one's own customer
    theirs = (await api.data(GET_CUSTOMER, {"externalId": "shared-ext"}, token=other_org.token))["customer"]
    assert theirs["email"] == "b@example.com"
    nodes = await api.data("query($ids: [ID!]!) { nodes(ids: $ids) { id } }", {"ids": [business["id"], theirs["id"]]}, token=other_org.token)
    assert nodes["nodes"] == [None, {"id": theirs["id"]}]
    # organization A still sees its own
    assert (await api.data(NODE, {"id": business["id"]}, token=org.token))["node"]["email"] == "billing@secret.example"


async def test_other_organization_cannot_change_anything(api, org, other_org, session_factory):
    business = await create_business(api, org.token, prefix="target")
    owner = business["owner"]
    member = next(m for m in business["members"] if m["role"] == "MEMBER")
    before = await table_counts(session_factory)

    attempts = [
        (UPDATE_CUSTOMER, {"id": business["id"], "name": "pwned"}, "updateCustomer"),
        (DELETE_CUSTOMER, {"id": business["id"]}, "deleteCustomer"),
        (UPGRADE, {"id": business["id"]}, "upgradeCustomerToBusiness"),
        (ADD_MEMBER, {"customerId": business["id"], "email": "intruder@example.com"}, "addMember"),
        (UPDATE_MEMBER, {"id": member["id"], "role": "BILLING_MANAGER"}, "updateMember"),
        (REMOVE_MEMBER, {"id": member["id"]}, "removeMember"),
        (TRANSFER, {"customerId": business["id"], "memberId": member["id"]}, "transferOwnership"),
    ]
    for operation, input, field in attempts:
        result = (await api.data(operation, {"input": input}, token=other_org.token))[field]
        assert result["__typename"] == "NotFoundError", (field, result)

    assert await table_counts(session_factory) == before
    after = (await api.data(GET_CUSTOMER, {"id": business["id"]}, token=org.token))["customer"]
    assert after["name"] == business["name"]
    assert after["owner"]["id"] == owner["id"]
    assert [m["role"] for m in after["members"]] == [m["role"] for m in business["members"]]
