"""Dataloaders of webhook endpoints, deliveries and attempts (see schema.kit.loaders)."""

from __future__ import annotations

from app.webhooks import service
from schema.kit.loaders import by_id, by_parent

webhook_endpoint_by_id = by_id(service.load_endpoints)
deliveries_of_event = by_parent(service.load_deliveries_of)
attempts_of_delivery = by_parent(service.load_attempts_of)
