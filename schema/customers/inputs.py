"""GraphQL inputs of customers."""

from __future__ import annotations

import enum
from datetime import datetime
from typing import Any

import strawberry
from strawberry.scalars import JSON

from app.customers.service import CustomerDraft
from app.members.service import MemberDraft
from schema.customers.types import CustomerType
from schema.kit.idempotency import idempotency_key_field
from schema.members.inputs import MemberInput, OwnerInput


@strawberry.input(description="A postal address; `country` is required.")
class AddressInput:
    line1: str | None = strawberry.field(default=None, description="Street and number.")
    line2: str | None = strawberry.field(default=None, description="Apartment, suite, floor.")
    postal_code: str | None = strawberry.field(default=None, description="Postal or ZIP code.")
    city: str | None = strawberry.field(default=None, description="City.")
    state: str | None = strawberry.field(default=None, description="State, province or region.")
    country: str = strawberry.field(description="ISO 3166-1 alpha-2 country code, e.g. `US`.")

    def to_dict(self) -> dict[str, Any]:
        return {
            "line1": self.line1,
            "line2": self.line2,
            "postal_code": self.postal_code,
            "city": self.city,
            "state": self.state,
            "country": self.country,
        }


@strawberry.input(description="A new customer. A business needs an `owner` and may list more `members`.")
class CreateCustomerInput:
    type: CustomerType = strawberry.field(default=CustomerType.INDIVIDUAL, description="Individual (default) or business.")
    email: str = strawberry.field(description="The billing email; for an individual also its owner member's email.")
    name: str | None = strawberry.field(default=None, description="Display name.")
    external_id: str | None = strawberry.field(default=None, description="Your own id for the customer; unique in the organization.")
    billing_name: str | None = strawberry.field(default=None, description="Name for invoices.")
    billing_address: AddressInput | None = strawberry.field(default=None, description="Billing address.")
    tax_id: str | None = strawberry.field(default=None, description="Tax identification number.")
    metadata: JSON | None = strawberry.field(
        default=None, description="Key-value data: at most 50 keys of 1-40 characters; strings up to 500 characters, numbers or booleans."
    )
    owner: OwnerInput | None = strawberry.field(default=None, description="Business only, required: the owner member.")
    members: list[MemberInput] | None = strawberry.field(default=None, description="Business only: more members (billing managers or members).")
    idempotency_key: str | None = idempotency_key_field()

    def to_draft(self) -> CustomerDraft:
        return CustomerDraft(
            type=self.type.value,
            email=self.email,
            name=self.name,
            external_id=self.external_id,
            billing_name=self.billing_name,
            billing_address=self.billing_address.to_dict() if self.billing_address else None,
            tax_id=self.tax_id,
            metadata=self.metadata if self.metadata is not None else {},
            owner=MemberDraft(email=self.owner.email, name=self.owner.name, external_id=self.owner.external_id)
            if self.owner
            else None,
            members=[m.to_draft() for m in self.members or []],
        )


@strawberry.input(description="Changes to a customer. Omitted fields stay as they are; `null` clears a field.")
class UpdateCustomerInput:
    id: strawberry.ID = strawberry.field(description="The customer's id.")
    email: str | None = strawberry.field(default=strawberry.UNSET, description="New billing email.")
    name: str | None = strawberry.field(default=strawberry.UNSET, description="New display name.")
    external_id: str | None = strawberry.field(default=strawberry.UNSET, description="New external id.")
    billing_name: str | None = strawberry.field(default=strawberry.UNSET, description="New name for invoices.")
    billing_address: AddressInput | None = strawberry.field(default=strawberry.UNSET, description="New billing address.")
    tax_id: str | None = strawberry.field(default=strawberry.UNSET, description="New tax id.")
    metadata: JSON | None = strawberry.field(default=strawberry.UNSET, description="New metadata; replaces the whole object.")

    def changes(self) -> dict[str, Any]:
        values = {
            "email": self.email,
            "name": self.name,
            "external_id": self.external_id,
            "billing_name": self.billing_name,
            "billing_address": self.billing_address.to_dict() if self.billing_address else self.billing_address,
            "tax_id": self.tax_id,
            "metadata": self.metadata,
        }
        return {key: value for key, value in values.items() if value is not strawberry.UNSET}


@strawberry.input(description="Which customer to delete.")
class DeleteCustomerInput:
    id: strawberry.ID = strawberry.field(description="The customer's id.")


@strawberry.input(description="Which individual to turn into a business, optionally renaming it.")
class UpgradeCustomerToBusinessInput:
    id: strawberry.ID = strawberry.field(description="The individual customer's id.")
    name: str | None = strawberry.field(default=None, description="The business's name; keeps the current name if omitted.")
    billing_name: str | None = strawberry.field(default=None, description="The name for invoices.")


@strawberry.input(description="Conditions a customer must meet to be listed; all given conditions apply.")
class CustomerFilter:
    type: CustomerType | None = strawberry.field(default=None, description="Only individuals or only businesses.")
    email: str | None = strawberry.field(default=None, description="Exact email, case-insensitive.")
    external_id: str | None = strawberry.field(default=None, description="Exact external id.")
    search: str | None = strawberry.field(default=None, description="Text found in the email, name or external id.")
    created_after: datetime | None = strawberry.field(default=None, description="Created at or after this time.")
    created_before: datetime | None = strawberry.field(default=None, description="Created before this time.")


@strawberry.enum(description="What customers are sorted by.")
class CustomerOrderField(enum.Enum):
    CREATED_AT = strawberry.enum_value("created_at", description="Creation time.")
    EMAIL = strawberry.enum_value("email", description="Email.")
    NAME = strawberry.enum_value("name", description="Name (customers without a name first).")


@strawberry.enum(description="Sort direction.")
class OrderDirection(enum.Enum):
    ASC = strawberry.enum_value("asc", description="Ascending.")
    DESC = strawberry.enum_value("desc", description="Descending.")


@strawberry.input(description="How customers are sorted; ties are broken by id.")
class CustomerOrder:
    field: CustomerOrderField = strawberry.field(default=CustomerOrderField.CREATED_AT, description="The sort key.")
    direction: OrderDirection = strawberry.field(default=OrderDirection.ASC, description="The direction.")
