"""GraphQL inputs of members."""

from __future__ import annotations

import strawberry

from app.members.service import MemberDraft
from schema.members.types import MemberRole


@strawberry.input(description="The owner of a new business customer.")
class OwnerInput:
    email: str = strawberry.field(description="The owner's email.")
    name: str | None = strawberry.field(default=None, description="The owner's name.")
    external_id: str | None = strawberry.field(default=None, description="Your own id for this person.")


@strawberry.input(description="A member to add to a business customer.")
class MemberInput:
    email: str = strawberry.field(description="The member's email, unique within the customer.")
    name: str | None = strawberry.field(default=None, description="The member's name.")
    external_id: str | None = strawberry.field(default=None, description="Your own id for this person, unique within the customer.")
    role: MemberRole = strawberry.field(
        default=MemberRole.MEMBER, description="`BILLING_MANAGER` or `MEMBER` (default); ownership moves with `transferOwnership`."
    )

    def to_draft(self) -> MemberDraft:
        return MemberDraft(email=self.email, name=self.name, external_id=self.external_id, role=self.role.value)


@strawberry.input(description="A member to add to a business customer.")
class AddMemberInput(MemberInput):
    customer_id: strawberry.ID = strawberry.field(description="The business customer's id.")


@strawberry.input(description="Changes to a member. Omitted fields stay as they are; `null` clears a field.")
class UpdateMemberInput:
    id: strawberry.ID = strawberry.field(description="The member's id.")
    email: str | None = strawberry.field(default=strawberry.UNSET, description="New email.")
    name: str | None = strawberry.field(default=strawberry.UNSET, description="New name.")
    external_id: str | None = strawberry.field(default=strawberry.UNSET, description="New external id.")
    role: MemberRole | None = strawberry.field(
        default=strawberry.UNSET, description="New role: `BILLING_MANAGER` or `MEMBER`. The owner's role changes only by transfer."
    )

    def changes(self) -> dict:
        values = {
            "email": self.email,
            "name": self.name,
            "external_id": self.external_id,
            "role": self.role.value if isinstance(self.role, MemberRole) else self.role,
        }
        return {key: value for key, value in values.items() if value is not strawberry.UNSET}


@strawberry.input(description="Which member to remove.")
class RemoveMemberInput:
    id: strawberry.ID = strawberry.field(description="The member's id.")


@strawberry.input(description="Make a member the owner of its customer.")
class TransferOwnershipInput:
    customer_id: strawberry.ID = strawberry.field(description="The customer's id.")
    member_id: strawberry.ID = strawberry.field(description="The member who becomes owner; the previous owner becomes a billing manager.")
