"""Queries about the caller's organization."""

from __future__ import annotations

import strawberry

from app.organizations import service
from app.organizations import scopes as organizations_scopes
from schema.kit.scopes import scoped_field
from schema.organizations.types import Organization


@strawberry.type
class OrganizationQueries:
    @scoped_field(organizations_scopes.READ, "The organization the access token belongs to.")
    async def organization(self, info: strawberry.Info) -> Organization:
        row = await info.context.db.run(lambda session: service.get_current(session, info.context.subject))
        return Organization.from_model(row)
