"""Dataloaders of products and prices (see schema.kit.loaders)."""

from __future__ import annotations

from app.catalog import service
from schema.kit.loaders import by_id, by_parent

product_by_id = by_id(service.load_products)
price_by_id = by_id(service.load_prices)
# Every price of each product, active ones first, archived ones after.
prices_of_product = by_parent(service.load_prices_of)
