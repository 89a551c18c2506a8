"""Organizations: the merchants. Created from the CLI together with their first access token."""

from __future__ import annotations

import uuid

from sqlalchemy.ext.asyncio import AsyncSession

from app.auth import service as auth_service
from app.auth.subject import Subject
from app.kit.errors import FieldIssue, NotFound, ValidationFailed
from app.kit.tenancy import bind
from app.models import AccessToken, Organization
from app.organizations import repository


async def create_organization(session: AsyncSession, name: str) -> tuple[Organization, AccessToken, str]:
    """Create an organization and its first token (every scope). Returns the plain token once."""
    name = name.strip()
    if not name or len(name) > 200:
        raise ValidationFailed([FieldIssue(("name",), "must be 1 to 200 characters", "invalid_length")])
    organization_id = uuid.uuid4()
    # A new organization is written by a session acting for it (row-level security checks it).
    await bind(session, auth_service.operator_scope(organization_id))
    organization = await repository.add(session, Organization(id=organization_id, name=name))
    token, plain = await auth_service.issue_token(session, organization.id, comment="created with the organization")
    return organization, token, plain


async def create_first_organization(session: AsyncSession, name: str) -> tuple[Organization, AccessToken, str] | None:
    """On a database without organizations, create one with its first token; else None.

    `kassa run` calls it after migrating, so a first start hands over a working token."""
    await repository.lock_first_run(session)
    if await repository.any_exists(session):
        return None
    return await create_organization(session, name)


async def get_current(session: AsyncSession, subject: Subject) -> Organization:
    organization = await repository.get(session, subject.scope)
    if organization is None:
        raise NotFound("Organization not found")
    return organization
