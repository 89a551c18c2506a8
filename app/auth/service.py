"""Organization access tokens: issue (the secret is shown once), authenticate, revoke."""

from __future__ import annotations

import hashlib
import re
import secrets
import uuid
from datetime import datetime

from sqlalchemy.ext.asyncio import AsyncSession

from app.auth import repository
from app.auth.errors import AuthenticationFailed
from app.auth.scopes import Scope
from app.auth.subject import Subject
from app.kit.errors import FieldIssue, ValidationFailed
from app.kit.models import utc_now
from app.models import AccessToken

TOKEN_PREFIX = "kassa_oat_"
_TOKEN_PATTERN = re.compile(r"^kassa_oat_[A-Za-z0-9_-]{43}$")


def hash_token(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def parse_authorization(header: str | None) -> str | None:
    """Return the bearer token of an Authorization header, None when there is no header.

    Raises AuthenticationFailed when the header is present but is not `Bearer <token>`.
    """
    if header is None:
        return None
    scheme, _, token = header.strip().partition(" ")
    token = token.strip()
    if scheme.lower() != "bearer" or not token:
        raise AuthenticationFailed("Authorization header must be 'Bearer <access token>'")
    return token


async def authenticate(session: AsyncSession, token: str) -> Subject:
    if not _TOKEN_PATTERN.match(token):
        raise AuthenticationFailed("Malformed access token")
    row = await repository.get_by_hash(session, hash_token(token))
    if row is None:
        raise AuthenticationFailed("Unknown access token")
    if row.revoked_at is not None:
        raise AuthenticationFailed("Access token has been revoked")
    if row.expires_at is not None and row.expires_at <= utc_now():
        raise AuthenticationFailed("Access token has expired")
    return Subject(organization_id=row.organization_id, token_id=row.id, scopes=frozenset(row.scopes))


async def issue_token(
    session: AsyncSession,
    organization_id: uuid.UUID,
    *,
    scopes: list[str] | None = None,
    comment: str = "",
    expires_at: datetime | None = None,
) -> tuple[AccessToken, str]:
    """Create a token; returns the row and the plain token, which is never stored nor shown again."""
    known = {s.value for s in Scope}
    chosen = list(scopes) if scopes is not None else sorted(known)
    unknown = [s for s in chosen if s not in known]
    if unknown:
        raise ValidationFailed([FieldIssue(("scopes",), f"unknown scopes: {', '.join(unknown)}", "unknown_scope")])
    plain = TOKEN_PREFIX + secrets.token_urlsafe(32)
    row = AccessToken(
        organization_id=organization_id,
        token_hash=hash_token(plain),
        scopes=chosen,
        comment=comment,
        expires_at=expires_at,
    )
    await repository.add(session, row)
    return row, plain


async def list_tokens(session: AsyncSession, organization_id: uuid.UUID) -> list[AccessToken]:
    return await repository.list_for_organization(session, organization_id)


async def revoke_token(session: AsyncSession, token_id: uuid.UUID) -> bool:
    return await repository.revoke(session, token_id)
