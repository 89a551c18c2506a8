from __future__ import annotations

import uuid
from dataclasses import dataclass


@dataclass(frozen=True)
class Subject:
    """Who is calling: an organization, through one access token with its scopes."""

    organization_id: uuid.UUID
    token_id: uuid.UUID
    scopes: frozenset[str]

    def has_scope(self, scope: str) -> bool:
        return scope in self.scopes
