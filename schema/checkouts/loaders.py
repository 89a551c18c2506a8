"""Dataloaders of checkouts (see schema.kit.loaders)."""

from __future__ import annotations

from app.checkouts import service
from schema.kit.loaders import by_id

checkout_by_id = by_id(service.load_checkouts)
