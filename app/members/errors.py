from __future__ import annotations

from app.kit.errors import Conflict, KassaError


class DuplicateMemberEmail(Conflict):
    code = "DUPLICATE_MEMBER_EMAIL"

    def __init__(self, email: str, field: str = "email") -> None:
        super().__init__(f"This customer already has a member with email {email!r}", field=field, value=email)


class DuplicateMemberExternalId(Conflict):
    code = "DUPLICATE_MEMBER_EXTERNAL_ID"

    def __init__(self, external_id: str, field: str = "externalId") -> None:
        super().__init__(
            f"This customer already has a member with external id {external_id!r}", field=field, value=external_id
        )


class CustomerNotBusiness(KassaError):
    """The operation needs a business customer; an individual has exactly one member, its owner."""

    code = "CUSTOMER_NOT_BUSINESS"


class MemberRoleRule(KassaError):
    """A rule about roles would be broken: one owner per customer, the owner is not removable,
    ownership moves only by transfer."""

    code = "MEMBER_ROLE_RULE"

    def __init__(self, message: str, *, rule: str) -> None:
        super().__init__(message)
        self.rule = rule
