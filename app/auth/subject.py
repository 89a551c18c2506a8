from __future__ import annotations

import uuid
from dataclasses import dataclass

from app.kit.tenancy import TenantScope


@dataclass(frozen=True)
class Subject:
    """Who is calling: an organization, through one access token with its scopes; or a
    customer's browser holding one checkout's client secret (`checkout_id` set, `token_id`
    None), whose only scope is `checkouts:client` and only for that checkout."""

    scope: TenantScope
    token_id: uuid.UUID | None
    scopes: frozenset[str]
    checkout_id: uuid.UUID | None = None

    @property
    def organization_id(self) -> uuid.UUID:
        return self.scope.organization_id

    def has_scope(self, scope: str) -> bool:
        return scope in self.scopes
