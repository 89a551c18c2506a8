"""The access token scopes of checkouts (app/auth/scopes.py holds the registry). The customer's
browser holds none of them: its client secret gives it `checkouts:client` for its checkout only."""

from __future__ import annotations

from app.auth.scopes import declare

READ = declare("checkouts:read", "Read checkouts.")
WRITE = declare("checkouts:write", "Create, change and confirm checkouts.")
