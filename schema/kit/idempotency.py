"""The GraphQL side of idempotency keys (the mechanism is `app/kit/idempotency.py`).

A mutation takes a key when its input type has an `idempotencyKey` field: `keyed_request` reads
it from the field's arguments (the operation is the mutation's name; the hash covers the rest of
the input), and `run_mutation` (schema/kit/errors.py) does the rest, for every such mutation.

What is stored is what the answer is built from (`describe`): the payload's or the typed
error's GraphQL type name and its fields; an object with a global id (a `Node`) is stored as
that id. A replay (`rebuild`) builds the same type again and loads each object by its id, **as
it is now**: a customer updated since is returned with its new fields; one deleted since makes
the replay a `NOT_FOUND` error.
"""

from __future__ import annotations

import enum
from datetime import datetime
from decimal import Decimal
from typing import Any

import strawberry
from graphql import GraphQLInputObjectType, get_named_type
from graphql.execution.values import VariableValues, get_argument_values

from app.kit.errors import NotFound
from app.kit.ids import from_global_id
from app.kit.idempotency import KeyedRequest, keyed_request
from schema.kit.relay import Node

KEY_FIELD = "idempotencyKey"


def idempotency_key_field() -> Any:
    """The `idempotencyKey` input field: a mutation's input that has it is idempotent."""
    return strawberry.field(
        default=None,
        description="Your idempotency key (1 to 255 printable characters): a retry with the same key and the same input "
        "replays the first answer instead of acting again, for 24 hours (by default); with a different input it is "
        "`IDEMPOTENCY_KEY_REUSED`. See docs/api-conventions.md, \"Idempotency keys\".",
    )


def request_of(info: strawberry.Info) -> KeyedRequest | None:
    """The mutation's keyed request, or None when its input has no `idempotencyKey` field or
    the caller sent none. A malformed key is a validation error on `idempotencyKey`."""
    raw = info._raw_info
    field = raw.parent_type.fields[raw.field_name]
    argument = field.args.get("input")
    if argument is None:
        return None
    input_type = get_named_type(argument.type)
    if not isinstance(input_type, GraphQLInputObjectType) or KEY_FIELD not in input_type.fields:
        return None
    variables = raw.variable_values
    if not isinstance(variables, VariableValues):  # strawberry hands resolvers the plain dict
        variables = VariableValues(sources={}, coerced=dict(variables or {}))
    values = get_argument_values(field, raw.field_nodes[0], variables).get("input") or {}
    key = values.get(KEY_FIELD)
    if key is None:
        return None
    payload = {name: value for name, value in values.items() if name != KEY_FIELD}
    return keyed_request(_operation(info, raw.field_name), key, payload, (KEY_FIELD,))


def _operation(info: strawberry.Info, field_name: str) -> str:
    """The operation a key is scoped to (with the organization): the mutation's name, and for a
    checkout's client secret also its checkout. The browsers of one organization's checkouts
    cannot know each other's keys, so one browser's key must neither replay another's answer
    nor be refused as reused because another browser picked it first."""
    subject = info.context.subject
    checkout_id = getattr(subject, "checkout_id", None)
    return f"{field_name}:{checkout_id}" if checkout_id is not None else field_name


def describe(value: Any) -> Any:
    """What a payload or typed error is built from, as JSON (see the module's docstring)."""
    if isinstance(value, Node):
        return {"$node": value.id}
    if isinstance(value, enum.Enum):  # before the definition: a strawberry enum's members carry its definition too
        return value.value
    definition = getattr(value, "__strawberry_definition__", None)
    if definition is not None:
        fields = {f.python_name: describe(getattr(value, f.python_name)) for f in definition.fields if f.base_resolver is None}
        return {"$type": definition.name, "fields": fields}
    if isinstance(value, (list, tuple)):
        return [describe(item) for item in value]
    if isinstance(value, enum.Enum):
        return value.value
    if isinstance(value, datetime):
        return {"$datetime": value.isoformat()}
    if isinstance(value, Decimal):
        return {"$decimal": str(value)}
    if value is None or isinstance(value, (str, int, float, bool)):
        return value
    raise TypeError(f"an idempotent mutation's answer holds a {type(value).__name__}, which cannot be stored")


async def rebuild(info: strawberry.Info, stored: Any) -> Any:
    """The answer `describe` stored, built again; objects are loaded as they are now."""
    if isinstance(stored, list):
        return [await rebuild(info, item) for item in stored]
    if not isinstance(stored, dict):
        return stored
    if "$node" in stored:
        return await _node(info, stored["$node"])
    if "$datetime" in stored:
        return datetime.fromisoformat(stored["$datetime"])
    if "$decimal" in stored:
        return Decimal(stored["$decimal"])
    definition = info.schema.get_type_by_name(stored["$type"])
    fields = {name: await rebuild(info, value) for name, value in stored["fields"].items()}
    return definition.origin(**fields)


async def _node(info: strawberry.Info, global_id: str) -> Any:
    from schema.kit.nodes import node_resolvers  # nodes imports the error kit, which imports this module

    type_name, id = from_global_id(global_id)
    node = await node_resolvers()[type_name](info, id)
    if node is None:
        raise NotFound(f"The {type_name} this idempotency key's first request returned no longer exists", id=global_id)
    return node
