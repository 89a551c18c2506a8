"""The access token scopes of orders, refunds and transactions (app/auth/scopes.py holds the registry)."""

from __future__ import annotations

from app.auth.scopes import declare

READ = declare("orders:read", "Read orders, their items, refunds and transactions.")
WRITE = declare("orders:write", "Refund orders.")
