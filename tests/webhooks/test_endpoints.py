"""Managing webhook endpoints: URL rules, secrets shown once, isolation, bad input."""

from __future__ import annotations

import pytest
from dataclasses import replace

from app.auth.service import operator_scope
from app.auth.subject import Subject
from app.kit.errors import ValidationFailed
from app.webhooks.policies import resolve_public_addresses
from app.webhooks.service import EndpointDraft, create_endpoint
from tests.conftest import make_org, table_counts, tenant_factory
from tests.operations import create_customer

CREATE = """
mutation($input: CreateWebhookEndpointInput!) {
  createWebhookEndpoint(input: $input) {
    __typename
    ... on CreateWebhookEndpointSuccess { secret endpoint { id url eventTypes enabled description } }
    ... on ValidationError { fields { path message code } }
  }
}
"""

LIST = "{ webhookEndpoints(first: 10) { edges { node { id url eventTypes enabled } } } }"


async def create(api, token, **input):
    values = {"url": "https://hooks.example.com/kassa", "eventTypes": ["CUSTOMER_CREATED"]}
    values.update(input)
    return (await api.data(CREATE, {"input": values}, token=token))["createWebhookEndpoint"]


@pytest.mark.parametrize(
    "url",
    [
        "http://hooks.example.com/x",  # not https
        "https://127.0.0.1/x",  # loopback
        "https://localhost/x",
        "https://[::1]/x",
        "https://10.1.2.3/x",  # private
        "https://192.168.0.10/x",
        "https://172.16.5.4/x",
        "https://169.254.169.254/latest/meta-data",  # link-local (cloud metadata)
        "https://[fe80::1]/x",
        "https://0.0.0.0/x",
        "ftp://example.com/x",
        "https://user:pass@example.com/x",
        "not a url",
    ],
)
async def test_production_refuses_unsafe_urls(session_factory, org, url):
    subject = Subject(scope=operator_scope(org.id), token_id=org.token_id, scopes=frozenset())
    async with tenant_factory(session_factory, org.id)() as session:
        with pytest.raises(ValidationFailed) as error:
            await create_endpoint(session, subject, EndpointDraft(url=url, event_types=["customer.created"]), development=False)
        await session.rollback()
    assert error.value.issues[0].path == ("url",)
    assert error.value.issues[0].code == "url_not_allowed"


async def test_delivery_time_check_resolves_the_host_again():
    with pytest.raises(ValidationFailed):
        await resolve_public_addresses("https://localhost:8443/hooks", development=False)
    with pytest.raises(ValidationFailed):
        await resolve_public_addresses("https://no-such-host.invalid/hooks", development=False)
    assert await resolve_public_addresses("http://localhost:8443/hooks", development=True) == []


async def test_production_api_refuses_and_writes_nothing(api, org, settings, session_factory, redis):
    import httpx

    from app.server import create_app

    production = create_app(replace(settings, environment="production"), session_factory=session_factory, redis=redis)
    before = await table_counts(session_factory)
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=production), base_url="http://kassa.test") as client:
        response = await client.post(
            "/graphql",
            json={"query": CREATE, "variables": {"input": {"url": "https://127.0.0.1:9/x", "eventTypes": ["CUSTOMER_CREATED"]}}},
            headers={"Authorization": f"Bearer {org.token}"},
        )
    result = response.json()["data"]["createWebhookEndpoint"]
    assert result["__typename"] == "ValidationError"
    assert result["fields"][0]["code"] == "url_not_allowed"
    assert await table_counts(session_factory) == before


async def test_secret_is_shown_once_and_rotates(api, org):
    created = await create(api, org.token, description="main")
    assert created["__typename"] == "CreateWebhookEndpointSuccess"
    assert created["secret"].startswith("whsec_")
    assert created["endpoint"]["description"] == "main"
    # no read of the endpoint exposes the secret
    body = await api.gql("{ webhookEndpoints(first: 5) { edges { node { secret } } } }", token=org.token)
    assert body["errors"][0]["extensions"]["code"] == "GRAPHQL_VALIDATION_FAILED"
    rotated = (
        await api.data(
            "mutation($id: ID!) { rotateWebhookEndpointSecret(input: {id: $id}) { __typename ... on RotateWebhookEndpointSecretSuccess { secret } } }",
            {"id": created["endpoint"]["id"]},
            token=org.token,
        )
    )["rotateWebhookEndpointSecret"]
    assert rotated["secret"].startswith("whsec_")
    assert rotated["secret"] != created["secret"]


async def test_update_and_delete(api, org):
    created = await create(api, org.token)
    endpoint_id = created["endpoint"]["id"]
    updated = (
        await api.data(
            "mutation($id: ID!) { updateWebhookEndpoint(input: {id: $id, eventTypes: [MEMBER_CREATED, MEMBER_DELETED], enabled: false}) { __typename ... on UpdateWebhookEndpointSuccess { endpoint { eventTypes enabled } } } }",
            {"id": endpoint_id},
            token=org.token,
        )
    )["updateWebhookEndpoint"]
    assert updated["endpoint"] == {"eventTypes": ["MEMBER_CREATED", "MEMBER_DELETED"], "enabled": False}
    deleted = (
        await api.data(
            "mutation($id: ID!) { deleteWebhookEndpoint(input: {id: $id}) { __typename } }", {"id": endpoint_id}, token=org.token
        )
    )["deleteWebhookEndpoint"]
    assert deleted["__typename"] == "DeleteWebhookEndpointSuccess"
    assert (await api.data(LIST, token=org.token))["webhookEndpoints"]["edges"] == []


async def test_bad_endpoint_input(api, org, session_factory):
    before = await table_counts(session_factory)
    empty = await create(api, org.token, eventTypes=[])
    assert empty["__typename"] == "ValidationError"
    assert empty["fields"][0]["path"] == ["eventTypes"]
    body = await api.gql(CREATE, {"input": {"url": "https://x.example", "eventTypes": ["NOT_A_TYPE"]}}, token=org.token)
    assert body["data"] is None and body["errors"]
    assert await table_counts(session_factory) == before


async def test_webhooks_are_isolated_per_organization(api, org, other_org):
    created = await create(api, org.token)
    await create_customer(api, org.token)
    assert (await api.data(LIST, token=other_org.token))["webhookEndpoints"]["edges"] == []
    events = (await api.data("{ webhookEvents(first: 10) { edges { node { id } } } }", token=other_org.token))["webhookEvents"]
    assert events["edges"] == []
    node = (await api.data("query($id: ID!) { node(id: $id) { id } }", {"id": created["endpoint"]["id"]}, token=other_org.token))
    assert node["node"] is None
    for mutation in ("updateWebhookEndpoint(input: {id: $id, enabled: false})", "deleteWebhookEndpoint(input: {id: $id})", "rotateWebhookEndpointSecret(input: {id: $id})"):
        result = await api.data(f"mutation($id: ID!) {{ r: {mutation} {{ __typename }} }}", {"id": created["endpoint"]["id"]}, token=other_org.token)
        assert result["r"]["__typename"] == "NotFoundError"
    mine = await api.data("{ webhookEvents(first: 10) { edges { node { type } } } }", token=org.token)
    assert {e["node"]["type"] for e in mine["webhookEvents"]["edges"]} == {"CUSTOMER_CREATED", "MEMBER_CREATED"}


async def test_webhook_scopes(api, session_factory):
    reader = await make_org(session_factory, name="Reader", scopes=["webhooks:read"])
    body = await api.gql(CREATE, {"input": {"url": "https://x.example", "eventTypes": ["CUSTOMER_CREATED"]}}, token=reader.token)
    assert body["errors"][0]["extensions"]["code"] == "FORBIDDEN"
    assert (await api.data(LIST, token=reader.token))["webhookEndpoints"]["edges"] == []
