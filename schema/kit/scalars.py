"""Custom scalars. Each is registered in the schema's `scalar_map` (see `schema/__init__.py`)."""

from __future__ import annotations

import re
from datetime import datetime
from decimal import Decimal, InvalidOperation
from typing import Any, NewType

import strawberry
from graphql import GraphQLError, IntValueNode, StringValueNode

from app.kit.decimals import decimal_text
from app.kit.validation import parse_timestamp

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
    raise ScalarRefused(f"BigInt must be an integer, not {str(value)[:64]!r}")


def _parse_big_int_literal(node: Any, _variables: Any = None) -> int:
    if isinstance(node, (IntValueNode, StringValueNode)):
        return _parse_big_int(int(node.value) if isinstance(node, IntValueNode) else node.value)
    raise ScalarRefused("BigInt must be an integer")


class ScalarRefused(GraphQLError, ValueError):
    """A scalar value Kassa cannot read. A GraphQLError, so that graphql-core reports its message
    as it is (a plain exception in a query's literal would be masked as `Unexpected error.`)."""


def _parse_datetime(value: Any) -> datetime:
    """ISO 8601, parsed by the standard library's fast `fromisoformat` (strawberry's default
    parser costs 7 ms per 1,000 values: a batch of events pays it per timestamp), in UTC
    (the kit's one timestamp rule: an instant outside years 1-9999 in UTC is refused)."""
    if isinstance(value, str):
        try:
            return parse_timestamp(value)
        except ValueError as exc:
            if "out of range" in str(exc):
                raise ScalarRefused(f"DateTime {str(exc)}, not {value[:64]!r}") from None
    raise ScalarRefused(f"DateTime must be an ISO 8601 date-time such as 2026-01-31T12:00:00Z, not {str(value)[:64]!r}")


def _parse_decimal(value: Any) -> Decimal:
    try:
        parsed = Decimal(str(value))
    except (InvalidOperation, ValueError):
        parsed = None
    if isinstance(value, bool) or parsed is None or not parsed.is_finite():
        raise ScalarRefused(f"Decimal must be a decimal number such as \"12.5\", not {str(value)[:64]!r}")
    return parsed


SCALAR_MAP = {
    Decimal: strawberry.scalar(
        name="Decimal",
        description="An exact decimal number, sent as a string in its shortest form, e.g. `\"0.05\"` or `\"1500\"`.",
        serialize=lambda value: decimal_text(Decimal(value)),
        parse_value=_parse_decimal,
    ),
    datetime: strawberry.scalar(
        name="DateTime",
        description="A date and time in ISO 8601, e.g. `2026-01-31T12:00:00Z` (UTC when no offset is given).",
        serialize=lambda value: value.isoformat(),
        parse_value=_parse_datetime,
    ),
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
