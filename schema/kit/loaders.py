"""Per-request dataloaders: declared by each domain beside its types, built lazily per request.

A domain declares its loaders once, at import time, in `schema/<domain>/loaders.py`, by wrapping
a service batch function `(session, scope, keys) -> one result per key, in order`:

    customer_by_id = by_id(customers.load_customers)            # key -> row | None
    members_of_customer = by_parent(members.load_members_of)    # parent id -> [rows]

A resolver asks for the request's instance with `loader(info, customer_by_id).load(id)`: the
`DataLoader` is built the first time a request asks for it and kept for the rest of the request,
keyed by the factory object, so adding a domain (or a loader) touches no shared file.

One SQL statement per batch, whatever the number of parents. Each batch takes the request's
session through the gate (`SessionGate.run`), so concurrent batches of different loaders never use
the session at the same time, and a batch cancelled because the operation already failed elsewhere
finishes its statement instead of breaking the connection. The batch is scoped to the caller's
organization (its `TenantScope`, from authentication), read when the batch runs.
"""

from __future__ import annotations

import uuid
from typing import TYPE_CHECKING, Any, Awaitable, Callable, Generic, Hashable, Iterable, Protocol, Sequence, TypeVar

import strawberry
from sqlalchemy.ext.asyncio import AsyncSession
from strawberry.dataloader import DataLoader

from app.kit.tenancy import TenantScope

if TYPE_CHECKING:
    from schema.context import Context

K = TypeVar("K", bound=Hashable)
V = TypeVar("V")
R = TypeVar("R", bound="HasId")

# `(session, scope, keys)` -> one result per key, in the order of the keys.
BatchFunction = Callable[[AsyncSession, TenantScope, list[K]], Awaitable[Sequence[V]]]


class HasId(Protocol):
    id: uuid.UUID


class LoaderFactory(Generic[K, V]):
    """Builds the `DataLoader` of one request from a scoped batch function. Compared by identity:
    the factory object is the loader's key in the request's `Loaders`."""

    __slots__ = ("batch", "name")

    def __init__(self, batch: BatchFunction[K, V], name: str | None = None) -> None:
        self.batch = batch
        self.name = name or getattr(batch, "__qualname__", repr(batch))

    def build(self, context: "Context") -> DataLoader[K, V]:
        batch = self.batch

        async def load(keys: list[K]) -> Sequence[V]:
            subject = context.subject
            assert subject is not None, "dataloaders serve authenticated callers only"
            scope = subject.scope
            return await context.db.run(lambda session: batch(session, scope, keys))

        return DataLoader(load_fn=load)

    def __repr__(self) -> str:
        return f"<{type(self).__name__} {self.name}>"


class ById(LoaderFactory[uuid.UUID, R | None]):
    """Rows by their own id: None where the caller's organization has no such row."""

    __slots__ = ()

    def prime(self, context: "Context", rows: Iterable[R]) -> None:
        """Hand rows the request already holds (e.g. a page) to the loader: a later `load` of
        one of them costs no statement."""
        loader = context.loaders.get(self)
        for row in rows:
            loader.prime(row.id, row, force=True)


class ByParent(LoaderFactory[uuid.UUID, list[V]]):
    """The children of each parent id (an empty list for a parent without any)."""

    __slots__ = ()


def by_id(batch: BatchFunction[uuid.UUID, "R | None"], name: str | None = None) -> ById[R]:
    """A "by id" loader: `batch(session, scope, ids)` returns the row of each id (or
    None), in the order of `ids`."""
    return ById(batch, name)


def by_parent(batch: BatchFunction[uuid.UUID, "list[V]"], name: str | None = None) -> ByParent[V]:
    """A "by parent" loader: `batch(session, scope, parent_ids)` returns the list of
    children of each parent, in the order of `parent_ids`."""
    return ByParent(batch, name)


class Loaders:
    """The dataloaders of one request, one per factory, each built the first time it is asked for."""

    __slots__ = ("_context", "_built")

    def __init__(self, context: "Context") -> None:
        self._context = context
        self._built: dict[LoaderFactory[Any, Any], DataLoader[Any, Any]] = {}

    def get(self, factory: LoaderFactory[K, V]) -> DataLoader[K, V]:
        built = self._built.get(factory)
        if built is None:
            built = self._built[factory] = factory.build(self._context)
        return built


def loader(info: strawberry.Info, factory: LoaderFactory[K, V]) -> DataLoader[K, V]:
    """The request's `DataLoader` of `factory`."""
    return info.context.loaders.get(factory)
