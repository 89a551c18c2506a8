"""Bad input: each case gets a clear, typed error and writes nothing."""

from __future__ import annotations

import pytest

from app.kit.ids import to_global_id
from tests.conftest import table_counts
from tests.operations import (
    ADD_MEMBER,
    CREATE_CUSTOMER,
    DELETE_CUSTOMER,
    LIST_CUSTOMERS,
    UPDATE_CUSTOMER,
    create_business,
    create_customer,
)


@pytest.fixture
async def unchanged(session_factory):
    """Asserts that the test body changed no row."""
    holder = {}

    async def snapshot():
        holder["before"] = await table_counts(session_factory)

    async def check():
        assert await table_counts(session_factory) == holder["before"]

    return snapshot, check


async def create(api, token, input):
    return (await api.data(CREATE_CUSTOMER, {"input": input}, token=token))["createCustomer"]


async def test_invalid_email(api, org, unchanged):
    snapshot, check = unchanged
    await snapshot()
    result = await create(api, org.token, {"email": "not-an-email"})
    assert result["__typename"] == "ValidationError"
    assert result["code"] == "VALIDATION_ERROR"
    assert result["fields"][0]["path"] == ["email"]
    assert result["fields"][0]["code"] == "invalid_email"
    await check()


async def test_every_bad_field_is_reported_with_its_path(api, org, unchanged):
    snapshot, check = unchanged
    await snapshot()
    result = await create(
        api,
        org.token,
        {
            "type": "BUSINESS",
            "email": "bad",
            "name": "x" * 300,
            "billingAddress": {"country": "USA"},
            "owner": {"email": "also bad"},
            "members": [{"email": "ok@example.com"}, {"email": "@nope"}],
        },
    )
    assert result["__typename"] == "ValidationError"
    paths = {tuple(f["path"]) for f in result["fields"]}
    assert paths == {
        ("email",),
        ("name",),
        ("billingAddress", "country"),
        ("owner", "email"),
        ("members", "1", "email"),
    }
    await check()


async def test_business_needs_owner_and_individual_takes_no_members(api, org, unchanged):
    snapshot, check = unchanged
    await snapshot()
    business = await create(api, org.token, {"type": "BUSINESS", "email": "b@example.com"})
    assert business["__typename"] == "ValidationError"
    assert business["fields"][0]["path"] == ["owner"]
    individual = await create(api, org.token, {"email": "i@example.com", "members": [{"email": "m@example.com"}]})
    assert individual["__typename"] == "ValidationError"
    assert individual["fields"][0]["path"] == ["members"]
    await check()


async def test_duplicate_external_id(api, org, unchanged):
    await create_customer(api, org.token, externalId="user_1")
    snapshot, check = unchanged
    await snapshot()
    result = await create(api, org.token, {"email": "other@example.com", "externalId": "user_1"})
    assert result["__typename"] == "DuplicateExternalIdError"
    assert result["code"] == "DUPLICATE_EXTERNAL_ID"
    assert result["externalId"] == "user_1"
    # a business with members is rolled back whole
    business = await create(
        api,
        org.token,
        {"type": "BUSINESS", "email": "b@example.com", "externalId": "user_1", "owner": {"email": "o@example.com"}},
    )
    assert business["__typename"] == "DuplicateExternalIdError"
    # and on update
    other = await create_customer(api, org.token, email="third@example.com", externalId="user_3")
    await snapshot()
    update = (await api.data(UPDATE_CUSTOMER, {"input": {"id": other["id"], "externalId": "user_1", "name": "Changed"}}, token=org.token))[
        "updateCustomer"
    ]
    assert update["__typename"] == "DuplicateExternalIdError"
    await check()
    still = (await api.data(LIST_CUSTOMERS, {"first": 10, "filter": {"externalId": "user_3"}}, token=org.token))["customers"]
    assert still["edges"][0]["node"]["name"] is None


async def test_duplicate_member_email(api, org, unchanged):
    snapshot, check = unchanged
    await snapshot()
    in_input = await create(
        api,
        org.token,
        {
            "type": "BUSINESS",
            "email": "b@example.com",
            "owner": {"email": "same@example.com"},
            "members": [{"email": "SAME@example.com"}],
        },
    )
    assert in_input["__typename"] == "DuplicateMemberEmailError"
    assert in_input["path"] == ["members", "0", "email"]
    await check()

    business = await create_business(api, org.token)
    await snapshot()
    added = (await api.data(ADD_MEMBER, {"input": {"customerId": business["id"], "email": "M0@acme.example"}}, token=org.token))["addMember"]
    assert added["__typename"] == "DuplicateMemberEmailError"
    assert added["code"] == "DUPLICATE_MEMBER_EMAIL"
    await check()


async def test_unknown_foreign_and_wrong_type_ids(api, org, other_org, unchanged):
    import uuid

    theirs = await create_customer(api, other_org.token, email="theirs@example.com")
    mine = await create_customer(api, org.token, email="mine@example.com")
    snapshot, check = unchanged
    await snapshot()
    unknown = to_global_id("Customer", uuid.uuid4())
    wrong_type = mine["owner"]["id"]  # a Member id where a Customer id is expected
    for bad_id in (unknown, theirs["id"], wrong_type, "garbage!!", ""):
        result = (await api.data(UPDATE_CUSTOMER, {"input": {"id": bad_id, "name": "Hijacked"}}, token=org.token))["updateCustomer"]
        assert result["__typename"] == "NotFoundError", (bad_id, result)
        assert result["code"] == "NOT_FOUND"
        deleted = (await api.data(DELETE_CUSTOMER, {"input": {"id": bad_id}}, token=org.token))["deleteCustomer"]
        assert deleted["__typename"] == "NotFoundError"
    await check()


@pytest.mark.parametrize(
    "metadata, path",
    [
        ({f"k{i}": i for i in range(51)}, ["metadata"]),
        ({"k" * 41: "v"}, ["metadata", "k" * 41]),
        ({"note": "x" * 501}, ["metadata", "note"]),
        ({"nested": {"a": 1}}, ["metadata", "nested"]),
        ({"list": [1, 2]}, ["metadata", "list"]),
        ("a string", ["metadata"]),
    ],
)
async def test_oversized_or_malformed_metadata(api, org, unchanged, metadata, path):
    snapshot, check = unchanged
    await snapshot()
    result = await create(api, org.token, {"email": "m@example.com", "metadata": metadata})
    assert result["__typename"] == "ValidationError"
    assert result["fields"][0]["path"] == path
    await check()


async def test_metadata_at_the_limits_is_accepted(api, org):
    metadata = {f"{i:02d}" + "k" * 38: "v" * 500 for i in range(50)}
    customer = await create_customer(api, org.token, metadata=metadata)
    assert customer["metadata"] == metadata


async def test_over_deep_query_is_refused(api, org, unchanged):
    snapshot, check = unchanged
    await snapshot()
    nested = "id"
    for _ in range(6):
        nested = f"members {{ customer {{ {nested} }} }}"
    query = (
        'mutation { createCustomer(input: {email: "deep@example.com"}) '
        f"{{ ... on CreateCustomerSuccess {{ customer {{ {nested} }} }} }} }}"
    )
    body = await api.gql(query, token=org.token)
    assert body["data"] is None
    assert "exceeds maximum operation depth" in body["errors"][0]["message"]
    await check()


async def test_over_wide_query_is_refused(api, org, unchanged):
    snapshot, check = unchanged
    await snapshot()
    aliases = " ".join(f"c{i}: createCustomer(input: {{email: \"w{i}@example.com\"}}) {{ __typename }}" for i in range(31))
    body = await api.gql(f"mutation {{ {aliases} }}", token=org.token)
    assert body["data"] is None
    assert "aliases" in body["errors"][0]["message"].lower()
    many_tokens = "{ " + " ".join("__typename" for _ in range(2100)) + " }"
    body = await api.gql(many_tokens, token=org.token)
    assert body["data"] is None
    assert "token" in body["errors"][0]["message"].lower()
    await check()


async def test_malformed_token_writes_nothing(api, org, unchanged):
    snapshot, check = unchanged
    await snapshot()
    response = await api.client.post(
        "/graphql",
        json={"query": CREATE_CUSTOMER, "variables": {"input": {"email": "x@example.com"}}},
        headers={"Authorization": "Bearer kassa_oat_broken"},
    )
    assert response.status_code == 401
    assert response.json()["errors"][0]["extensions"]["code"] == "UNAUTHENTICATED"
    await check()


async def test_malformed_request_bodies(api, org):
    not_json = await api.client.post("/graphql", content=b"{nope", headers={"Authorization": f"Bearer {org.token}", "content-type": "application/json"})
    assert not_json.status_code == 400
    no_query = await api.client.post("/graphql", json={"variables": {}}, headers={"Authorization": f"Bearer {org.token}"})
    assert no_query.status_code == 400
    assert no_query.json()["errors"][0]["extensions"]["code"] == "BAD_REQUEST"
