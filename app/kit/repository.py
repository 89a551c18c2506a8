"""Tenant scoping: the one function every repository uses to keep a query inside its organization."""

from __future__ import annotations

import uuid
from typing import Callable, Mapping, TypeVar

from sqlalchemy import Select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from app.kit.errors import KassaError

T = TypeVar("T", bound=Select)


def scoped(statement: T, model, organization_id: uuid.UUID) -> T:
    """Restrict `statement` to rows of `model` owned by `organization_id` (and not soft-deleted)."""
    statement = statement.where(model.organization_id == organization_id)
    if hasattr(model, "deleted_at"):
        statement = statement.where(model.deleted_at.is_(None))
    return statement


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
