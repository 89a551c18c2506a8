"""Customer errors and their GraphQL form."""

from __future__ import annotations

import strawberry

from app.customers.errors import CustomerAlreadyBusiness, DuplicateExternalId
from schema.kit.errors import Error, register_error


@strawberry.type(description="Another customer of this organization already has this external id.")
class DuplicateExternalIdError(Error):
    external_id: str = strawberry.field(description="The external id already in use.")


@strawberry.type(description="The customer is already a business.")
class CustomerAlreadyBusinessError(Error):
    pass


register_error(
    DuplicateExternalId,
    "Another customer of this organization already has this external id.",
    DuplicateExternalIdError,
    lambda e: DuplicateExternalIdError(message=e.message, code=e.code, external_id=e.value),
)
register_error(
    CustomerAlreadyBusiness,
    "The customer is already a business.",
    CustomerAlreadyBusinessError,
    lambda e: CustomerAlreadyBusinessError(message=e.message, code=e.code),
)
