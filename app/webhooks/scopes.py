"""The access token scopes of webhooks (app/auth/scopes.py holds the registry)."""

from __future__ import annotations

from app.auth.scopes import declare

READ = declare("webhooks:read", "Read webhook endpoints, events and delivery attempts.")
WRITE = declare("webhooks:write", "Create, change, delete webhook endpoints; rotate secrets; redeliver events.")
