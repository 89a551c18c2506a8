from __future__ import annotations

from app.kit.errors import Conflict, KassaError


class DuplicateExternalId(Conflict):
    code = "DUPLICATE_EXTERNAL_ID"

    def __init__(self, external_id: str) -> None:
        super().__init__(
            f"A customer with external id {external_id!r} already exists", field="externalId", value=external_id
        )


class CustomerAlreadyBusiness(KassaError):
    code = "CUSTOMER_ALREADY_BUSINESS"
