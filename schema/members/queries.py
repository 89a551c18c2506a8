"""Queries about members."""

from __future__ import annotations

from typing import Annotated

import strawberry

from app.kit.ids import parse_global_id
from app.members import service
from app.customers import scopes as customers_scopes
from schema.kit.errors import run_query
from schema.kit.scopes import scoped_field
from schema.members.types import Member


@strawberry.type
class MemberQueries:
    @scoped_field(customers_scopes.READ, "One member by id; null if there is none.")
    async def member(self, info: strawberry.Info, id: Annotated[strawberry.ID, strawberry.argument(description="The member's global id.")]) -> Member | None:
        row = await run_query(
            info,
            lambda session, subject: service.get_member(session, subject, parse_global_id(id, "Member")),
            null_if_not_found=True,
        )
        return Member.from_model(row) if row is not None else None
