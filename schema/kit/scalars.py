"""Custom scalars. Each is registered in the schema's `scalar_map` (see `schema/__init__.py`)."""

from __future__ import annotations

import re
from typing import Any, NewType

import strawberry
from graphql import IntValueNode, StringValueNode

# An integer of any size up to 64 bits; GraphQL's `Int` stops at 32 bits (21,474,836.47 dollars).
BigInt = NewType("BigInt", int)

_INTEGER = re.compile(r"-?\d{1,19}")


def _serialize_big_int(value: Any) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        raise ValueError(f"BigInt cannot represent {value!r}")
    return value


def _parse_big_int(value: Any) -> int:
    """An integer JSON number, or a string of digits (for clients that cannot hold 64-bit numbers)."""
    if isinstance(value, int) and not isinstance(value, bool):
        return value
    if isinstance(value, str) and _INTEGER.fullmatch(value.strip()):
        return int(value.strip())
    raise ValueError(f"BigInt must be an integer, not {value!r}")


def _parse_big_int_literal(node: Any, _variables: Any = None) -> int:
    if isinstance(node, (IntValueNode, StringValueNode)):
        return _parse_big_int(int(node.value) if isinstance(node, IntValueNode) else node.value)
    raise ValueError("BigInt must be an integer")


SCALAR_MAP = {
    BigInt: strawberry.scalar(
        name="BigInt",
        description=(
            "An integer that may exceed 32 bits, e.g. an amount of money in minor units (cents for usd). "
            "Serialized as a JSON number; accepted as a number or as a string of digits."
        ),
        serialize=_serialize_big_int,
        parse_value=_parse_big_int,
        parse_literal=_parse_big_int_literal,
    ),
}
