from __future__ import annotations

from app.kit.errors import KassaError


class AuthenticationFailed(KassaError):
    """No usable credentials: missing, malformed, unknown, expired or revoked token."""

    code = "UNAUTHENTICATED"


class PermissionDenied(KassaError):
    """The token is valid but lacks the scope the operation requires."""

    code = "FORBIDDEN"
