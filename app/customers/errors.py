from __future__ import annotations

from app.kit.errors import Conflict, KassaError


class DuplicateExternalId(Conflict):
    code = "DUPLICATE_EXTERNAL_ID"

    def __init__(self, external_id: str) -> None:
        super().__init__(
            f"A customer with external id {external_id!r} already exists", field="externalId", value=external_id
        )


class CustomerNotBusiness(KassaError):
    """The operation needs a business customer; an individual has exactly one member, its owner."""

    code = "CUSTOMER_NOT_BUSINESS"


class CustomerAlreadyBusiness(KassaError):
    code = "CUSTOMER_ALREADY_BUSINESS"
