"""The access token scopes of customers (app/auth/scopes.py holds the registry)."""

from __future__ import annotations

from app.auth.scopes import declare

READ = declare("customers:read", "Read customers and their members.")
WRITE = declare("customers:write", "Create, update and delete customers and their members.")
