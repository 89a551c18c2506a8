"""Mutations on members and their roles."""

from __future__ import annotations

from typing import Annotated

import strawberry

from app.kit.ids import parse_global_id
from app.members import service
from app.customers import scopes as customers_scopes
from schema.customers.types import Customer, customer_from_model
from schema.kit.errors import NotFoundError, ValidationError, mutation_result, run_mutation
from schema.kit.scopes import scoped_mutation
from schema.members.errors import CustomerNotBusinessError, DuplicateMemberEmailError, DuplicateMemberExternalIdError, MemberRoleError
from schema.members.inputs import AddMemberInput, RemoveMemberInput, TransferOwnershipInput, UpdateMemberInput
from schema.members.types import Member


@strawberry.type(description="The member was added.")
class AddMemberSuccess:
    member: Member = strawberry.field(description="The new member.")


@strawberry.type(description="The member was updated.")
class UpdateMemberSuccess:
    member: Member = strawberry.field(description="The member as it is now.")


@strawberry.type(description="The member was removed.")
class RemoveMemberSuccess:
    removed_member_id: strawberry.ID = strawberry.field(description="The id of the removed member.")


@strawberry.type(description="Ownership moved; the previous owner is now a billing manager.")
class TransferOwnershipSuccess:
    customer: Customer = strawberry.field(description="The customer.")
    owner: Member = strawberry.field(description="The new owner.")
    previous_owner: Member | None = strawberry.field(description="The previous owner, now a billing manager.")


AddMemberResult = mutation_result(
    "AddMemberResult",
    "The new member, or why it was not added.",
    AddMemberSuccess,
    ValidationError,
    NotFoundError,
    CustomerNotBusinessError,
    DuplicateMemberEmailError,
    DuplicateMemberExternalIdError,
)
UpdateMemberResult = mutation_result(
    "UpdateMemberResult",
    "The updated member, or why nothing changed.",
    UpdateMemberSuccess,
    ValidationError,
    NotFoundError,
    CustomerNotBusinessError,
    MemberRoleError,
    DuplicateMemberEmailError,
    DuplicateMemberExternalIdError,
)
RemoveMemberResult = mutation_result(
    "RemoveMemberResult",
    "The removed member's id, or why nothing was removed.",
    RemoveMemberSuccess,
    NotFoundError,
    MemberRoleError,
)
TransferOwnershipResult = mutation_result(
    "TransferOwnershipResult",
    "The new owner, or why ownership did not move.",
    TransferOwnershipSuccess,
    NotFoundError,
    MemberRoleError,
)


@strawberry.type
class MemberMutations:
    @scoped_mutation(customers_scopes.WRITE, "Add a member to a business customer.")
    async def add_member(self, info: strawberry.Info, input: Annotated[AddMemberInput, strawberry.argument(description="What to do; see the input type.")]) -> AddMemberResult:
        draft = input.to_draft()
        return await run_mutation(
            info,
            lambda session, subject: service.add_member(session, subject, parse_global_id(input.customer_id, "Customer"), draft),
            lambda row: AddMemberSuccess(member=Member.from_model(row)),
        )

    @scoped_mutation(customers_scopes.WRITE, "Change a business member's fields or role (not to or from owner).")
    async def update_member(self, info: strawberry.Info, input: Annotated[UpdateMemberInput, strawberry.argument(description="What to do; see the input type.")]) -> UpdateMemberResult:
        changes = input.changes()
        return await run_mutation(
            info,
            lambda session, subject: service.update_member(session, subject, parse_global_id(input.id, "Member"), changes),
            lambda row: UpdateMemberSuccess(member=Member.from_model(row)),
        )

    @scoped_mutation(customers_scopes.WRITE, "Remove a member. The owner cannot be removed; transfer ownership first.")
    async def remove_member(self, info: strawberry.Info, input: Annotated[RemoveMemberInput, strawberry.argument(description="What to do; see the input type.")]) -> RemoveMemberResult:
        return await run_mutation(
            info,
            lambda session, subject: service.remove_member(session, subject, parse_global_id(input.id, "Member")),
            lambda row: RemoveMemberSuccess(removed_member_id=input.id),
        )

    @scoped_mutation(customers_scopes.WRITE, "Make a member the owner of its customer; the previous owner becomes a billing manager.")
    async def transfer_ownership(self, info: strawberry.Info, input: Annotated[TransferOwnershipInput, strawberry.argument(description="What to do; see the input type.")]) -> TransferOwnershipResult:
        return await run_mutation(
            info,
            lambda session, subject: service.transfer_ownership(
                session, subject, parse_global_id(input.customer_id, "Customer"), parse_global_id(input.member_id, "Member")
            ),
            lambda result: TransferOwnershipSuccess(
                customer=customer_from_model(result[0]),
                owner=Member.from_model(result[1]),
                previous_owner=Member.from_model(result[2]) if result[2] is not None else None,
            ),
        )
