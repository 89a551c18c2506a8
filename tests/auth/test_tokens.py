"""Access tokens: a bad or missing credential gets an authentication error and no data;
a token without the needed scope gets a permission error."""

from __future__ import annotations

import pytest

from app.auth.service import revoke_token
from tests.conftest import as_owner, make_org, table_counts
from tests.operations import CREATE_CUSTOMER, LIST_CUSTOMERS, create_customer

LIST = "{ customers(first: 10) { edges { node { id email } } } }"


async def test_valid_token_reads(api, org):
    await create_customer(api, org.token)
    data = await api.data(LIST, token=org.token)
    assert len(data["customers"]["edges"]) == 1


async def test_missing_token_gets_unauthenticated_and_no_data(api, org):
    await create_customer(api, org.token)
    body = await api.gql(LIST)
    assert body["data"] is None
    assert body["errors"][0]["extensions"]["code"] == "UNAUTHENTICATED"


@pytest.mark.parametrize(
    "header",
    [
        "Bearer",  # no token
        "Basic dXNlcjpwYXNz",  # another scheme
        "Bearer not-a-kassa-token",  # malformed
        "Bearer kassa_oat_" + "x" * 10,  # malformed: too short
        "Bearer kassa_oat_" + "A" * 43,  # well-formed but unknown
        "kassa_oat_" + "A" * 43,  # no scheme
    ],
)
async def test_bad_credentials_get_401_and_no_data(api, org, header):
    await create_customer(api, org.token)
    response = await api.client.post("/graphql", json={"query": LIST}, headers={"Authorization": header})
    assert response.status_code == 401
    body = response.json()
    assert body["data"] is None
    assert body["errors"][0]["extensions"]["code"] == "UNAUTHENTICATED"
    assert "email" not in response.text


async def test_revoked_token_is_refused(api, org, session_factory):
    async with session_factory() as session, as_owner(session):
        assert await revoke_token(session, org.token_id)
        await session.commit()
    response = await api.post(LIST, token=org.token)
    assert response.status_code == 401
    assert response.json()["errors"][0]["message"] == "Access token has been revoked"


async def test_token_without_scope_gets_forbidden_and_changes_nothing(api, session_factory):
    reader = await make_org(session_factory, name="Reader", scopes=["customers:read"])
    before = await table_counts(session_factory)
    body = await api.gql(CREATE_CUSTOMER, {"input": {"email": "x@example.com"}}, token=reader.token)
    assert body["data"] is None
    assert body["errors"][0]["extensions"]["code"] == "FORBIDDEN"
    assert "customers:write" in body["errors"][0]["message"]
    assert await table_counts(session_factory) == before
    # the read scope it has works
    assert (await api.data(LIST_CUSTOMERS, {"first": 5}, token=reader.token))["customers"]["totalCount"] == 0


async def test_organization_query_needs_its_scope(api, session_factory):
    reader = await make_org(session_factory, name="Reader", scopes=["customers:read"])
    body = await api.gql("{ organization { name } }", token=reader.token)
    assert body["errors"][0]["extensions"]["code"] == "FORBIDDEN"
    full = await make_org(session_factory, name="Full")
    assert (await api.data("{ organization { name } }", token=full.token))["organization"]["name"] == "Full"


async def test_every_root_field_states_its_scope():
    from schema import schema

    for root in (schema.schema_converter.type_map["Query"], schema.schema_converter.type_map["Mutation"]):
        for field in root.definition.fields:
            if field.name in {"node", "nodes"}:
                assert "read scope" in field.description
            else:
                assert "Requires the `" in field.description, field.name


async def test_introspection_needs_no_token(api):
    body = await api.gql("{ __schema { queryType { name } } }")
    assert body["data"]["__schema"]["queryType"]["name"] == "Query"


async def test_token_stops_working_when_the_clock_passes_its_expiry(api, session_factory, clock):
    from datetime import timedelta

    from app.auth.service import issue_token

    org = await make_org(session_factory)
    async with session_factory() as session, as_owner(session):
        _, expiring = await issue_token(session, org.id, expires_at=clock.now() + timedelta(hours=1))
        await session.commit()
    assert (await api.post(LIST, token=expiring)).status_code == 200
    clock.advance(timedelta(minutes=59, seconds=59))
    assert (await api.post(LIST, token=expiring)).status_code == 200
    clock.advance(timedelta(seconds=1))
    response = await api.post(LIST, token=expiring)
    assert response.status_code == 401
    assert response.json()["errors"][0]["message"] == "Access token has expired"
    assert "customers" not in (response.json().get("data") or {})
    assert (await api.post(LIST, token=org.token)).status_code == 200  # a token without expiry goes on
