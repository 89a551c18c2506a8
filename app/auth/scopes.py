"""Access token scopes. Every query and mutation names the one it needs."""

from __future__ import annotations

import enum


class Scope(str, enum.Enum):
    organizations_read = "organizations:read"
    customers_read = "customers:read"
    customers_write = "customers:write"
    products_read = "products:read"
    products_write = "products:write"
    webhooks_read = "webhooks:read"
    webhooks_write = "webhooks:write"
    organizations_write = "organizations:write"
    meters_read = "meters:read"
    meters_write = "meters:write"
    events_read = "events:read"
    events_write = "events:write"
    discounts_read = "discounts:read"
    discounts_write = "discounts:write"


SCOPE_DESCRIPTIONS = {
    Scope.organizations_read: "Read the organization the token belongs to.",
    Scope.customers_read: "Read customers and their members.",
    Scope.customers_write: "Create, update and delete customers and their members.",
    Scope.products_read: "Read products and their prices.",
    Scope.products_write: "Create, update and archive products; add and archive prices.",
    Scope.webhooks_read: "Read webhook endpoints, events and delivery attempts.",
    Scope.webhooks_write: "Create, change, delete webhook endpoints; rotate secrets; redeliver events.",
    Scope.organizations_write: "Change the organization's settings (billing-status thresholds).",
    Scope.meters_read: "Read meters, customer meters, billing status and quota checks.",
    Scope.meters_write: "Create, change and archive meters; grant meter credits; reset customer meters.",
    Scope.events_read: "Read usage events.",
    Scope.events_write: "Ingest usage events.",
    Scope.discounts_read: "Read discounts and tax rates.",
    Scope.discounts_write: "Create, change and archive discounts; set and remove tax rates.",
}
