"""Dataloaders of members (see schema.kit.loaders)."""

from __future__ import annotations

from app.members import service
from schema.kit.loaders import by_id, by_parent

member_by_id = by_id(service.load_members)
# The active members of each customer, owner first.
members_of_customer = by_parent(service.load_members_of)
