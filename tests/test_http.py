"""HTTP-level behaviour of the GraphQL endpoint."""

from __future__ import annotations


async def test_subscriptions_are_refused_cleanly(api, org):
    response = await api.post("subscription { x }", token=org.token)
    assert response.status_code == 400
    assert response.json()["errors"][0]["extensions"]["code"] == "BAD_REQUEST"


async def test_every_error_has_a_code(api, org):
    syntax = await api.gql("{ customers(first: ", token=org.token)
    assert syntax["errors"][0]["extensions"]["code"] == "GRAPHQL_VALIDATION_FAILED"
    unknown_field = await api.gql("{ nope }", token=org.token)
    assert unknown_field["errors"][0]["extensions"]["code"] == "GRAPHQL_VALIDATION_FAILED"


async def test_node_needs_authentication_even_for_garbage_ids(api):
    body = await api.gql('{ node(id: "garbage") { id } }')
    assert body["errors"][0]["extensions"]["code"] == "UNAUTHENTICATED"


async def test_graphiql_is_served(api):
    response = await api.client.get("/graphql")
    assert response.status_code == 200
    assert "graphiql" in response.text.lower()
