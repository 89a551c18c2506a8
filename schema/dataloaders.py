"""Per-request dataloaders: one SQL statement per batch, whatever the number of parents.

Each batch takes the request's session through the gate, so concurrent batches of different
loaders never use the session at the same time.
"""

from __future__ import annotations

import uuid
from typing import TYPE_CHECKING

from strawberry.dataloader import DataLoader

from app.customers import service as customers
from app.members import service as members
from app.models import Customer, Member

if TYPE_CHECKING:
    from schema.context import Context


class Loaders:
    def __init__(self, context: "Context") -> None:
        self._context = context
        self.customer = DataLoader[uuid.UUID, Customer | None](self._customers)
        self.members_of_customer = DataLoader[uuid.UUID, list[Member]](self._members_of_customers)
        self.member = DataLoader[uuid.UUID, Member | None](self._members)

    @property
    def _organization_id(self) -> uuid.UUID:
        assert self._context.subject is not None
        return self._context.subject.organization_id

    async def _customers(self, ids: list[uuid.UUID]) -> list[Customer | None]:
        async with self._context.db.use() as session:
            return await customers.load_customers(session, self._organization_id, ids)

    async def _members_of_customers(self, ids: list[uuid.UUID]) -> list[list[Member]]:
        async with self._context.db.use() as session:
            return await members.load_members_of(session, self._organization_id, ids)

    async def _members(self, ids: list[uuid.UUID]) -> list[Member | None]:
        async with self._context.db.use() as session:
            return await members.load_members(session, self._organization_id, ids)

    def prime_customers(self, rows: list[Customer]) -> None:
        for row in rows:
            self.customer.prime(row.id, row, force=True)
