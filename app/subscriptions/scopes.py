"""The access token scopes of subscriptions (app/auth/scopes.py holds the registry)."""

from __future__ import annotations

from app.auth.scopes import declare

READ = declare("subscriptions:read", "Read subscriptions and their billing entries.")
WRITE = declare("subscriptions:write", "Cancel, uncancel and revoke subscriptions.")
