"""Dataloaders of discounts (see schema.kit.loaders)."""

from __future__ import annotations

from app.discounts import service
from schema.kit.loaders import by_id, by_parent

discount_by_id = by_id(service.load_discounts)
# The ids of the products each discount is restricted to (empty: every product).
product_ids_of_discount = by_parent(service.load_product_ids_of)
