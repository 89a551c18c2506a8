"""Dataloaders of customers (see schema.kit.loaders): `loader(info, customer_by_id).load(id)`."""

from __future__ import annotations

from app.customers import service
from schema.kit.loaders import by_id

customer_by_id = by_id(service.load_customers)
