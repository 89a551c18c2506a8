"""The access token scopes of organizations (app/auth/scopes.py holds the registry)."""

from __future__ import annotations

from app.auth.scopes import declare

READ = declare("organizations:read", "Read the organization the token belongs to.")
WRITE = declare("organizations:write", "Change the organization's settings (billing-status thresholds).")
