"""Customers: individuals and businesses, with their members.

An individual gets its owner member automatically, mirrored from the customer's email, name
and external id. A business is created with its owner and optionally more members in one call.
An individual can be upgraded to a business (one way). Deletion is soft: the external id is
freed and the customer and its members disappear from every read.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from typing import Any, Mapping

from sqlalchemy.ext.asyncio import AsyncSession

from app.auth.subject import Subject
from app.customers import repository
from app.customers.errors import CustomerAlreadyBusiness, DuplicateExternalId
from app.customers.repository import CustomerFilter
from app.kit.batches import in_order
from app.kit.errors import FieldIssue, NotFound, ValidationFailed
from app.kit.pagination import Page, check_page_size
from app.kit.repository import flush_unique
from app.kit.validation import check_address, check_email, check_lookup_text, check_metadata, check_text
from app.kit.tenancy import TenantScope
from app.members import repository as member_repository
from app.members.errors import DuplicateMemberEmail, DuplicateMemberExternalId
from app.members.service import MemberDraft, check_member_draft, member_conflicts
from app.models import Customer, CustomerType, Member, MemberRole, WebhookEventType
from app.meters import aggregation as meters
from app.webhooks import service as webhooks
from app.webhooks.payloads import customer_data, member_data

__all__ = ["CustomerDraft", "CustomerFilter", "create_customer", "list_customers"]


@dataclass
class CustomerDraft:
    type: str
    email: str
    name: str | None = None
    external_id: str | None = None
    billing_name: str | None = None
    billing_address: dict[str, Any] | None = None
    tax_id: str | None = None
    metadata: dict[str, Any] = field(default_factory=dict)
    owner: MemberDraft | None = None
    members: list[MemberDraft] = field(default_factory=list)


def _external_id_conflict(external_id: str | None):
    return {repository.UNIQUE_EXTERNAL_ID: lambda: DuplicateExternalId(external_id or "")}


async def list_customers(
    session: AsyncSession,
    subject: Subject,
    filter: CustomerFilter,
    *,
    order_by: str = "created_at",
    descending: bool = False,
    first: int = 50,
    after: str | None = None,
    max_page_size: int = 100,
) -> Page[Customer]:
    check_page_size(first, max_page_size)
    _check_filter_text(filter)
    return await repository.list_page(
        session, subject.scope, filter, order_by=order_by, descending=descending, first=first, after=after
    )


async def get_customer(session: AsyncSession, subject: Subject, customer_id: uuid.UUID) -> Customer:
    customer = await repository.get(session, subject.scope, customer_id)
    if customer is None:
        raise NotFound("Customer not found")
    return customer


def _check_filter_text(filter: CustomerFilter) -> None:
    check_lookup_text({"email": filter.email, "externalId": filter.external_id, "search": filter.search})


async def get_customer_by_external_id(session: AsyncSession, subject: Subject, external_id: str) -> Customer:
    check_lookup_text({"externalId": external_id})
    customer = await repository.get_by_external_id(session, subject.scope, external_id)
    if customer is None:
        raise NotFound(f"No customer with external id {external_id!r}")
    return customer


def _check_customer_fields(issues: list[FieldIssue], draft: CustomerDraft) -> CustomerDraft:
    return CustomerDraft(
        type=draft.type,
        email=check_email(issues, ("email",), draft.email),
        name=check_text(issues, ("name",), draft.name, max_length=256),
        external_id=check_text(issues, ("externalId",), draft.external_id, max_length=256),
        billing_name=check_text(issues, ("billingName",), draft.billing_name, max_length=256),
        billing_address=check_address(issues, ("billingAddress",), draft.billing_address),
        tax_id=check_text(issues, ("taxId",), draft.tax_id, max_length=64),
        metadata=check_metadata(issues, ("metadata",), draft.metadata),
    )


def _check_team(issues: list[FieldIssue], draft: CustomerDraft) -> list[tuple[tuple[str, ...], MemberDraft]]:
    """The owner and members of a new business, validated, with the input path of each."""
    if draft.type == CustomerType.individual.value:
        if draft.owner is not None:
            issues.append(FieldIssue(("owner",), "only business customers take an owner; an individual is its own owner", "not_allowed"))
        if draft.members:
            issues.append(FieldIssue(("members",), "only business customers have members; upgrade to a business first", "not_allowed"))
        return []
    team: list[tuple[tuple[str, ...], MemberDraft]] = []
    if draft.owner is None:
        issues.append(FieldIssue(("owner",), "a business customer needs an owner", "required"))
    else:
        team.append((("owner",), check_member_draft(issues, ("owner",), draft.owner, owner=True)))
    for index, member in enumerate(draft.members):
        path = ("members", str(index))
        team.append((path, check_member_draft(issues, path, member)))
    return team


def _reject_duplicates_in_input(team: list[tuple[tuple[str, ...], MemberDraft]]) -> None:
    emails: set[str] = set()
    external_ids: set[str] = set()
    for path, member in team:
        key = member.email.lower()
        if key in emails:
            raise DuplicateMemberEmail(member.email, field=".".join((*path, "email")))
        emails.add(key)
        if member.external_id is not None:
            if member.external_id in external_ids:
                raise DuplicateMemberExternalId(member.external_id, field=".".join((*path, "externalId")))
            external_ids.add(member.external_id)


async def create_customer(session: AsyncSession, subject: Subject, draft: CustomerDraft) -> Customer:
    issues: list[FieldIssue] = []
    clean = _check_customer_fields(issues, draft)
    team = _check_team(issues, draft)
    if issues:
        raise ValidationFailed(issues)
    _reject_duplicates_in_input(team)

    customer = Customer(
        id=uuid.uuid4(),
        organization_id=subject.organization_id,
        type=draft.type,
        email=clean.email,
        name=clean.name,
        external_id=clean.external_id,
        billing_name=clean.billing_name,
        billing_address=clean.billing_address,
        tax_id=clean.tax_id,
        user_metadata=clean.metadata,
    )
    session.add(customer)
    await flush_unique(session, _external_id_conflict(clean.external_id))

    if draft.type == CustomerType.individual.value:
        team = [((), MemberDraft(email=clean.email, name=clean.name, external_id=clean.external_id, role=MemberRole.owner.value))]
    members = [
        Member(
            organization_id=subject.organization_id,
            customer_id=customer.id,
            role=member.role,
            email=member.email,
            name=member.name,
            external_id=member.external_id,
        )
        for _path, member in team
    ]
    session.add_all(members)
    await session.flush()
    await meters.on_customer_external_id(session, subject.scope, customer.id, customer.external_id)
    await webhooks.emit(session, subject.scope, WebhookEventType.customer_created, customer_data(customer))
    for member in members:
        await webhooks.emit(session, subject.scope, WebhookEventType.member_created, member_data(member))
    return customer


async def update_customer(
    session: AsyncSession, subject: Subject, customer_id: uuid.UUID, changes: Mapping[str, Any]
) -> Customer:
    """Apply the given fields only; a field given as None is cleared (email cannot be)."""
    customer = await repository.get(session, subject.scope, customer_id, for_update=True)
    if customer is None:
        raise NotFound("Customer not found")
    previous_external_id = customer.external_id
    issues: list[FieldIssue] = []
    if "email" in changes:
        if changes["email"] is None:
            issues.append(FieldIssue(("email",), "cannot be null", "required"))
        else:
            customer.email = check_email(issues, ("email",), changes["email"])
    text_fields = {"name": 256, "external_id": 256, "billing_name": 256, "tax_id": 64}
    paths = {"name": "name", "external_id": "externalId", "billing_name": "billingName", "tax_id": "taxId"}
    for name, max_length in text_fields.items():
        if name in changes:
            setattr(customer, name, check_text(issues, (paths[name],), changes[name], max_length=max_length))
    if "billing_address" in changes:
        customer.billing_address = check_address(issues, ("billingAddress",), changes["billing_address"])
    if "metadata" in changes:
        customer.user_metadata = check_metadata(issues, ("metadata",), changes["metadata"] or {})
    if issues:
        raise ValidationFailed(issues)
    await flush_unique(session, _external_id_conflict(customer.external_id))
    if customer.external_id != previous_external_id:
        # events sent for the new external id now count, those for the old one no longer do
        await meters.recount_customer(session, subject.scope, customer.id)
    await webhooks.emit(session, subject.scope, WebhookEventType.customer_updated, customer_data(customer))

    if not customer.is_business:
        owner = await member_repository.get_owner(session, subject.scope, customer.id)
        mirrored = (customer.email, customer.name, customer.external_id)
        if owner is not None and (owner.email, owner.name, owner.external_id) != mirrored:
            owner.email, owner.name, owner.external_id = mirrored
            await flush_unique(session, member_conflicts(owner.email, owner.external_id))
            await webhooks.emit(session, subject.scope, WebhookEventType.member_updated, member_data(owner))
    return customer


async def delete_customer(session: AsyncSession, subject: Subject, customer_id: uuid.UUID) -> Customer:
    customer = await repository.get(session, subject.scope, customer_id, for_update=True)
    if customer is None:
        raise NotFound("Customer not found")
    members = await member_repository.list_for_customers(session, subject.scope, [customer.id])
    await repository.soft_delete(session, customer)
    await webhooks.emit(session, subject.scope, WebhookEventType.customer_deleted, customer_data(customer))
    for member in members:
        await webhooks.emit(session, subject.scope, WebhookEventType.member_deleted, member_data(member))
    return customer


async def upgrade_to_business(
    session: AsyncSession, subject: Subject, customer_id: uuid.UUID, *, name: str | None = None, billing_name: str | None = None
) -> Customer:
    """Turn an individual into a business; its owner member stays the owner."""
    customer = await repository.get(session, subject.scope, customer_id, for_update=True)
    if customer is None:
        raise NotFound("Customer not found")
    if customer.is_business:
        raise CustomerAlreadyBusiness("This customer is already a business")
    issues: list[FieldIssue] = []
    name = check_text(issues, ("name",), name, max_length=256)
    billing_name = check_text(issues, ("billingName",), billing_name, max_length=256)
    if issues:
        raise ValidationFailed(issues)
    customer.type = CustomerType.business.value
    if name is not None:
        customer.name = name
    if billing_name is not None:
        customer.billing_name = billing_name
    await session.flush()
    await webhooks.emit(session, subject.scope, WebhookEventType.customer_updated, customer_data(customer))
    return customer


async def load_customers(session: AsyncSession, scope: TenantScope, ids: list[uuid.UUID]) -> list[Customer | None]:
    """For dataloaders: customers in the order of `ids`, None where not found."""
    return in_order(await repository.get_many(session, scope, ids), ids)


async def count_customers(session: AsyncSession, subject: Subject, filter: CustomerFilter) -> int:
    _check_filter_text(filter)
    return await repository.count(session, subject.scope, filter)
