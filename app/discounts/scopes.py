"""The access token scopes of discounts (app/auth/scopes.py holds the registry)."""

from __future__ import annotations

from app.auth.scopes import declare

READ = declare("discounts:read", "Read discounts and tax rates.")
WRITE = declare("discounts:write", "Create, change and archive discounts; set and remove tax rates.")
