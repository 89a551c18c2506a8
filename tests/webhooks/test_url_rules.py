"""Webhook URL rules: IPv6 forms that embed an IPv4 address are judged by it; a malformed URL is a
typed validation error; the worker connects to the address it checked (no DNS rebinding)."""

from __future__ import annotations

import asyncio
import socket
import ssl
from dataclasses import replace

import httpx
import pytest
import trustme
from sqlalchemy import select

from app.auth.service import operator_scope
from app.kit.ids import from_global_id
from app.models import WebhookDeliveryAttempt, WebhookEndpoint
from app.server import create_app
from app.webhooks import policies
from workers.webhook_delivery import deliver_endpoint, webhook_client
from tests.conftest import Api, as_owner, make_org, table_counts
from tests.operations import create_customer
from tests.webhooks.receiver import Receiver
from tests.webhooks.test_delivery import make_endpoint

# a throwaway CA, made for the test run, and a certificate for hooks.example.test signed by it
TEST_CA = trustme.CA()
HOOKS_CERT = TEST_CA.issue_cert("hooks.example.test")

CREATE = """
mutation($input: CreateWebhookEndpointInput!) {
  createWebhookEndpoint(input: $input) {
    __typename
    ... on CreateWebhookEndpointSuccess { endpoint { id url } }
    ... on ValidationError { fields { path message code } }
  }
}
"""
UPDATE = """
mutation($input: UpdateWebhookEndpointInput!) {
  updateWebhookEndpoint(input: $input) {
    __typename
    ... on UpdateWebhookEndpointSuccess { endpoint { id url } }
    ... on ValidationError { fields { path message code } }
  }
}
"""

EMBEDDED_UNSAFE = [
    "https://[::127.0.0.1]/",  # IPv4-compatible loopback
    "https://[::7f00:1]/",  # the same, written in hex
    "https://[::a00:1]/",  # IPv4-compatible 10.0.0.1
    "https://[::ffff:127.0.0.1]/",  # IPv4-mapped loopback
    "https://[::ffff:a9fe:a9fe]/",  # IPv4-mapped 169.254.169.254 (cloud metadata)
    "https://[64:ff9b::7f00:1]/",  # NAT64 loopback
    "https://[64:ff9b::a9fe:a9fe]/",  # NAT64 metadata
    "https://[64:ff9b::c0a8:1]/",  # NAT64 192.168.0.1
    "https://[64:ff9b:1::808:808]/",  # local-use NAT64 (never global, whatever it embeds)
    "https://[2002:7f00:1::]/",  # 6to4 loopback
    "https://[2002:a9fe:a9fe::]/",  # 6to4 metadata
    "https://[2002:a00:1::1]/",  # 6to4 10.0.0.1
    "https://[2001:0:7f00:1::808:808]/",  # Teredo, server loopback
    "https://[2001:0:808:808::f5ff:fffe]/",  # Teredo, client 10.0.0.1 (stored inverted)
    "https://[2607:f8b0::5efe:a00:1]/",  # ISATAP interface id, 10.0.0.1
    "https://[2607:f8b0::200:5efe:7f00:1]/",  # ISATAP (universal bit), loopback
]
EMBEDDED_PUBLIC = [
    "https://[64:ff9b::808:808]/",  # NAT64 8.8.8.8
    "https://[2002:808:808::1]/",  # 6to4 8.8.8.8
    "https://[::ffff:8.8.8.8]/",  # IPv4-mapped 8.8.8.8
    "https://[2607:f8b0:4004:800::200e]/",  # plain global IPv6
]


async def production_api(settings, session_factory, redis) -> httpx.AsyncClient:
    app = create_app(replace(settings, environment="production"), session_factory=session_factory, redis=redis)
    return httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://kassa.test")


async def test_ipv6_forms_are_judged_by_the_ipv4_they_embed(settings, session_factory, redis, org):
    before = await table_counts(session_factory)
    async with await production_api(settings, session_factory, redis) as client:
        api = Api(client)
        for url in EMBEDDED_UNSAFE:
            result = (await api.data(CREATE, {"input": {"url": url, "eventTypes": ["CUSTOMER_CREATED"]}}, token=org.token))[
                "createWebhookEndpoint"
            ]
            assert result["__typename"] == "ValidationError", (url, result)
            assert [(f["path"], f["code"]) for f in result["fields"]] == [(["url"], "url_not_allowed")], (url, result)
            assert "non-public address" in result["fields"][0]["message"]
        assert await table_counts(session_factory) == before
        for url in EMBEDDED_PUBLIC:
            result = (await api.data(CREATE, {"input": {"url": url, "eventTypes": ["CUSTOMER_CREATED"]}}, token=org.token))[
                "createWebhookEndpoint"
            ]
            assert result["__typename"] == "CreateWebhookEndpointSuccess", (url, result)


MALFORMED = [
    ("https://example.com:65536/", "invalid port"),
    ("https://example.com:0/", "invalid port"),
    ("https://example.com:http/", "invalid port"),
    ("https://a..b/", "empty label"),
    ("https://.example.com/", "empty label"),
    (f"https://{'a' * 64}.example.com/", "longer than 63"),
    ("https://-bad.example.com/", "invalid label"),
    ("https://bad-.example.com/", "invalid label"),
    ("https://exa mple.com/", "invalid label"),
    (f"https://{'.'.join(['a' * 60] * 5)}/", "longer than 253"),
    ("https://bü..cher.example/", "empty label"),
    ("https://\u2603.example/", "invalid international label"),
    ("https://xn--a.example/", "invalid international label"),
    ("https://[::1/", "not a valid URL"),
]


@pytest.mark.parametrize("production", [False, True], ids=["development", "production"])
async def test_malformed_urls_are_validation_errors(api, settings, session_factory, redis, org, production):
    """Both mutations, both modes: a ValidationError on `url` with the reason, never a 500."""
    client = await production_api(settings, session_factory, redis) if production else None
    target = Api(client) if client else api
    try:
        good = (await target.data(CREATE, {"input": {"url": "https://[2607:f8b0::1]/", "eventTypes": ["CUSTOMER_CREATED"]}}, token=org.token))[
            "createWebhookEndpoint"
        ]
        assert good["__typename"] == "CreateWebhookEndpointSuccess", good
        endpoint_id = good["endpoint"]["id"]
        for url, reason in MALFORMED:
            for operation, variables, field in (
                (CREATE, {"input": {"url": url, "eventTypes": ["CUSTOMER_CREATED"]}}, "createWebhookEndpoint"),
                (UPDATE, {"input": {"id": endpoint_id, "url": url}}, "updateWebhookEndpoint"),
            ):
                body = await target.gql(operation, variables, token=org.token)
                assert not body.get("errors"), (url, field, body)
                result = body["data"][field]
                assert result["__typename"] == "ValidationError", (url, field, result)
                assert [f["path"] for f in result["fields"]] == [["url"]], (url, result)
                assert reason in result["fields"][0]["message"], (url, result)
        # the endpoint kept its URL
        node = await target.data("query($id: ID!) { node(id: $id) { ... on WebhookEndpoint { url } } }", {"id": endpoint_id}, token=org.token)
        assert node["node"]["url"] == "https://[2607:f8b0::1]/"
    finally:
        if client is not None:
            await client.aclose()


async def test_international_host_names_are_accepted(api, org):
    result = (await api.data(CREATE, {"input": {"url": "https://bücher.example/hooks", "eventTypes": ["CUSTOMER_CREATED"]}}, token=org.token))[
        "createWebhookEndpoint"
    ]
    assert result["__typename"] == "CreateWebhookEndpointSuccess", result


# -- pinning: the worker connects to the address it checked ------------------------------------


@pytest.fixture
def tls_receivers():
    """A TLS receiver on 127.0.0.2 (the address the check approves) and one on 127.0.0.3 (an
    internal service), same port, same certificate: only the address tells them apart."""
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    HOOKS_CERT.configure_cert(context)
    public = Receiver(host="127.0.0.2", tls=context)
    internal = Receiver(host="127.0.0.3", port=public.server.server_address[1], tls=context)
    yield public, internal
    public.close()
    internal.close()


def _rebinding_resolver(monkeypatch, host: str, answers: list[list[str]]) -> list[list[str]]:
    """The event loop's resolver answers `host` with `answers` in turn (the last one forever);
    returns the answers given so far. Every other name resolves as usual."""
    loop = asyncio.get_running_loop()
    original = loop.getaddrinfo
    given: list[list[str]] = []

    async def getaddrinfo(name, port, *args, **kwargs):
        if (name.decode() if isinstance(name, bytes) else name) != host:  # anyio passes bytes
            return await original(name, port, *args, **kwargs)
        addresses = answers[min(len(given), len(answers) - 1)]
        given.append(addresses)
        return [(socket.AF_INET, socket.SOCK_STREAM, 6, "", (a, port)) for a in addresses]

    monkeypatch.setattr(loop, "getaddrinfo", getaddrinfo)
    # 127.0.0.2 stands for a public address in these tests
    monkeypatch.setattr(policies, "is_public", lambda address, _is_public=policies.is_public: address == "127.0.0.2" or _is_public(address))
    return given


async def _deliver(live, endpoint_global_id: str) -> list[WebhookDeliveryAttempt]:
    settings = live.worker_settings(environment="production")
    verify = ssl.create_default_context()
    TEST_CA.configure_trust(verify)
    _type, endpoint_id = from_global_id(endpoint_global_id)
    async with live.session_factory() as session, as_owner(session):
        organization_id = (await session.get(WebhookEndpoint, endpoint_id)).organization_id
    async with webhook_client(settings, verify=verify) as client:
        await deliver_endpoint(live.session_factory, operator_scope(organization_id), endpoint_id, client=client, settings=settings, queue=live.redis)
    async with live.session_factory() as session, as_owner(session):
        return list((await session.scalars(select(WebhookDeliveryAttempt).order_by(WebhookDeliveryAttempt.attempted_at))).all())


async def test_delivery_connects_to_the_address_it_checked(live, tls_receivers, monkeypatch):
    """DNS rebinding: the name first resolves to a public address, then to an internal one. The
    request goes to the checked address, with the URL's host in Host, SNI and the certificate."""
    public, internal = tls_receivers
    port = public.server.server_address[1]
    org = await make_org(live.session_factory)
    endpoint = await make_endpoint(live, org.token, f"https://hooks.example.test:{port}/hooks", ["CUSTOMER_CREATED"])
    await create_customer(live.api, org.token)
    given = _rebinding_resolver(monkeypatch, "hooks.example.test", [["127.0.0.2"], ["127.0.0.3"]])

    attempts = await _deliver(live, endpoint["endpoint"]["id"])

    assert [a.succeeded for a in attempts] == [True], [(a.status_code, a.error) for a in attempts]
    assert internal.requests == []
    assert len(public.requests) == 1
    assert public.requests[0].headers["host"] == f"hooks.example.test:{port}"
    assert given == [["127.0.0.2"]]  # resolved once, for the check and the connection


async def test_every_resolved_address_is_checked_at_delivery(live, tls_receivers, monkeypatch):
    public, internal = tls_receivers
    port = public.server.server_address[1]
    org = await make_org(live.session_factory)
    endpoint = await make_endpoint(live, org.token, f"https://hooks.example.test:{port}/hooks", ["CUSTOMER_CREATED"])
    await create_customer(live.api, org.token)
    _rebinding_resolver(monkeypatch, "hooks.example.test", [["127.0.0.2", "127.0.0.3"]])

    attempts = await _deliver(live, endpoint["endpoint"]["id"])

    assert [a.succeeded for a in attempts] == [False]
    assert "non-public address (127.0.0.3)" in attempts[0].error
    assert public.requests == [] and internal.requests == []


async def test_the_certificate_is_checked_against_the_url_host(live, tls_receivers, monkeypatch):
    """Connecting to an address does not weaken TLS: a certificate for another name is refused."""
    public, internal = tls_receivers
    port = public.server.server_address[1]
    org = await make_org(live.session_factory)
    endpoint = await make_endpoint(live, org.token, f"https://other.example.test:{port}/hooks", ["CUSTOMER_CREATED"])
    await create_customer(live.api, org.token)
    _rebinding_resolver(monkeypatch, "other.example.test", [["127.0.0.2"]])

    attempts = await _deliver(live, endpoint["endpoint"]["id"])

    assert [a.succeeded for a in attempts] == [False]
    assert "CERTIFICATE_VERIFY_FAILED" in attempts[0].error or "certificate" in attempts[0].error.lower()
    assert public.requests == []
