"""Dataloaders of meters and their running totals (see schema.kit.loaders)."""

from __future__ import annotations

from app.meters import service
from schema.kit.loaders import by_id, by_parent

meter_by_id = by_id(service.load_meters)
# Each customer's totals per meter, and its members' totals (keyed by customer id).
meters_of_customer = by_parent(service.load_customer_meters)
member_meters_of_customer = by_parent(service.load_member_meters)
