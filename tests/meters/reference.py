"""A plain-Python reference for meters: what a meter should count, computed without SQL."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

QUANTUM = Decimal("0.000000000001")


def _key(prop: str) -> str | None:
    if prop == "name":
        return None
    return prop[len("metadata.") :] if prop.startswith("metadata.") else prop


def _is_number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def _json_equal(a: Any, b: Any) -> bool:
    if isinstance(a, bool) or isinstance(b, bool):
        return isinstance(a, bool) and isinstance(b, bool) and a == b
    if _is_number(a) and _is_number(b):
        return Decimal(str(a)) == Decimal(str(b))
    return type(a) is type(b) and a == b


def condition_matches(clause: dict, event: dict) -> bool:
    key = _key(clause["property"])
    operator, value = clause["operator"], clause["value"]
    if key is None:
        name = event["name"]
        return {"eq": name == value, "ne": name != value, "like": value in name, "not_like": value not in name}[operator]
    metadata = event.get("metadata") or {}
    if key not in metadata:
        return False
    actual = metadata[key]
    if operator == "eq":
        return _json_equal(actual, value)
    if operator == "ne":
        return not _json_equal(actual, value)
    if operator in ("gt", "gte", "lt", "lte"):
        if not _is_number(actual):
            return False
        a, b = Decimal(str(actual)), Decimal(str(value))
        return {"gt": a > b, "gte": a >= b, "lt": a < b, "lte": a <= b}[operator]
    if not isinstance(actual, str):
        return False
    return (value in actual) if operator == "like" else (value not in actual)


def filter_matches(definition: dict, event: dict) -> bool:
    results = [filter_matches(c, event) if "clauses" in c else condition_matches(c, event) for c in definition["clauses"]]
    if not results:
        return True
    return all(results) if definition["conjunction"] == "and" else any(results)


def aggregate(aggregation: dict, events: list[dict]) -> Decimal:
    func, key = aggregation["func"], _key(aggregation["property"]) if aggregation.get("property") else None
    if func == "count":
        return Decimal(len(events)).quantize(QUANTUM)
    if func == "unique":
        return Decimal(len({_text(e["metadata"][key]) for e in events if key in (e.get("metadata") or {})})).quantize(QUANTUM)
    values = [Decimal(str(e["metadata"][key])) for e in events if _is_number((e.get("metadata") or {}).get(key))]
    if func == "sum":
        return sum(values, Decimal(0)).quantize(QUANTUM)
    if not values:
        return Decimal(0).quantize(QUANTUM)
    if func == "max":
        return max(values).quantize(QUANTUM)
    if func == "min":
        return min(values).quantize(QUANTUM)
    return (sum(values, Decimal(0)) / len(values)).quantize(QUANTUM)


def _text(value: Any) -> str:
    """PostgreSQL's `->>` text of a JSON scalar, for the values the tests generate."""
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


def consumed(meter: dict, events: list[dict]) -> Decimal:
    return aggregate(meter["aggregation"], [e for e in events if filter_matches(meter["filter"], e)])
