from __future__ import annotations

import uuid
from dataclasses import dataclass

from app.kit.tenancy import TenantScope


@dataclass(frozen=True)
class Subject:
    """Who is calling: an organization, through one access token with its scopes."""

    scope: TenantScope
    token_id: uuid.UUID
    scopes: frozenset[str]

    @property
    def organization_id(self) -> uuid.UUID:
        return self.scope.organization_id

    def has_scope(self, scope: str) -> bool:
        return scope in self.scopes
