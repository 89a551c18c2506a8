"""Fuzz both doors with hostile input: no 5xx and no masked INTERNAL_SERVER_ERROR, ever.

A value refused by the database itself (the last resort behind validation, logged at info)
fails the fuzz as well: it means a validation rule is missing in front of it.

The GraphQL root fields (Query and Mutation) and their argument types are read from the live
schema, and the REST routes (with the query parameters their handlers read) from the litestar
app, so a new field or route is fuzzed without touching this file. Arguments are built from the
input types: strings with NUL and other control characters, huge or odd unicode; integers at
the extremes; ids forged, of another type or of real objects; JSON nested deep; DateTime
strings with extreme offsets; forged cursors. Hypothesis runs derandomized (a fixed seed) with
a bounded number of examples per field, so a run is repeatable and takes well under a minute.
"""

from __future__ import annotations

import base64
import inspect
import json
import os
import re
import uuid
from collections import defaultdict
from typing import Any, Callable

import pytest
from graphql import (
    GraphQLEnumType,
    GraphQLInputObjectType,
    GraphQLInterfaceType,
    GraphQLList,
    GraphQLNonNull,
    GraphQLObjectType,
    GraphQLScalarType,
    GraphQLUnionType,
    get_named_type,
    is_leaf_type,
    parse,
    validate,
)
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import strategies as st

from app.kit.ids import from_global_id, to_global_id
from app.server import create_app
from schema import schema as kassa_schema
from tests.meters.helpers import create_meter
from tests.operations import create_business

GRAPHQL = kassa_schema._schema
EXAMPLES_PER_FIELD = int(os.environ.get("KASSA_FUZZ_EXAMPLES_PER_FIELD", "4"))  # more: a deeper search, off the suite
EXAMPLES_PER_ROUTE = int(os.environ.get("KASSA_FUZZ_EXAMPLES_PER_ROUTE", "40"))
FUZZ = settings(
    derandomize=True,
    max_examples=EXAMPLES_PER_FIELD,
    deadline=None,
    phases=(Phase.explicit, Phase.generate),  # no shrinking: a failure prints its example as found
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow, HealthCheck.data_too_large],
)

# -- hostile values -------------------------------------------------------------------------------

EXTREME_TIMES = [
    "0001-01-01T00:00:00+23:59",
    "9999-12-31T23:59:59-23:59",
    "0001-01-01T00:00:00Z",
    "9999-12-31T23:59:59.999999Z",
    "2026-01-31T12:00:00Z",
    "2026-02-30T00:00:00Z",
    "2026-01-31T12:00:00+24:00",
    "2026-01-31",
    "yesterday",
]
NASTY_TEXT = [  # hypothesis tries the first ones first
    "a\x00b",
    "\x01\x02\x1b[31m\x1f",
    "x" * 100_000,
    "",
    " ",
    "\x00",
    "\x7f\x85\x9f",
    "line\nbreak\r\ttab",
    "\ud800",
    "\u202e\ufeff\u200b",
    "😀" * 20,
    "e\u0301" * 50,
    "' OR 1=1 --",
    "%_\\",
    "\\u0000",
    "x" * 257,
    "1e400",
    "NaN",
    "-0",
    "9" * 40,
    "https://example.com/hook",
    "c1",
    *EXTREME_TIMES[:2],
]
INTS = [0, -1, 1, 100, 101, 2**31 - 1, -(2**31), 2**31, 2**53 + 1, 2**63 - 1, 2**63, -(2**63) - 1, 10**30]
FLOATS = [0.0, -0.0, 0.5, 1e308, -1e308, 5e-324]


def _deep(depth: int) -> Any:
    value: Any = "leaf"
    for index in range(depth):
        value = [value] if index % 2 else {"k": value}
    return value


def _cursor(sort_value: Any, id: Any) -> str:
    return base64.urlsafe_b64encode(json.dumps([sort_value, id]).encode()).rstrip(b"=").decode()


text = st.one_of(st.sampled_from(NASTY_TEXT), st.text(max_size=30))
ints = st.one_of(st.sampled_from(INTS), st.integers(-1000, 1000))
json_scalar = st.one_of(st.none(), st.booleans(), ints, st.sampled_from(FLOATS), text)
json_values = st.one_of(
    st.recursive(json_scalar, lambda inner: st.lists(inner, max_size=3) | st.dictionaries(text, inner, max_size=3), max_leaves=8),
    st.sampled_from([10, 63, 64, 65, 300]).map(_deep),
    st.integers(40, 60).map(lambda n: {f"key{i}": "v" * 500 for i in range(n)}),
)
cursors = st.one_of(
    text,
    st.builds(_cursor, st.one_of(json_values, st.sampled_from([{"t": t} for t in EXTREME_TIMES])), st.one_of(st.uuids().map(str), text)),
)
decimals = st.one_of(st.sampled_from(["0", "-1", "0.5", "1e999999", "1e-999999", "NaN", "Infinity", "1" * 500, "1e20", "1e21"]), text, ints)
datetimes = st.one_of(st.sampled_from(EXTREME_TIMES), text, ints)

_OBJECT_TYPES = sorted(name for name, t in GRAPHQL.type_map.items() if isinstance(t, GraphQLObjectType) and not name.startswith("__"))


def forged_ids() -> st.SearchStrategy:
    return st.one_of(
        st.builds(lambda kind, id: to_global_id(kind, id), st.sampled_from(_OBJECT_TYPES), st.uuids()),
        st.builds(lambda raw: base64.urlsafe_b64encode(raw.encode("utf-8", "surrogatepass")).decode(), text),
        st.sampled_from(["Customer:not-a-uuid", base64.b64encode(b"Customer:\x00").decode(), str(uuid.uuid4()), "0"]),
        text,
        ints,
    )


# -- GraphQL: arguments from the input types ------------------------------------------------------

MAX_INPUT_DEPTH = 4


# Plausible values by field name, so that a hostile value in one field is not hidden behind an
# ordinary validation error in another (most fields of an example are valid, some hostile).
VALID_BY_NAME: dict[str, st.SearchStrategy] = {
    "email": st.integers(0, 10**6).map(lambda n: f"user{n}@example.com"),
    "url": st.just("https://example.com/hook"),
    "currency": st.just("usd"),
    "country": st.just("US"),
    "units": st.sampled_from(["5", "0.5"]),
    "property": st.sampled_from(["tokens", "name", "metadata.model"]),
    "value": st.sampled_from(["api_call", 5]),
    "first": st.just(10),
    "externalId": st.uuids().map(str),
    "externalCustomerId": st.just("c1"),
    "timestamp": st.just("2026-01-01T00:00:00Z"),
    "metadata": st.just({"model": "gpt", "tokens": 5}),
    "unitAmount": st.just("0.5"),
    "minSeats": st.just(1),
}
VALID_BY_TYPE: dict[str, st.SearchStrategy] = {
    "String": st.sampled_from(["plain", "Acme Inc."]),
    "Int": st.integers(1, 50),
    "Float": st.just(1.5),
    "Boolean": st.booleans(),
    "BigInt": st.integers(0, 10**6),
    "Decimal": st.sampled_from(["1", "0.05"]),
    "DateTime": st.sampled_from(["2026-01-01T00:00:00Z", "2025-06-30T12:00:00+02:00"]),
    "JSON": st.just({"k": "v"}),
}
HOSTILE_URLS = [
    "https://example.com:0/",
    "https://example.com:65536/",
    "https://a..b/",
    "https://" + "a" * 64 + ".example.com/",
    "https://[::1/",
    "https://[::127.0.0.1]/",
    "https://[::ffff:7f00:1]/",
    "https://user:pass@example.com/",
    "https://ex ample.com/",
    "https://example.com/\x00",
    "https://\u00e9xample.com/",
    "https://xn--/",
    "https:///path",
    "https://example.com./",
    "http://localhost:8000/",
    "ftp://example.com/",
    "javascript:alert(1)",
    "https://example.com/" + "p" * 5000,
]


HOSTILE_BY_NAME: dict[str, st.SearchStrategy] = {
    "url": st.one_of(st.sampled_from(HOSTILE_URLS), text),
}
HOSTILE_BY_TYPE: dict[str, st.SearchStrategy] = {
    "String": text,
    "Int": ints,
    "Float": st.sampled_from(FLOATS),
    "Boolean": st.booleans(),
    "BigInt": st.one_of(ints, st.sampled_from(["99999999999999999999", "-0", "1e3", "12"])),
    "Decimal": decimals,
    "DateTime": datetimes,
    "JSON": json_values,
}


def mostly_valid(valid: st.SearchStrategy, hostile: st.SearchStrategy) -> st.SearchStrategy:
    """Hostile one time in three."""
    return st.one_of(valid, valid, hostile)


Leaf = tuple[str, str]  # (input type name or "<root>", field or argument name)


def _unwrap(type_: Any) -> Any:
    while isinstance(type_, (GraphQLNonNull, GraphQLList)):
        type_ = type_.of_type
    return type_


def leaves(type_: Any, at: Leaf, seen: tuple[str, ...] = ()) -> list[Leaf]:
    """Every scalar field reachable from an argument (a recursive input type is visited once)."""
    named = _unwrap(type_)
    if not isinstance(named, GraphQLInputObjectType):
        return [at]
    if named.name in seen:
        return []
    return [leaf for name, field in named.fields.items() for leaf in leaves(field.type, (named.name, name), (*seen, named.name))]


IdsFor = Callable[[Leaf], st.SearchStrategy]


def ids_by_kind(world: list[str]) -> IdsFor:
    """Real ids for a field, of the kind its name suggests (`customerId`, `UpdateMeterInput.id`),
    so that an example gets past "not found" to the rules behind it."""
    by_kind: dict[str, list[str]] = defaultdict(list)
    for global_id in world:
        by_kind[from_global_id(global_id)[0]].append(global_id)
    kinds = sorted(by_kind, key=len, reverse=True)

    def ids_for(at: Leaf) -> st.SearchStrategy:
        parent, name = at
        hint = (name[: -len("Id")] if name.endswith("Id") else name[: -len("Ids")] if name.endswith("Ids") else parent).lower()
        for kind in kinds:
            if kind.lower() in hint or hint in kind.lower():
                return st.sampled_from(by_kind[kind])
        return st.sampled_from(world)

    return ids_for


def value_strategy(type_: Any, ids: IdsFor, target: Leaf | None, at: Leaf, depth: int = 0) -> st.SearchStrategy:
    """Values for an input type, of the right shape so that they reach the resolvers: valid
    everywhere but at `target`, which is hostile (`target` None: hostile here and there)."""
    if isinstance(type_, GraphQLNonNull):
        return value_strategy(type_.of_type, ids, target, at, depth)
    if isinstance(type_, GraphQLList):
        if depth >= MAX_INPUT_DEPTH:
            return st.just([])
        return st.lists(value_strategy(type_.of_type, ids, target, at, depth + 1), min_size=1, max_size=3)
    if isinstance(type_, GraphQLEnumType):
        return st.sampled_from(sorted(type_.values))
    if isinstance(type_, GraphQLInputObjectType):
        return input_object_strategy(type_, ids, target, depth)
    assert isinstance(type_, GraphQLScalarType), type_
    name = at[1]
    if type_.name == "ID":
        valid, hostile = ids(at), forged_ids()
    elif name == "after":
        valid, hostile = st.none(), cursors
    else:
        valid = VALID_BY_NAME.get(name, VALID_BY_TYPE.get(type_.name, text))
        hostile = HOSTILE_BY_NAME.get(name, HOSTILE_BY_TYPE.get(type_.name, text))
    if target is None:
        return mostly_valid(valid, hostile)
    return hostile if at == target else valid


def input_object_strategy(type_: GraphQLInputObjectType, ids: IdsFor, target: Leaf | None, depth: int) -> st.SearchStrategy:
    fields = type_.fields

    def holds_target(name: str) -> bool:
        return target is not None and target in leaves(fields[name].type, (type_.name, name))

    def field_strategy(name: str) -> st.SearchStrategy:
        return value_strategy(fields[name].type, ids, target, (type_.name, name), depth + 1)

    if type_.is_one_of:
        names = [n for n in sorted(fields) if holds_target(n)] or sorted(fields)
        if depth >= MAX_INPUT_DEPTH:  # stop recursing: a member that is not a nested input object
            names = [n for n in names if not isinstance(_unwrap(fields[n].type), GraphQLInputObjectType) or not _recursive(fields[n].type, type_)] or names
            names = [n for n in sorted(fields) if not _recursive(fields[n].type, type_)][:1] or names
        return st.one_of([field_strategy(n).map(lambda v, n=n: {n: v}) for n in names])
    required = {n: field_strategy(n) for n, f in fields.items() if isinstance(f.type, GraphQLNonNull) or holds_target(n)}
    optional = {} if depth >= MAX_INPUT_DEPTH else {n: field_strategy(n) for n in fields if n not in required}
    return st.fixed_dictionaries(required, optional=optional)


def _recursive(field_type: Any, target: GraphQLInputObjectType) -> bool:
    named = _unwrap(field_type)
    return named is target or (isinstance(named, GraphQLInputObjectType) and any(_unwrap(f.type) is target for f in named.fields.values()))


def selection(type_: Any, depth: int = 0) -> str:
    """`__typename` and every field without required arguments, two levels deep; union members
    each with their own fields."""
    named = get_named_type(type_)
    if is_leaf_type(named):
        return ""
    parts = ["__typename"]
    if isinstance(named, GraphQLUnionType):
        parts += [f"... on {member.name} {selection(member, depth)}" for member in named.types]
    elif depth < 2 and isinstance(named, (GraphQLObjectType, GraphQLInterfaceType)):
        for field_name, field in named.fields.items():
            if any(isinstance(arg.type, GraphQLNonNull) and arg.default_value is None for arg in field.args.values()):
                continue
            parts.append(f"{field_name} {selection(field.type, depth + 1)}".strip())
    return "{ " + " ".join(parts) + " }"


def operation(kind: str, name: str, literals: dict[str, str] | None = None) -> str:
    """The operation calling one root field: its arguments as variables, or written in the
    query text (`literals`: argument name -> GraphQL literal)."""
    field = (GRAPHQL.query_type if kind == "query" else GRAPHQL.mutation_type).fields[name]
    declared = ", ".join(f"${arg}: {field.args[arg].type}" for arg in field.args)
    passed = ", ".join(f"{arg}: ${arg}" for arg in field.args)
    fields = selection(field.type)
    if validate(GRAPHQL, parse(f"{kind} Fuzz{'(' + declared + ')' if declared else ''} {{ {name}{'(' + passed + ')' if passed else ''} {fields} }}")):
        fields = "{ __typename }" if not is_leaf_type(get_named_type(field.type)) else ""  # union members' fields conflict
    if literals is not None:
        declared, passed = "", ", ".join(f"{arg}: {value}" for arg, value in literals.items())
    return f"{kind} Fuzz{'(' + declared + ')' if declared else ''} {{ {name}{'(' + passed + ')' if passed else ''} {fields} }}"


def literal(value: Any, type_: Any) -> str | None:
    """`value` written as a GraphQL literal of `type_`, or None where a literal cannot say it
    (JSON objects with keys that are not names: those stay variables)."""
    if isinstance(type_, GraphQLNonNull):
        return literal(value, type_.of_type)
    if value is None:
        return "null"
    if isinstance(type_, GraphQLList):
        items = [literal(item, type_.of_type) for item in (value if isinstance(value, list) else [value])]
        return None if None in items else "[" + ", ".join(items) + "]"  # type: ignore[arg-type]
    if isinstance(type_, GraphQLEnumType):
        return str(value)
    if isinstance(type_, GraphQLInputObjectType):
        fields = [(key, literal(item, type_.fields[key].type)) for key, item in value.items()]
        return None if any(text_ is None for _, text_ in fields) else "{" + ", ".join(f"{key}: {text_}" for key, text_ in fields) + "}"
    if type_.name == "JSON" and not isinstance(value, (str, int, float, bool)):
        return None
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (int, float)):
        return repr(value)
    return json.dumps(value, ensure_ascii=True)


ROOT_FIELDS = [("query", name) for name in GRAPHQL.query_type.fields] + [("mutation", name) for name in GRAPHQL.mutation_type.fields]


@pytest.fixture
async def world(api, org):
    """Real objects, so that some ids reach the services' deeper rules."""
    from tests.catalog.operations import create_product

    business = await create_business(api, org.token, members=2, externalId="c1")
    meter = await create_meter(api, org.token, "Calls", [{"condition": {"property": "name", "operator": "EQ", "value": "api_call"}}])
    product = await create_product(api, org.token)
    hook = await api.data(
        "mutation($i: CreateWebhookEndpointInput!) { createWebhookEndpoint(input: $i) { ... on CreateWebhookEndpointSuccess { endpoint { id } } } }",
        {"i": {"url": "https://example.com/hook", "eventTypes": ["CUSTOMER_CREATED"], "enabled": True}},
        token=org.token,
    )
    await api.client.post(
        "/v1/events/ingest",
        json={"events": [{"name": "api_call", "external_customer_id": "c1", "external_id": f"seed-{i}"} for i in range(3)]},
        headers={"Authorization": f"Bearer {org.token}"},
    )
    real = [business["id"], meter["id"], product["id"], product["prices"][0]["id"], *(m["id"] for m in business["members"])]
    endpoint = hook["createWebhookEndpoint"].get("endpoint")
    if endpoint:
        real.append(endpoint["id"])
    return real


def assert_not_a_server_error(response, sent: Any) -> None:
    masked = "INTERNAL_SERVER_ERROR" in response.text or "Unexpected error." in response.text
    if response.status_code >= 500 or masked:
        # printed as well: a failure can make hypothesis report a flaky test instead of the example
        print("SERVER ERROR", response.status_code, response.text[:1500], repr(sent)[:1500])
    assert response.status_code < 500, (response.status_code, response.text[:2000], sent)
    assert not masked, (response.text[:2000], sent)


def assert_validated(caplog, sent: Any) -> None:
    """The database's refusal is a last resort (a typed error, logged): it means that a rule is
    missing in front of it, so the fuzz fails on it too."""
    refused = [r.getMessage() for r in caplog.records if "refused by the database" in r.getMessage()]
    caplog.clear()
    assert not refused, (refused, repr(sent)[:1500])


def encode(value: Any) -> bytes:
    """JSON with every non-ASCII character escaped (a lone surrogate stays an escape)."""
    return json.dumps(value, ensure_ascii=True).encode()


def root_field(kind: str, name: str):
    return (GRAPHQL.query_type if kind == "query" else GRAPHQL.mutation_type).fields[name]


@pytest.mark.parametrize("kind, name", ROOT_FIELDS, ids=[f"{k}.{n}" for k, n in ROOT_FIELDS])
@FUZZ
@given(data=st.data())
async def test_graphql_root_field(api, org, world, kind, name, data, caplog):
    """Each example sends one request per leaf of the field's arguments (that leaf hostile, the
    rest valid, so every leaf is tried at every example), one with hostile values anywhere, and
    that last one again with its arguments written in the query text."""
    caplog.set_level("INFO")
    field = root_field(kind, name)
    ids = ids_by_kind(world)
    query = operation(kind, name)
    targets = [leaf for arg_name, arg in field.args.items() for leaf in leaves(arg.type, ("<root>", arg_name))]
    for target in [*targets, None]:
        variables: dict[str, Any] = {}
        for arg_name, arg in field.args.items():
            at = ("<root>", arg_name)
            strategy = value_strategy(arg.type, ids, target, at)
            if not isinstance(arg.type, GraphQLNonNull) and (target is None or target not in leaves(arg.type, at)):
                strategy = mostly_valid(st.none(), strategy)
            value = data.draw(strategy, label=f"{arg_name} ({target})")
            if value is not None:
                variables[arg_name] = value
        sent = {"query": query, "variables": variables}
        response = await api.client.post(
            "/graphql", content=encode(sent), headers={"Authorization": f"Bearer {org.token}", "Content-Type": "application/json"}
        )
        assert_not_a_server_error(response, sent)
        assert_validated(caplog, sent)
    # the same values written in the query text, where the scalars parse literals
    literals = {arg_name: literal(value, field.args[arg_name].type) for arg_name, value in variables.items()}
    if None not in literals.values():
        sent = {"query": operation(kind, name, literals)}  # type: ignore[arg-type]
        response = await api.client.post(
            "/graphql", content=encode(sent), headers={"Authorization": f"Bearer {org.token}", "Content-Type": "application/json"}
        )
        assert_not_a_server_error(response, sent)
        assert_validated(caplog, sent)


# -- REST: every route, its query parameters and raw bodies --------------------------------------


def rest_routes() -> list[tuple[str, str, list[str]]]:
    """(method, path, query parameter names) of every route the app serves, the names read from
    its handler's module (`request.query_params.get("...")`)."""
    from app.config import Settings

    routes = []
    for route in create_app(Settings()).routes:
        for handler in getattr(route, "route_handlers", ()):  # HTTP routes (the WebSocket on /graphql has none)
            if not handler.fn.__module__.startswith("app."):
                continue
            source = inspect.getsource(inspect.getmodule(handler.fn))
            params = sorted(set(re.findall(r"query_params\.get\(\s*\"(\w+)\"", source)))
            for method in sorted(handler.http_methods):
                routes.append((method, route.path, params))
    return routes


REST_ROUTES = rest_routes()


def rest_event(ids: st.SearchStrategy) -> st.SearchStrategy:
    value = st.one_of(text, ids, json_values)
    return st.one_of(
        st.fixed_dictionaries(
            {"name": st.one_of(st.just("api_call"), text)},
            optional={
                "external_customer_id": st.one_of(st.just("c1"), text),
                "customer_id": ids,
                "member_id": ids,
                "external_member_id": text,
                "external_id": st.one_of(st.uuids().map(str), text),
                "timestamp": datetimes,
                "metadata": json_values,
            },
        ),
        st.dictionaries(text, value, max_size=3),
        json_scalar,
    )


def raw_bodies(path: str, ids: st.SearchStrategy) -> st.SearchStrategy:
    documents: st.SearchStrategy = json_values
    if path == "/v1/events/ingest":
        documents = st.one_of(st.fixed_dictionaries({"events": st.one_of(st.lists(rest_event(ids), max_size=4), json_values)}), json_values)
    elif path == "/graphql":
        documents = st.one_of(
            st.fixed_dictionaries(
                {"query": st.one_of(text, st.sampled_from(["{ organization { id } }", "query A { organization { id } }"]))},
                optional={"variables": json_values, "operationName": json_values},
            ),
            json_values,
        )
    return st.one_of(
        documents.map(encode),
        st.binary(max_size=40),
        st.sampled_from([b"[" * 100_000, b'{"a":' * 5_000, b"", b"\xff\xfe", b'"\\ud800"', b"1e999999", b"[1,]"]),
    )


@pytest.mark.parametrize("method, path, params", REST_ROUTES, ids=[f"{m} {p}" for m, p, _ in REST_ROUTES])
@settings(FUZZ, max_examples=EXAMPLES_PER_ROUTE)
@given(data=st.data())
async def test_rest_route(api, redis, org, world, method, path, params, data, caplog):
    caplog.set_level("INFO")
    if path == "/health":  # no worker runs here: stand in for one, so a 503 means a real fault
        from app.platform.health import record_heartbeat

        await record_heartbeat(redis, "fuzz")
    ids = st.one_of(st.sampled_from(world), forged_ids())
    names = st.sampled_from([*params, "unknown"]) if params else st.just("unknown")
    query = data.draw(st.dictionaries(names, st.one_of(text, ids).map(lambda value: str(value)[:2000]), max_size=4), label="query")
    query = {key: value.encode("utf-8", "surrogatepass").decode("utf-8", "replace") for key, value in query.items()}
    headers = {"Authorization": f"Bearer {org.token}", "Content-Type": "application/json"}
    if method == "POST":
        body = data.draw(raw_bodies(path, ids), label="body")
        response = await api.client.post(path, params=query, content=body, headers=headers)
        sent: Any = (query, body[:500])
    else:
        response = await api.client.request(method, path, params=query, headers=headers)
        sent = query
    assert_not_a_server_error(response, sent)
    assert_validated(caplog, sent)
