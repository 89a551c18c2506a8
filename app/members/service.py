"""Members of a customer and the rules about their roles.

- exactly one active owner per customer (also a partial unique index);
- the owner cannot be removed nor demoted; ownership moves only by `transfer_ownership`,
  which makes the previous owner a billing manager;
- an individual customer has exactly one member, its owner, mirrored from the customer;
- email and external id are unique among a customer's active members.

Every change to a customer's members locks the customer's row first and only then reads the
members it judges (roles included): member mutations of one customer run one at a time, each
seeing the others' committed result, so no interleaving leaves a customer without its owner.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from typing import Any, Mapping

from sqlalchemy.ext.asyncio import AsyncSession

from app.auth.subject import Subject
from app.kit import clock
from app.kit.batches import grouped, in_order
from app.kit.errors import FieldIssue, NotFound, ValidationFailed
from app.kit.repository import flush_unique
from app.kit.validation import check_email, check_text
from app.kit.tenancy import TenantScope
from app.members import repository
from app.members.errors import CustomerNotBusiness, DuplicateMemberEmail, DuplicateMemberExternalId, MemberRoleRule
from app.models import Customer, Member, MemberRole, WebhookEventType
from app.webhooks import service as webhooks
from app.webhooks.payloads import member_data

ASSIGNABLE_ROLES = (MemberRole.billing_manager.value, MemberRole.member.value)


@dataclass
class MemberDraft:
    email: str
    name: str | None = None
    external_id: str | None = None
    role: str = MemberRole.member.value


def check_member_draft(issues: list[FieldIssue], path: tuple[str, ...], draft: MemberDraft, *, owner: bool = False) -> MemberDraft:
    """Validate and normalise one member's fields; `owner` drafts get the owner role."""
    role = MemberRole.owner.value if owner else draft.role
    if not owner and role not in ASSIGNABLE_ROLES:
        issues.append(
            FieldIssue((*path, "role"), "must be BILLING_MANAGER or MEMBER; ownership moves with transferOwnership", "invalid_role")
        )
    return MemberDraft(
        email=check_email(issues, (*path, "email"), draft.email),
        name=check_text(issues, (*path, "name"), draft.name, max_length=256),
        external_id=check_text(issues, (*path, "externalId"), draft.external_id, max_length=256),
        role=role,
    )


def member_conflicts(email: str, external_id: str | None, prefix: tuple[str, ...] = ()) -> dict:
    where = ".".join(prefix)
    return {
        repository.UNIQUE_EMAIL: lambda: DuplicateMemberEmail(email, field=f"{where}.email" if where else "email"),
        repository.UNIQUE_EXTERNAL_ID: lambda: DuplicateMemberExternalId(
            external_id or "", field=f"{where}.externalId" if where else "externalId"
        ),
    }


async def _customer_for_update(session: AsyncSession, subject: Subject, customer_id: uuid.UUID) -> Customer:
    customer = await repository.customer_for_update(session, subject.scope, customer_id)
    if customer is None:
        raise NotFound("Customer not found")
    return customer


async def _member(session: AsyncSession, subject: Subject, member_id: uuid.UUID) -> Member:
    member = await repository.get(session, subject.scope, member_id)
    if member is None:
        raise NotFound("Member not found")
    return member


async def _member_of_locked_customer(session: AsyncSession, subject: Subject, member_id: uuid.UUID) -> tuple[Member, Customer]:
    """The member, read again after its customer's row is locked (a concurrent transfer or removal
    may have changed it meanwhile), and the locked customer."""
    member = await _member(session, subject, member_id)
    customer = await _customer_for_update(session, subject, member.customer_id)
    return await _member(session, subject, member_id), customer


def _require_business(customer: Customer, action: str) -> None:
    if not customer.is_business:
        raise CustomerNotBusiness(
            f"Cannot {action}: an individual customer has exactly one member, its owner. "
            "Upgrade the customer to a business first (upgradeCustomerToBusiness)."
        )


async def get_member(session: AsyncSession, subject: Subject, member_id: uuid.UUID) -> Member:
    return await _member(session, subject, member_id)


async def add_member(session: AsyncSession, subject: Subject, customer_id: uuid.UUID, draft: MemberDraft) -> Member:
    issues: list[FieldIssue] = []
    draft = check_member_draft(issues, (), draft)
    if issues:
        raise ValidationFailed(issues)
    customer = await _customer_for_update(session, subject, customer_id)
    _require_business(customer, "add a member")
    member = Member(
        organization_id=subject.organization_id,
        customer_id=customer.id,
        role=draft.role,
        email=draft.email,
        name=draft.name,
        external_id=draft.external_id,
    )
    session.add(member)
    await flush_unique(session, member_conflicts(draft.email, draft.external_id))
    await webhooks.emit(session, subject.scope, WebhookEventType.member_created, member_data(member))
    return member


async def update_member(session: AsyncSession, subject: Subject, member_id: uuid.UUID, changes: Mapping[str, Any]) -> Member:
    member, customer = await _member_of_locked_customer(session, subject, member_id)
    _require_business(customer, "update this member directly (update the individual customer instead)")
    issues: list[FieldIssue] = []
    if "email" in changes:
        if changes["email"] is None:
            issues.append(FieldIssue(("email",), "cannot be null", "required"))
        else:
            member.email = check_email(issues, ("email",), changes["email"])
    if "name" in changes:
        member.name = check_text(issues, ("name",), changes["name"], max_length=256)
    if "external_id" in changes:
        member.external_id = check_text(issues, ("externalId",), changes["external_id"], max_length=256)
    if "role" in changes:
        role = changes["role"]
        if role is None or role not in {r.value for r in MemberRole}:
            issues.append(FieldIssue(("role",), "must be BILLING_MANAGER or MEMBER", "invalid_role"))
        elif role != member.role:
            if member.role == MemberRole.owner.value:
                raise MemberRoleRule(
                    "The owner's role cannot be changed; transfer ownership to another member instead",
                    rule="owner_role_fixed",
                )
            if role == MemberRole.owner.value:
                raise MemberRoleRule(
                    "A member becomes owner only through transferOwnership", rule="owner_by_transfer_only"
                )
            member.role = role
    if issues:
        raise ValidationFailed(issues)
    await flush_unique(session, member_conflicts(member.email, member.external_id))
    await webhooks.emit(session, subject.scope, WebhookEventType.member_updated, member_data(member))
    return member


async def remove_member(session: AsyncSession, subject: Subject, member_id: uuid.UUID) -> Member:
    member, _customer = await _member_of_locked_customer(session, subject, member_id)
    if member.role == MemberRole.owner.value:
        raise MemberRoleRule(
            "The owner cannot be removed; transfer ownership to another member first", rule="owner_not_removable"
        )
    member.deleted_at = clock.now()
    await session.flush()
    await webhooks.emit(session, subject.scope, WebhookEventType.member_deleted, member_data(member))
    return member


async def transfer_ownership(
    session: AsyncSession, subject: Subject, customer_id: uuid.UUID, member_id: uuid.UUID
) -> tuple[Customer, Member, Member]:
    """Make `member_id` the owner; the previous owner becomes a billing manager.

    Returns (customer, new owner, previous owner).
    """
    customer = await _customer_for_update(session, subject, customer_id)
    member = await _member(session, subject, member_id)
    if member.customer_id != customer.id:
        raise NotFound("Member not found in this customer")
    if member.role == MemberRole.owner.value:
        raise MemberRoleRule("This member is already the owner", rule="already_owner")
    previous = await repository.get_owner(session, subject.scope, customer.id)
    if previous is not None:
        previous.role = MemberRole.billing_manager.value
        await session.flush()  # demote first: the one-owner index is checked per statement
    member.role = MemberRole.owner.value
    await session.flush()
    if previous is not None:
        await webhooks.emit(session, subject.scope, WebhookEventType.member_updated, member_data(previous))
    await webhooks.emit(session, subject.scope, WebhookEventType.member_updated, member_data(member))
    return customer, member, previous


async def load_members_of(session: AsyncSession, scope: TenantScope, customer_ids: list[uuid.UUID]) -> list[list[Member]]:
    members = await repository.list_for_customers(session, scope, customer_ids)
    return grouped(members, customer_ids, key=lambda member: member.customer_id)


async def load_members(session: AsyncSession, scope: TenantScope, ids: list[uuid.UUID]) -> list[Member | None]:
    return in_order(await repository.get_many(session, scope, ids), ids)
