"""The access token scopes of catalog (app/auth/scopes.py holds the registry)."""

from __future__ import annotations

from app.auth.scopes import declare

READ = declare("products:read", "Read products and their prices.")
WRITE = declare("products:write", "Create, update and archive products; add and archive prices.")
