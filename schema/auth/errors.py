"""Authentication errors' codes. They normally reach the caller as top-level errors (see
schema/kit/scopes.py); raised inside a mutation they become `UnexpectedDomainError`."""

from __future__ import annotations

from app.auth.errors import AuthenticationFailed, PermissionDenied
from schema.kit.errors import register_error

register_error(AuthenticationFailed, "No usable credentials: missing, malformed, unknown, expired or revoked token.")
register_error(PermissionDenied, "The access token lacks the scope the operation requires.")
