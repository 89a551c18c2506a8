"""Access token scopes. Every query and mutation names the one it needs."""

from __future__ import annotations

import enum


class Scope(str, enum.Enum):
    organizations_read = "organizations:read"
    customers_read = "customers:read"
    customers_write = "customers:write"
    webhooks_read = "webhooks:read"
    webhooks_write = "webhooks:write"

    @classmethod
    def all(cls) -> list["Scope"]:
        return list(cls)


SCOPE_DESCRIPTIONS = {
    Scope.organizations_read: "Read the organization the token belongs to.",
    Scope.customers_read: "Read customers and their members.",
    Scope.customers_write: "Create, update and delete customers and their members.",
    Scope.webhooks_read: "Read webhook endpoints, events and delivery attempts.",
    Scope.webhooks_write: "Create, change, delete webhook endpoints; rotate secrets; redeliver events.",
}
