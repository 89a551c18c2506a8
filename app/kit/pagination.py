"""Keyset (cursor) pagination over one sort key plus the primary key as tie-breaker."""

from __future__ import annotations

import base64
import json
import uuid
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Generic, Sequence, TypeVar

from sqlalchemy import Select, tuple_
from sqlalchemy.ext.asyncio import AsyncSession

from app.kit.errors import FieldIssue, ValidationFailed
from app.kit.validation import has_control_characters, parse_timestamp

T = TypeVar("T")


@dataclass
class Page(Generic[T]):
    items: Sequence[T]
    cursors: list[str]
    has_next_page: bool
    has_previous_page: bool


def _encode(value: Any) -> Any:
    if isinstance(value, datetime):
        return {"t": value.isoformat()}
    return value


def _decode(value: Any) -> Any:
    if isinstance(value, dict) and "t" in value:
        return parse_timestamp(value["t"])
    return value


def _fits(value: Any, sort_key) -> bool:
    """A forged cursor must not reach the database: its sort value must have the sort key's
    type (and a text or integer the column can hold)."""
    if value is None:
        return True
    try:
        expected = sort_key.type.python_type
    except NotImplementedError:  # pragma: no cover - every sort key here has a python type
        return True
    if expected is int:
        return type(value) is int and -(2**63) <= value < 2**63
    if expected is str:
        return type(value) is str and len(value) <= 1000 and not has_control_characters(value)
    return isinstance(value, expected)


def encode_cursor(sort_value: Any, id: uuid.UUID) -> str:
    raw = json.dumps([_encode(sort_value), str(id)], separators=(",", ":"))
    return base64.urlsafe_b64encode(raw.encode()).rstrip(b"=").decode()


def decode_cursor(cursor: str) -> tuple[Any, uuid.UUID]:
    try:
        raw = base64.urlsafe_b64decode((cursor + "=" * (-len(cursor) % 4)).encode("ascii"))
        sort_value, id = json.loads(raw)
        return _decode(sort_value), uuid.UUID(id)
    except Exception:
        raise _invalid_cursor() from None


def _invalid_cursor() -> ValidationFailed:
    return ValidationFailed([FieldIssue(("after",), "is not a cursor returned by this list", "invalid_cursor")])


def check_page_size(first: int, maximum: int) -> None:
    if first < 1 or first > maximum:
        raise ValidationFailed([FieldIssue(("first",), f"must be between 1 and {maximum}", "out_of_range")])


async def paginate(
    session: AsyncSession,
    statement: Select,
    *,
    sort_key,
    id_column,
    descending: bool,
    first: int,
    after: str | None,
    sort_value_of,
) -> Page:
    """Run `statement` (which selects one entity) ordered by (sort_key, id) and cut one page."""
    if after is not None:
        value, last_id = decode_cursor(after)
        if not _fits(value, sort_key):
            raise _invalid_cursor()
        boundary = tuple_(sort_key, id_column)
        statement = statement.where(boundary < tuple_(value, last_id) if descending else boundary > tuple_(value, last_id))
    if descending:
        statement = statement.order_by(sort_key.desc(), id_column.desc())
    else:
        statement = statement.order_by(sort_key.asc(), id_column.asc())
    rows = list((await session.scalars(statement.limit(first + 1))).all())
    has_next = len(rows) > first
    rows = rows[:first]
    return Page(
        items=rows,
        cursors=[encode_cursor(sort_value_of(row), row.id) for row in rows],
        has_next_page=has_next,
        has_previous_page=after is not None,
    )
