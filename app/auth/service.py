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
from app.auth.scopes import CHECKOUT_CLIENT, all_scopes
from app.auth.subject import Subject
from app.kit import clock
from app.kit.errors import FieldIssue, ValidationFailed
from app.kit.tenancy import TenantScope, _mint, bind
from app.models import AccessToken

TOKEN_PREFIX = "kassa_oat_"
_TOKEN_PATTERN = re.compile(r"^kassa_oat_[A-Za-z0-9_-]{43}$")
CHECKOUT_SECRET_PREFIX = "kassa_cs_"
_CHECKOUT_SECRET_PATTERN = re.compile(r"^kassa_cs_[A-Za-z0-9_-]{43}$")


def new_checkout_secret() -> str:
    """A checkout's client secret: the bearer credential of the customer's browser for it."""
    return CHECKOUT_SECRET_PREFIX + secrets.token_urlsafe(32)


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
    if token.startswith(CHECKOUT_SECRET_PREFIX):
        return await _authenticate_checkout(session, token)
    if not _TOKEN_PATTERN.match(token):
        raise AuthenticationFailed("Malformed access token")
    # One statement: the lookup (across organizations, through a function the database owner
    # defines) also sets the transaction's tenant setting when the token is not revoked.
    row = await repository.get_by_hash(session, hash_token(token))
    if row is None:
        raise AuthenticationFailed("Unknown access token")
    if row.revoked_at is not None:
        raise AuthenticationFailed("Access token has been revoked")
    if row.expires_at is not None and row.expires_at <= clock.now():
        raise AuthenticationFailed("Access token has expired")
    scope = _mint(row.organization_id)
    await bind(session, scope, already_set=True)
    return Subject(scope=scope, token_id=row.id, scopes=frozenset(row.scopes))


async def _authenticate_checkout(session: AsyncSession, secret: str) -> Subject:
    """A checkout's client secret: the caller may read and drive that checkout, nothing else."""
    if not _CHECKOUT_SECRET_PATTERN.match(secret):
        raise AuthenticationFailed("Malformed checkout client secret")
    found = await repository.checkout_by_secret(session, secret)
    if found is None:
        raise AuthenticationFailed("Unknown checkout client secret")
    checkout_id, organization_id = found
    scope = _mint(organization_id)
    await bind(session, scope, already_set=True)
    return Subject(scope=scope, token_id=None, scopes=frozenset({CHECKOUT_CLIENT.value}), checkout_id=checkout_id)


def job_scope(organization_id: uuid.UUID) -> TenantScope:
    """The scope of a job, from the organization the transaction that asked for it acted for
    (recorded in the job's arguments by app.kit.jobs). Workers only."""
    return _mint(organization_id)


def operator_scope(organization_id: uuid.UUID) -> TenantScope:
    """The scope of an operator's command on the host (`kassa org create`, `kassa token ...`,
    the first run), who names the organization, and of a new organization's own creation."""
    return _mint(organization_id)


async def issue_token(
    session: AsyncSession,
    organization_id: uuid.UUID,
    *,
    scopes: list[str] | None = None,
    comment: str = "",
    expires_at: datetime | None = None,
) -> tuple[AccessToken, str]:
    """Create a token; returns the row and the plain token, which is never stored nor shown again."""
    known = {s.value for s in all_scopes()}
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


async def list_tokens(session: AsyncSession, scope: TenantScope) -> list[AccessToken]:
    return await repository.list_for_organization(session, scope)


async def revoke_token(session: AsyncSession, token_id: uuid.UUID) -> bool:
    return await repository.revoke(session, token_id)
