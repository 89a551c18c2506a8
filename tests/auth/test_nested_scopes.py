"""Scopes hold through nested fields: every GraphQL type belongs to a scope, and a field that leads
from one scope into another needs the other one too (null there and a FORBIDDEN error without it,
the rest of the response intact). The walk below finds every such edge in the live schema, so an
edge added later is covered without touching this file."""

from __future__ import annotations

from collections import deque

import pytest
import strawberry
from graphql import GraphQLInterfaceType, GraphQLObjectType, GraphQLUnionType, get_named_type, is_required_argument

from app.auth.scopes import Scope
from app.auth.service import issue_token
from app.catalog import scopes as catalog_scopes
from app.customers import scopes as customers_scopes
from app.events import scopes as events_scopes
from app.meters import scopes as meters_scopes
from app.organizations import scopes as organizations_scopes
from app.subscriptions import scopes as subscriptions_scopes
from app.webhooks import scopes as webhooks_scopes
from schema import schema
from schema.meters.types import Meter
from schema.kit.scopes import RequireScope, ScopeDeclarationError, guard_nested_scopes
from tests.catalog.operations import FIXED, create_product
from tests.discounts.operations import create_discount
from tests.meters.helpers import INGEST, create_meter
from tests.operations import create_business, create_customer
from tests.conftest import as_owner
from tests.checkout_flow.operations import paid_order

GRAPHQL = schema._schema
ROOTS = {root.name for root in (GRAPHQL.query_type, GRAPHQL.mutation_type, GRAPHQL.subscription_type) if root is not None}
# Root query fields the walk may start from: lists (with `first`) and argument-less fields.
# (`checkoutSession` answers a checkout's client secret only, never an access token.)
STARTS = {
    name: field
    for name, field in GRAPHQL.query_type.fields.items()
    if (not field.args or "first" in field.args) and name != "checkoutSession"
}


def _object_types():
    for name, graphql_type in GRAPHQL.type_map.items():
        if not name.startswith("__") and name not in ROOTS and isinstance(graphql_type, (GraphQLObjectType, GraphQLInterfaceType)):
            yield name, graphql_type


def _possible(named) -> list:
    if isinstance(named, (GraphQLInterfaceType, GraphQLUnionType)):
        return list(GRAPHQL.get_possible_types(named))
    return [named]


def cross_scope_edges() -> list[tuple[str, str, Scope, Scope]]:
    """(parent type, field, parent's scope, field's scope) for every field whose type belongs to
    another scope than its parent, found from the type -> scope map alone."""
    scopes = schema.type_scopes
    edges = []
    for name, parent in _object_types():
        if not isinstance(parent, GraphQLObjectType):
            continue  # interfaces are checked through their implementations
        for field_name, field in parent.fields.items():
            named = get_named_type(field.type)
            if named.name not in scopes:
                continue  # a scalar or an enum
            child = {scopes[t.name] for t in _possible(named)} | {scopes[named.name]}
            child.discard(None)
            assert len(child) <= 1, f"{name}.{field_name} leads into several scopes: {child}"
            if child and child != {scopes[name]}:
                edges.append((name, field_name, scopes[name], child.pop()))
    return edges


def _path_to(target: str, scope: Scope) -> list[tuple[str, str]]:
    """The shortest selection path from a root query field to an object of type `target`, through
    types of `scope` only (so a token with `scope` alone reaches it): (field name, type condition)."""
    scopes = schema.type_scopes
    queue = deque()
    for name, field in STARTS.items():
        named = get_named_type(field.type)
        for concrete in _possible(named):
            if scopes.get(concrete.name) == scope:
                queue.append((concrete, [(name, concrete.name)]))
    seen = set()
    while queue:
        current, path = queue.popleft()
        if current.name == target:
            return path
        if current.name in seen:
            continue
        seen.add(current.name)
        for field_name, field in current.fields.items():
            if any(is_required_argument(arg) for arg in field.args.values()):
                continue
            for concrete in _possible(get_named_type(field.type)):
                if isinstance(concrete, GraphQLObjectType) and scopes.get(concrete.name) == scope:
                    queue.append((concrete, [*path, (field_name, concrete.name)]))
    raise AssertionError(f"no path from a root query field to {target} through {scope.value} types: extend this test's walk")


def _query(path: list[tuple[str, str]], field: str) -> str:
    """`{ a { ... on A { id? b { ... on B { <field> { __typename } __typename } } } } }`"""
    inner = f"__typename {field} {{ __typename }}"
    for name, condition in reversed(path):
        inner = f"{name} {{ __typename ... on {condition} {{ {inner} }} }}"
    return "{ " + inner + " }"


def _walk(data, path: list[tuple[str, str]]) -> list[dict]:
    """The parent objects the query reached (lists flattened)."""
    level = [data]
    for name, condition in path:
        nxt = []
        for item in level:
            value = item.get(name) if item is not None else None
            values = value if isinstance(value, list) else [value]
            nxt.extend(values)
        level = [v for v in nxt if isinstance(v, dict) and v.get("__typename") == condition]
    return level


async def _seed(api, token: str) -> None:
    """One of everything, so that every path of the walk reaches data."""
    meter = await create_meter(api, token, "API calls", [{"condition": {"property": "name", "operator": "EQ", "value": "api_call"}}])
    await api.data(
        "mutation($input: CreateWebhookEndpointInput!) { createWebhookEndpoint(input: $input) { __typename } }",
        {"input": {"url": "http://127.0.0.1:9/hooks", "eventTypes": ["CUSTOMER_CREATED"]}},
        token=token,
    )
    await create_business(api, token, members=1)
    await create_customer(api, token, email="solo@example.com", externalId="solo")
    product = await create_product(api, token, prices=[FIXED, {"meteredUnit": {"meterId": meter["id"], "unitAmount": "1"}}])
    await create_discount(api, token, productIds=[product["id"]])
    # The product is monthly (create_product's default): its paid order starts a subscription, so
    # every order has one (Order.subscription) and the subscription its order, customer and product.
    checkout = await paid_order(api, token, product)
    subscriptions = await api.data("{ subscriptions(first: 10) { nodes { checkoutId } } }", token=token)
    assert subscriptions["subscriptions"]["nodes"] == [{"checkoutId": checkout["id"]}], subscriptions
    ingested = await api.data(
        INGEST, {"input": {"events": [{"name": "api_call", "externalCustomerId": "acme", "externalId": "e1"}]}}, token=token
    )
    assert ingested["ingestEvents"]["__typename"] == "IngestEventsSuccess", ingested


async def _token(session_factory, organization_id, scopes: set[Scope]) -> str:
    async with session_factory() as session, as_owner(session):
        _row, plain = await issue_token(session, organization_id, scopes=sorted(s.value for s in scopes))
        await session.commit()
    return plain


def test_every_type_belongs_to_a_scope():
    """Each object, interface and union type has a scope (None only for the shared building blocks
    of schema/kit), and the domains are the documented ones."""
    scopes = schema.type_scopes
    for name, graphql_type in GRAPHQL.type_map.items():
        if name.startswith("__") or name in ROOTS or not isinstance(graphql_type, (GraphQLObjectType, GraphQLInterfaceType, GraphQLUnionType)):
            continue
        assert name in scopes, name
        if scopes[name] is None:
            module = graphql_type.extensions["strawberry-definition"].origin.__module__ if "strawberry-definition" in graphql_type.extensions else ""
            assert module.startswith("schema.kit") or name in {"Node", "Error"}, f"{name} ({module}) has no scope"
    expected = {
        "Customer": customers_scopes.READ, "IndividualCustomer": customers_scopes.READ, "BusinessCustomer": customers_scopes.READ,
        "Member": customers_scopes.READ, "Product": catalog_scopes.READ, "ProductPrice": catalog_scopes.READ,
        "MeteredUnitPrice": catalog_scopes.READ, "Meter": meters_scopes.READ, "CustomerMeter": meters_scopes.READ,
        "BillingStatus": meters_scopes.READ, "QuotaCheck": meters_scopes.READ, "Event": events_scopes.READ,
        "WebhookEndpoint": webhooks_scopes.READ, "WebhookEvent": webhooks_scopes.READ, "WebhookDelivery": webhooks_scopes.READ,
        "Organization": organizations_scopes.READ, "CustomerConnection": customers_scopes.READ, "MeterEdge": meters_scopes.READ,
        "Subscription": subscriptions_scopes.READ, "BillingEntry": subscriptions_scopes.READ, "SubscriptionConnection": subscriptions_scopes.READ,
    }
    assert {name: scopes[name] for name in expected} == expected


@strawberry.type(description="A type of a package without a scope.")
class Stray:
    @strawberry.field(description="x")
    def name(self) -> str:
        return "x"


@strawberry.type(description="A price whose meter field is non-null.")
class LeakyPrice:
    @strawberry.field(description="x")
    def meter(self) -> Meter:
        raise AssertionError


Stray.__module__ = "schema.nowhere.types"  # a package that declares no READ_SCOPE
LeakyPrice.__module__ = "schema.catalog.types"


@strawberry.type(description="x")
class StrayQuery:
    @strawberry.field(description="x")
    def stray(self) -> Stray:
        raise AssertionError


@strawberry.type(description="x")
class LeakyQuery:
    @strawberry.field(description="x")
    def price(self) -> LeakyPrice:
        raise AssertionError


def test_a_type_without_a_scope_or_a_non_null_edge_is_refused():
    with pytest.raises(ScopeDeclarationError, match="Stray"):
        guard_nested_scopes(strawberry.Schema(query=StrayQuery))
    with pytest.raises(ScopeDeclarationError, match="must be nullable"):
        guard_nested_scopes(strawberry.Schema(query=LeakyQuery))


def test_root_fields_need_the_scope_of_what_they_return():
    """A root query field needs its type's read scope; a mutation's payload belongs to the
    mutation's own domain (a write scope reads what its mutation returns, nothing further)."""
    scopes = schema.type_scopes
    for root_name in ROOTS:
        for field in schema.schema_converter.type_map[root_name].definition.fields:
            if field.name in {"node", "nodes"}:
                continue
            required = [e.scope for e in field.extensions if isinstance(e, RequireScope)]
            assert len(required) == 1, field.name
            returned = scopes[get_named_type(GRAPHQL.get_type(root_name).fields[schema.config.name_converter.get_graphql_name(field)].type).name]
            assert returned is not None and returned.value.split(":")[0] == required[0].value.split(":")[0], (field.name, returned, required)


def test_there_are_cross_scope_edges_and_each_is_guarded():
    edges = cross_scope_edges()
    names = {(parent, field) for parent, field, _, _ in edges}
    # the ones known today (the walk finds new ones by itself)
    assert {("MeteredUnitPrice", "meter"), ("IndividualCustomer", "meters"), ("BusinessCustomer", "meters")} <= names
    for parent, field, _, child in edges:
        graphql_field = GRAPHQL.type_map[parent].fields[field]
        assert f"`{child.value}`" in graphql_field.description, (parent, field)


async def test_every_cross_scope_edge_is_forbidden_without_the_childs_scope(api, org, session_factory):
    await _seed(api, org.token)
    edges = cross_scope_edges()
    assert edges
    for parent, field, parent_scope, child_scope in edges:
        path = _path_to(parent, parent_scope)
        query = _query(path, field)
        # with both scopes the field resolves: the query does reach data
        both = await _token(session_factory, org.id, {parent_scope, child_scope})
        body = await api.gql(query, token=both)
        assert not body.get("errors"), (parent, field, body)
        reached = _walk(body["data"], path)
        assert reached and all(item[field] is not None for item in reached), (parent, field, body)
        # without the child's scope: FORBIDDEN at that field, the parents are still there
        only = await _token(session_factory, org.id, {parent_scope})
        body = await api.gql(query, token=only)
        errors = body.get("errors") or []
        assert errors and all(e["extensions"]["code"] == "FORBIDDEN" for e in errors), (parent, field, body)
        assert all(e["path"][-1] == field for e in errors), (parent, field, errors)
        assert child_scope.value in errors[0]["message"]
        reached = _walk(body["data"], path)
        assert reached and all(item[field] is None for item in reached), (parent, field, body)
        assert len(errors) == len(reached)


async def test_products_read_cannot_read_a_meter_through_a_price(api, org, session_factory):
    """The leak of issue 7: a meter's name, filter and aggregation through `MeteredUnitPrice.meter`."""
    meter = await create_meter(api, org.token, "Secret meter", [{"condition": {"property": "name", "operator": "EQ", "value": "x"}}])
    product = await create_product(api, org.token, prices=[FIXED, {"meteredUnit": {"meterId": meter["id"], "unitAmount": "1"}}])
    query = """query($id: ID!) { product(id: $id) { name prices { __typename
        ... on MeteredUnitPrice { meterId unitAmount meter { name filter { conjunction } aggregation { func } } } } } }"""
    reader = await _token(session_factory, org.id, {catalog_scopes.READ})
    body = await api.gql(query, {"id": product["id"]}, token=reader)
    assert [e["extensions"]["code"] for e in body["errors"]] == ["FORBIDDEN"]
    assert "Secret meter" not in str(body)
    prices = body["data"]["product"]["prices"]
    assert body["data"]["product"]["name"] == "Pro" and [p["__typename"] for p in prices] == ["FixedPrice", "MeteredUnitPrice"]
    assert prices[1]["meter"] is None and prices[1]["meterId"] == meter["id"]  # the id alone is no secret
    # as `node` says
    node = await api.gql("query($id: ID!) { node(id: $id) { id } }", {"id": meter["id"]}, token=reader)
    assert node["errors"][0]["extensions"]["code"] == "FORBIDDEN"
    both = await _token(session_factory, org.id, {catalog_scopes.READ, meters_scopes.READ})
    data = await api.data(query, {"id": product["id"]}, token=both)
    assert data["product"]["prices"][1]["meter"]["name"] == "Secret meter"


async def test_a_write_scope_reads_its_payload_but_not_beyond(api, org, session_factory):
    """`createProduct` with `products:write` alone returns the product, but not the meter of its price."""
    meter = await create_meter(api, org.token, "Secret meter", [{"condition": {"property": "name", "operator": "EQ", "value": "x"}}])
    writer = await _token(session_factory, org.id, {catalog_scopes.WRITE})
    mutation = """mutation($input: CreateProductInput!) { createProduct(input: $input) { __typename
        ... on CreateProductSuccess { product { name prices { ... on MeteredUnitPrice { meter { name } } } } } } }"""
    variables = {"input": {"name": "Metered", "recurringInterval": "MONTH", "prices": [{"meteredUnit": {"meterId": meter["id"], "unitAmount": "1"}}]}}
    body = await api.gql(mutation, variables, token=writer)
    assert body["data"]["createProduct"]["__typename"] == "CreateProductSuccess"
    product = body["data"]["createProduct"]["product"]
    assert product["name"] == "Metered" and product["prices"] == [{"meter": None}]
    assert [(e["extensions"]["code"], e["path"][-1]) for e in body["errors"]] == [("FORBIDDEN", "meter")]
