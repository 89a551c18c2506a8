"""Tenant scoping: the one function every repository uses to keep a query inside its organization."""

from __future__ import annotations

from typing import Any, Callable, Mapping, Sequence, TypeVar

from sqlalchemy import ColumnElement, Select, bindparam, cast, column, func
from sqlalchemy.dialects.postgresql import ARRAY
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from app.kit.errors import KassaError
from app.kit.tenancy import TenantScope

T = TypeVar("T", bound=Select)


def owned_by(model, scope: TenantScope) -> ColumnElement[bool]:
    """`model`'s rows of the scope's organization: the one tenant filter (row-level security
    checks the same again in PostgreSQL, app.kit.tenancy)."""
    if not isinstance(scope, TenantScope):
        raise TypeError(f"a repository is scoped by a TenantScope, got {type(scope).__name__}")
    return model.organization_id == scope.organization_id


def scoped(statement: T, model, scope: TenantScope) -> T:
    """Restrict `statement` to rows of `model` owned by the scope's organization (and not soft-deleted)."""
    statement = statement.where(owned_by(model, scope))
    if hasattr(model, "deleted_at"):
        statement = statement.where(model.deleted_at.is_(None))
    return statement


def escape_like(text: str) -> str:
    """`text` for a LIKE/ILIKE pattern, its wildcards taken literally (search filters)."""
    return text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")


def violated_constraint(exc: IntegrityError) -> str | None:
    """The name of the constraint or unique index an IntegrityError broke (asyncpg reports it)."""
    cause = getattr(exc.orig, "__cause__", None)
    return getattr(cause, "constraint_name", None) or getattr(exc.orig, "constraint_name", None)


async def flush_unique(session: AsyncSession, conflicts: Mapping[str, Callable[[], KassaError]]) -> None:
    """Flush; a broken unique index named in `conflicts` becomes that typed error.

    The unique indexes are the real guard (two concurrent requests cannot both pass a
    read-then-write check); the transaction is rolled back by its owner when this raises.
    """
    try:
        await session.flush()
    except IntegrityError as exc:
        factory = conflicts.get(violated_constraint(exc) or "")
        if factory is None:
            raise
        raise factory() from None


def rows_table(name: str, columns: Sequence[tuple[Any, ...]], rows: Sequence[Sequence[Any]] | None):
    """`rows` as a table to join (`unnest` of one array parameter per column, AS name(columns)):
    unlike VALUES, whose SQL grows with the rows, one statement shape whatever their number, so
    SQLAlchemy compiles it once and caches it (a batch of hundreds of rows compiled anew each
    time costs tens of milliseconds). `rows=None`: the arrays are given when the statement runs
    (`rows_params`), for a statement built once and kept (building one costs more than running it).
    A column `(name, type, bound_as)` is sent as an array of `bound_as` and cast to `type` once,
    by the array (a type the driver cannot send, e.g. xid8 as text)."""
    names = [spec[0] for spec in columns]
    values = rows_params(name, names, rows) if rows is not None else None
    arrays = []
    for column_name, type_, *bound_as in columns:
        key = f"{name}_{column_name}"
        sent = bound_as[0] if bound_as else type_
        array = bindparam(key, values[key], type_=ARRAY(sent)) if values is not None else bindparam(key, type_=ARRAY(sent))
        arrays.append(cast(array, ARRAY(type_)) if bound_as else array)
    return func.unnest(*arrays).table_valued(*[column(spec[0], spec[1]) for spec in columns]).render_derived(name=name)


def rows_params(name: str, column_names: Sequence[str], rows: Sequence[Sequence[Any]]) -> dict[str, list[Any]]:
    """The parameters of a `rows_table(name, columns, None)`: one array per column."""
    by_column = list(zip(*rows)) if rows else [() for _ in column_names]
    return {f"{name}_{column_name}": list(values) for column_name, values in zip(column_names, by_column)}
