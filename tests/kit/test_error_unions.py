"""No domain error escapes a mutation's union.

Every `KassaError` subclass (found by walking `__subclasses__()` after importing every
`app.<domain>.errors` module) is raised inside every mutation of the live schema, through the
real resolver, `run_mutation` and the mutation's union: only the mutation's work is swapped for
one that raises. The answer must be a typed member of the union carrying the error's code and
message (the error's own type when the union lists it), never a top-level or masked error.
"""

from __future__ import annotations

import importlib
import enum
import inspect
import typing
import pkgutil
import sys
import uuid
from typing import Any

import pytest
from graphql import (
    GraphQLEnumType,
    GraphQLInputObjectType,
    GraphQLList,
    GraphQLNonNull,
    GraphQLUnionType,
    Undefined,
    get_named_type,
)

import app
import schema.kit.errors as kit_errors
from app.kit.errors import FieldIssue, KassaError
from schema import schema as kassa_schema
from tests.catalog.operations import create_product
from tests.checkout_flow.operations import create_checkout

GRAPHQL = kassa_schema._schema
MUTATIONS = sorted(GRAPHQL.mutation_type.fields)


def _domain_errors() -> list[type[KassaError]]:
    for module in pkgutil.iter_modules(app.__path__):
        if module.ispkg and importlib.util.find_spec(f"app.{module.name}.errors") is not None:
            importlib.import_module(f"app.{module.name}.errors")
    found: list[type[KassaError]] = [KassaError]
    stack = [KassaError]
    while stack:
        for sub in stack.pop().__subclasses__():
            if sub not in found and sub.__module__.startswith("app."):
                found.append(sub)
                stack.append(sub)
    return sorted(found, key=lambda cls: f"{cls.__module__}.{cls.__qualname__}")


ERRORS = _domain_errors()


def _instance(cls: type[KassaError]) -> KassaError:
    """An instance of `cls`, its required arguments filled from their annotations."""
    args: dict[str, Any] = {}
    hints = typing.get_type_hints(cls.__init__)
    for name, parameter in inspect.signature(cls.__init__).parameters.items():
        if name == "self" or parameter.default is not inspect.Parameter.empty:
            continue
        annotation = str(parameter.annotation)
        if "FieldIssue" in annotation:
            args[name] = [FieldIssue(("x",), "is wrong", "invalid")]
        elif "UUID" in annotation:
            args[name] = uuid.uuid4()
        elif isinstance(hints.get(name), type) and issubclass(hints[name], enum.Enum):
            args[name] = next(iter(hints[name]))  # an enum argument (e.g. a reason): its first member
        else:
            args[name] = f"{cls.__name__} {name}"
    return cls(**args)


# -- a valid input for each mutation, built from its input type ---------------------------------

SCALARS: dict[str, Any] = {
    "String": "x",
    "ID": "x",
    "Int": 1,
    "BigInt": 1,
    "Float": 1.0,
    "Decimal": "1",
    "Boolean": False,
    "DateTime": "2026-01-01T00:00:00Z",
    "JSON": {},
}


def _is_one_of(graphql_type: GraphQLInputObjectType) -> bool:
    definition = graphql_type.extensions.get("strawberry-definition")
    directives = definition.directives if definition is not None else ()
    return graphql_type.is_one_of or any(type(d).__name__ == "OneOf" for d in directives)


def _value(graphql_type: Any) -> Any:
    if isinstance(graphql_type, GraphQLNonNull):
        return _value(graphql_type.of_type)
    if isinstance(graphql_type, GraphQLList):
        return []
    if isinstance(graphql_type, GraphQLEnumType):
        return next(iter(graphql_type.values))
    if isinstance(graphql_type, GraphQLInputObjectType) and _is_one_of(graphql_type):
        name, field = next(iter(graphql_type.fields.items()))  # @oneOf: exactly one key
        return {name: _value(field.type)}
    if isinstance(graphql_type, GraphQLInputObjectType):
        return {
            name: _value(field.type)
            for name, field in graphql_type.fields.items()
            if isinstance(field.type, GraphQLNonNull) and field.default_value is Undefined
        }
    return SCALARS[graphql_type.name]


def _mutation_input(field_name: str) -> tuple[str, dict[str, Any]]:
    argument = GRAPHQL.mutation_type.fields[field_name].args["input"]
    return str(argument.type), _value(argument.type)


def _union(field_name: str) -> GraphQLUnionType:
    result = get_named_type(GRAPHQL.mutation_type.fields[field_name].type)
    assert isinstance(result, GraphQLUnionType), f"{field_name} does not return a union"
    return result


def test_every_mutation_returns_a_union_with_the_fallback():
    assert MUTATIONS
    missing = [name for name in MUTATIONS if "UnexpectedDomainError" not in {t.name for t in _union(name).types}]
    assert missing == []


def test_every_domain_error_code_is_an_error_code_value():
    codes = set(GRAPHQL.type_map["ErrorCode"].values)
    assert {cls.code for cls in ERRORS} - codes == set()
    assert len(ERRORS) > 10  # the walk found the domains' errors


@pytest.fixture
def raising_work(monkeypatch):
    """Swap every mutation's work for one raising `raising_work.error`; the rest is real."""

    class Raiser:
        error: KassaError | None = None
        calls = 0

    real = kit_errors.run_mutation

    async def run_mutation(info, work, success):
        Raiser.calls += 1

        async def raise_error(session, subject):
            raise Raiser.error

        return await real(info, raise_error, success)

    for name, module in list(sys.modules.items()):
        if name.startswith("schema.") and name.endswith(".mutations") and getattr(module, "run_mutation", None) is real:
            monkeypatch.setattr(module, "run_mutation", run_mutation)
    return Raiser


CLIENT_MUTATIONS = {"updateCheckoutSession", "confirmCheckoutSession"}


@pytest.fixture
async def credential(api, org, request) -> str:
    """The caller's credential: the organization's token, or, for the customer's browser's
    mutations, a checkout's client secret (made before `raising_work` patches the mutations)."""
    if request.node.callspec.params.get("field_name") not in CLIENT_MUTATIONS:
        return org.token
    product = await create_product(api, org.token)
    return (await create_checkout(api, org.token, productPriceId=product["prices"][0]["id"], paymentProcessor="MANUAL"))["clientSecret"]


@pytest.mark.parametrize("field_name", MUTATIONS)
async def test_every_domain_error_reaches_the_client_typed(api, credential, raising_work, field_name):
    input_type, value = _mutation_input(field_name)
    members = {t.name for t in _union(field_name).types}
    query = (
        f"mutation($input: {input_type}) {{ {field_name}(input: $input) "
        "{ __typename ... on Error { code message } } }"
    )
    token = credential
    for cls in ERRORS:
        error = _instance(cls)
        raising_work.error = error
        calls = raising_work.calls
        # a required idempotency key: a fresh one per error (the same key would replay the first answer)
        keyed = value | {"idempotencyKey": f"key-{cls.__name__}"} if "idempotencyKey" in value else value
        body = await api.gql(query, {"input": keyed}, token=token)
        assert raising_work.calls == calls + 1, f"{field_name} did not reach run_mutation: {body}"
        assert "errors" not in body, (cls.__name__, body)
        result = body["data"][field_name]
        assert result["__typename"] in members and result["__typename"].endswith("Error"), (cls.__name__, result)
        assert (result["code"], result["message"]) == (error.code, error.message), (cls.__name__, result)
        own_type = kit_errors.to_error_type(error).__class__.__name__
        if own_type in members:
            assert result["__typename"] == own_type, (cls.__name__, result)


async def test_an_error_the_union_does_not_list_arrives_as_unexpected_domain_error(api, org, monkeypatch):
    """The case of the issue: `deleteCustomer` lists only `NotFoundError`; its service raising
    `MeterArchived` used to become a masked INTERNAL_SERVER_ERROR."""
    from app.customers import service
    from app.meters.errors import MeterArchived

    async def delete_customer(session, subject, customer_id):
        raise MeterArchived("The meter is archived")

    monkeypatch.setattr(service, "delete_customer", delete_customer)
    body = await api.gql(
        "mutation($id: ID!) { deleteCustomer(input: {id: $id}) { __typename ... on Error { code message } } }",
        {"id": "Q3VzdG9tZXI6MDAwMDAwMDAtMDAwMC0wMDAwLTAwMDAtMDAwMDAwMDAwMDAw"},
        token=org.token,
    )
    assert body == {
        "data": {"deleteCustomer": {"__typename": "UnexpectedDomainError", "code": "METER_ARCHIVED", "message": "The meter is archived"}}
    }


def test_the_error_kit_imports_no_domain():
    """Domains register their errors into schema/kit/errors.py; it imports none of them
    (imports for type annotations only, under TYPE_CHECKING, aside)."""
    import ast

    tree = ast.parse(inspect.getsource(kit_errors))
    runtime = [
        node for node in tree.body if not (isinstance(node, ast.If) and getattr(node.test, "id", None) == "TYPE_CHECKING")
    ]
    imported = set()
    for statement in runtime:
        for node in ast.walk(statement):
            if isinstance(node, ast.ImportFrom) and node.module:
                imported.add(node.module)
            elif isinstance(node, ast.Import):
                imported |= {alias.name for alias in node.names}
    ours = {name for name in imported if name.split(".")[0] in ("app", "schema")}
    assert ours and {name for name in ours if not name.startswith(("app.kit", "schema.kit"))} == set()


async def test_a_domain_error_raised_before_run_mutation_is_a_member_too(api, org, monkeypatch):
    """A resolver that raises before its transaction starts (e.g. while reading its input)."""
    from app.meters.errors import MeterArchived
    from schema.customers.inputs import UpdateCustomerInput

    def changes(self):
        raise MeterArchived("The meter is archived")

    monkeypatch.setattr(UpdateCustomerInput, "changes", changes)
    body = await api.gql(
        "mutation { updateCustomer(input: {id: \"x\"}) { __typename ... on Error { code message } } }", token=org.token
    )
    assert body == {
        "data": {"updateCustomer": {"__typename": "UnexpectedDomainError", "code": "METER_ARCHIVED", "message": "The meter is archived"}}
    }
