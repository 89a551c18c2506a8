"""Dataloaders of wallets (see schema.kit.loaders)."""

from __future__ import annotations

from app.wallets import holds, service
from schema.kit.loaders import by_id, by_parent

wallet_by_id = by_id(service.load_wallets)
wallets_of_customer = by_parent(service.load_wallets_of)
budgets_of_member = by_parent(service.load_budgets_of_members)
uncovered_of_customer = by_parent(service.load_uncovered_of)
wallet_entry_by_id = by_id(service.load_entries)
recent_entries_of_wallet = by_parent(service.load_recent_entries_of)
month_spend_of_member = by_parent(service.load_month_spend_of_members)
wallet_hold_by_id = by_id(holds.load_holds)
active_holds_of_wallet = by_parent(holds.load_active_holds_of)
