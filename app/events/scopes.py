"""The access token scopes of events (app/auth/scopes.py holds the registry)."""

from __future__ import annotations

from app.auth.scopes import declare

READ = declare("events:read", "Read usage events.")
WRITE = declare("events:write", "Ingest usage events.")
