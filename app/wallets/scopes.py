"""The access token scopes of wallets (app/auth/scopes.py holds the registry)."""

from __future__ import annotations

from app.auth.scopes import declare

READ = declare("wallets:read", "Read wallets, their transactions, holds, budgets and uncovered usage; check whether a wallet covers a use.")
WRITE = declare("wallets:write", "Top up, grant, adjust and refund wallets; hold, capture and release funds; set budgets and auto top-up.")
