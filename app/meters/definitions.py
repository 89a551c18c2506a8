"""Meter definitions: the event filter and the aggregation, validated and normalised.

A filter is `{"conjunction": "and" | "or", "clauses": [...]}`; each clause is either a
condition `{"property", "operator", "value"}` or a nested filter. Bounds (every meter is
evaluated against every event): at most 3 levels, at most 50 clauses in one list and at most
100 clauses in the whole filter (nested filters count as clauses too). A filter past a bound
is refused whole, without looking further (`too_deep`, `too_many_clauses`).

- `property` is `name` (the event name) or a metadata key, written `metadata.KEY` (or `KEY`).
- operators: `eq`, `ne` compare with a string, number or boolean; `gt`, `gte`, `lt`, `lte` need a
  number and match numeric metadata only; `like`, `not_like` need a string and test whether the
  property's text contains it (case-sensitive).
- a condition on a property the event does not have is false, whatever the operator.

An aggregation is `{"func": "count" | "sum" | "max" | "min" | "avg" | "unique", "property": KEY}`;
`count` takes no property; `sum`, `max`, `min`, `avg` use numeric metadata (events where it is
missing or not a number are left out); `unique` counts distinct values.
"""

from __future__ import annotations

from typing import Any

from app.kit.errors import FieldIssue
from app.kit.validation import has_control_characters

OPERATORS = ("eq", "ne", "gt", "gte", "lt", "lte", "like", "not_like")
NUMERIC_OPERATORS = ("gt", "gte", "lt", "lte")
TEXT_OPERATORS = ("like", "not_like")
FUNCS = ("count", "sum", "max", "min", "avg", "unique")
MAX_DEPTH = 3
MAX_CLAUSES = 50
MAX_TOTAL_CLAUSES = 100
KEY_MAX_LENGTH = 40


def property_key(prop: str) -> str | None:
    """None for the event name, else the metadata key."""
    if prop == "name":
        return None
    return prop[len("metadata.") :] if prop.startswith("metadata.") else prop


def check_filter(issues: list[FieldIssue], path: tuple[str, ...], value: Any) -> dict[str, Any]:
    """The filter, normalised; its problems appended to `issues`. The size and depth bounds are
    checked first, on the raw value, with work bounded by the limits themselves."""
    bound = _filter_bound(path, value)
    if bound is not None:
        issues.append(bound)
        return {"conjunction": "and", "clauses": []}
    return _check_filter(issues, path, value)


def _filter_bound(path: tuple[str, ...], value: Any) -> FieldIssue | None:
    """The first bound the filter breaks (depth, clauses per list, clauses in all), or None.
    Visits at most MAX_TOTAL_CLAUSES clauses."""
    total = 0
    pending = [(path, value, 1)]
    while pending:
        at, filter, depth = pending.pop()
        clauses = filter.get("clauses") if isinstance(filter, dict) else None
        if not isinstance(clauses, list):
            continue
        if len(clauses) > MAX_CLAUSES:
            return FieldIssue((*at, "clauses"), f"at most {MAX_CLAUSES} clauses in one list, got {len(clauses)}", "too_many_clauses")
        total += len(clauses)
        if total > MAX_TOTAL_CLAUSES:
            return FieldIssue(path, f"at most {MAX_TOTAL_CLAUSES} clauses in a whole filter (nested filters count)", "too_many_clauses")
        for index, clause in enumerate(clauses):
            if isinstance(clause, dict) and "clauses" in clause:
                if depth >= MAX_DEPTH:
                    return FieldIssue((*at, "clauses", str(index)), f"filters nest at most {MAX_DEPTH} levels", "too_deep")
                pending.append(((*at, "clauses", str(index)), clause, depth + 1))
    return None


def _check_filter(issues: list[FieldIssue], path: tuple[str, ...], value: Any) -> dict[str, Any]:
    if not isinstance(value, dict):
        issues.append(FieldIssue(path, "must be an object with conjunction and clauses", "invalid_filter"))
        return {"conjunction": "and", "clauses": []}
    conjunction = value.get("conjunction", "and")
    if conjunction not in ("and", "or"):
        issues.append(FieldIssue((*path, "conjunction"), "must be 'and' or 'or'", "invalid_conjunction"))
    clauses = value.get("clauses")
    if not isinstance(clauses, list):
        issues.append(FieldIssue((*path, "clauses"), "must be a list", "invalid_filter"))
        clauses = []
    normalised = []
    for index, clause in enumerate(clauses):
        clause_path = (*path, "clauses", str(index))
        if isinstance(clause, dict) and "clauses" in clause:
            normalised.append(_check_filter(issues, clause_path, clause))
        else:
            normalised.append(_check_condition(issues, clause_path, clause))
    return {"conjunction": conjunction, "clauses": normalised}


def _check_condition(issues: list[FieldIssue], path: tuple[str, ...], clause: Any) -> dict[str, Any]:
    if not isinstance(clause, dict):
        issues.append(FieldIssue(path, "must be a condition {property, operator, value} or a nested filter", "invalid_clause"))
        return {}
    prop, operator, value = clause.get("property"), clause.get("operator"), clause.get("value")
    if not isinstance(prop, str) or not prop or (property_key(prop) is not None and not 1 <= len(property_key(prop)) <= KEY_MAX_LENGTH):
        issues.append(FieldIssue((*path, "property"), f"must be 'name' or a metadata key of 1 to {KEY_MAX_LENGTH} characters", "invalid_property"))
    elif has_control_characters(prop):
        issues.append(FieldIssue((*path, "property"), "must not contain control characters", "invalid_property"))
    if operator not in OPERATORS:
        issues.append(FieldIssue((*path, "operator"), f"must be one of {', '.join(OPERATORS)}", "invalid_operator"))
    elif operator in NUMERIC_OPERATORS and (isinstance(value, bool) or not isinstance(value, (int, float))):
        issues.append(FieldIssue((*path, "value"), f"'{operator}' compares numbers: the value must be a number", "invalid_value"))
    elif operator in TEXT_OPERATORS and not isinstance(value, str):
        issues.append(FieldIssue((*path, "value"), f"'{operator}' matches text: the value must be a string", "invalid_value"))
    elif not isinstance(value, (str, int, float, bool)):
        issues.append(FieldIssue((*path, "value"), "must be a string, number or boolean", "invalid_value"))
    elif isinstance(value, str) and len(value) > 500:
        issues.append(FieldIssue((*path, "value"), "must be at most 500 characters", "too_long"))
    elif isinstance(value, str) and has_control_characters(value, free_text=True):
        issues.append(FieldIssue((*path, "value"), "must not contain control characters such as NUL", "invalid_characters"))
    if prop == "name" and (operator in NUMERIC_OPERATORS or not isinstance(value, str)) and operator in OPERATORS:
        issues.append(FieldIssue((*path, "value"), "the event name is text: compare it with a string", "invalid_value"))
    return {"property": prop, "operator": operator, "value": value}


def check_aggregation(issues: list[FieldIssue], path: tuple[str, ...], value: Any) -> dict[str, Any]:
    if not isinstance(value, dict):
        issues.append(FieldIssue(path, "must be an object {func, property}", "invalid_aggregation"))
        return {"func": "count", "property": None}
    func, prop = value.get("func"), value.get("property")
    if func not in FUNCS:
        issues.append(FieldIssue((*path, "func"), f"must be one of {', '.join(FUNCS)}", "invalid_func"))
    elif func == "count":
        if prop is not None:
            issues.append(FieldIssue((*path, "property"), "count takes no property", "invalid_property"))
    elif not isinstance(prop, str) or property_key(prop) is None or not 1 <= len(property_key(prop)) <= KEY_MAX_LENGTH:
        issues.append(FieldIssue((*path, "property"), f"{func} needs a metadata key of 1 to {KEY_MAX_LENGTH} characters", "invalid_property"))
    elif has_control_characters(prop):
        issues.append(FieldIssue((*path, "property"), "must not contain control characters", "invalid_property"))
    return {"func": func, "property": property_key(prop) if isinstance(prop, str) and func != "count" else None}
