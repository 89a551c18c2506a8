"""The access token scopes of meters (app/auth/scopes.py holds the registry)."""

from __future__ import annotations

from app.auth.scopes import declare

READ = declare("meters:read", "Read meters, customer meters, billing status and quota checks.")
WRITE = declare("meters:write", "Create, change and archive meters; grant meter credits; reset customer meters.")
