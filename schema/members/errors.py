"""Member errors and their GraphQL form."""

from __future__ import annotations

import strawberry

from app.members.errors import CustomerNotBusiness, DuplicateMemberEmail, DuplicateMemberExternalId, MemberRoleRule
from schema.kit.errors import Error, register_error


@strawberry.type(description="Only business customers can do this; upgrade the individual with `upgradeCustomerToBusiness`.")
class CustomerNotBusinessError(Error):
    pass


@strawberry.type(description="The customer already has an active member with this email.")
class DuplicateMemberEmailError(Error):
    email: str = strawberry.field(description="The email already in use.")
    path: list[str] = strawberry.field(description="The input field holding the duplicate.")


@strawberry.type(description="The customer already has an active member with this external id.")
class DuplicateMemberExternalIdError(Error):
    external_id: str = strawberry.field(description="The external id already in use.")
    path: list[str] = strawberry.field(description="The input field holding the duplicate.")


@strawberry.type(
    description="A member role rule would be broken: one owner per customer, the owner is not removable "
    "and keeps its role until ownership is transferred."
)
class MemberRoleError(Error):
    rule: str = strawberry.field(
        description="The rule: `owner_not_removable`, `owner_role_fixed`, `owner_by_transfer_only` or `already_owner`."
    )


register_error(
    CustomerNotBusiness,
    "Only business customers can do this.",
    CustomerNotBusinessError,
    lambda e: CustomerNotBusinessError(message=e.message, code=e.code),
)
register_error(
    DuplicateMemberEmail,
    "The customer already has an active member with this email.",
    DuplicateMemberEmailError,
    lambda e: DuplicateMemberEmailError(message=e.message, code=e.code, email=e.value, path=e.field.split(".")),
)
register_error(
    DuplicateMemberExternalId,
    "The customer already has an active member with this external id.",
    DuplicateMemberExternalIdError,
    lambda e: DuplicateMemberExternalIdError(message=e.message, code=e.code, external_id=e.value, path=e.field.split(".")),
)
register_error(
    MemberRoleRule,
    "A member role rule would be broken (one owner, not removable, moved only by transfer).",
    MemberRoleError,
    lambda e: MemberRoleError(message=e.message, code=e.code, rule=e.rule),
)
