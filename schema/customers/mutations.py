"""Mutations on customers. Each returns its success payload or a typed error; nothing is
changed when an error is returned."""

from __future__ import annotations

from typing import Annotated

import strawberry

from app.customers import service
from app.subscriptions import service as subscriptions
from app.kit.ids import parse_global_id
from app.customers import scopes as customers_scopes
from schema.customers.errors import CustomerAlreadyBusinessError, DuplicateExternalIdError
from schema.customers.inputs import (
    CreateCustomerInput,
    DeleteCustomerInput,
    UpdateCustomerInput,
    UpgradeCustomerToBusinessInput,
)
from schema.customers.types import Customer, customer_from_model
from schema.kit.errors import NotFoundError, ValidationError, mutation_result, run_mutation
from schema.kit.scopes import scoped_mutation
from schema.members.errors import DuplicateMemberEmailError, DuplicateMemberExternalIdError


@strawberry.type(description="The customer was created.")
class CreateCustomerSuccess:
    customer: Customer = strawberry.field(description="The new customer, with its owner and members.")


@strawberry.type(description="The customer was updated.")
class UpdateCustomerSuccess:
    customer: Customer = strawberry.field(description="The customer as it is now.")


@strawberry.type(description="The customer was deleted; its external id is free again.")
class DeleteCustomerSuccess:
    deleted_customer_id: strawberry.ID = strawberry.field(description="The id of the deleted customer.")


@strawberry.type(description="The individual is now a business; its owner stays the owner.")
class UpgradeCustomerToBusinessSuccess:
    customer: Customer = strawberry.field(description="The customer, now a business.")


CreateCustomerResult = mutation_result(
    "CreateCustomerResult",
    "The created customer, or why it was not created.",
    CreateCustomerSuccess,
    ValidationError,
    DuplicateExternalIdError,
    DuplicateMemberEmailError,
    DuplicateMemberExternalIdError,
)
UpdateCustomerResult = mutation_result(
    "UpdateCustomerResult",
    "The updated customer, or why nothing changed.",
    UpdateCustomerSuccess,
    ValidationError,
    NotFoundError,
    DuplicateExternalIdError,
    DuplicateMemberEmailError,
    DuplicateMemberExternalIdError,
)
DeleteCustomerResult = mutation_result(
    "DeleteCustomerResult",
    "The deleted customer's id, or why nothing was deleted.",
    DeleteCustomerSuccess,
    NotFoundError,
)
UpgradeCustomerToBusinessResult = mutation_result(
    "UpgradeCustomerToBusinessResult",
    "The upgraded customer, or why nothing changed.",
    UpgradeCustomerToBusinessSuccess,
    ValidationError,
    NotFoundError,
    CustomerAlreadyBusinessError,
)


@strawberry.type
class CustomerMutations:
    @scoped_mutation(
        customers_scopes.WRITE,
        "Create an individual customer (its owner member is created with it) or a business customer "
        "with its owner and optional members, in one call.",
    )
    async def create_customer(self, info: strawberry.Info, input: Annotated[CreateCustomerInput, strawberry.argument(description="What to do; see the input type.")]) -> CreateCustomerResult:
        draft = input.to_draft()
        return await run_mutation(
            info,
            lambda session, subject: service.create_customer(session, subject, draft),
            lambda row: CreateCustomerSuccess(customer=customer_from_model(row)),
        )

    @scoped_mutation(customers_scopes.WRITE, "Change a customer's fields. An individual's owner member follows its email, name and external id.")
    async def update_customer(self, info: strawberry.Info, input: Annotated[UpdateCustomerInput, strawberry.argument(description="What to do; see the input type.")]) -> UpdateCustomerResult:
        changes = input.changes()
        return await run_mutation(
            info,
            lambda session, subject: service.update_customer(session, subject, parse_global_id(input.id, "Customer"), changes),
            lambda row: UpdateCustomerSuccess(customer=customer_from_model(row)),
        )

    @scoped_mutation(
        customers_scopes.WRITE,
        "Delete a customer and its members (soft delete: history is kept, the external id is freed). Its subscriptions end now "
        "(`subscription.revoked`), so it is never billed again.",
    )
    async def delete_customer(self, info: strawberry.Info, input: Annotated[DeleteCustomerInput, strawberry.argument(description="What to do; see the input type.")]) -> DeleteCustomerResult:
        async def work(session, subject):
            customer = await service.delete_customer(session, subject, parse_global_id(input.id, "Customer"))
            await subscriptions.end_for_deleted_customer(session, subject.scope, customer.id)  # in the deletion's transaction
            return customer

        return await run_mutation(
            info,
            work,
            lambda row: DeleteCustomerSuccess(deleted_customer_id=input.id),
        )

    @scoped_mutation(customers_scopes.WRITE, "Turn an individual customer into a business (one way). Its owner stays the owner.")
    async def upgrade_customer_to_business(
        self, info: strawberry.Info, input: Annotated[UpgradeCustomerToBusinessInput, strawberry.argument(description="What to do; see the input type.")]
    ) -> UpgradeCustomerToBusinessResult:
        return await run_mutation(
            info,
            lambda session, subject: service.upgrade_to_business(
                session, subject, parse_global_id(input.id, "Customer"), name=input.name, billing_name=input.billing_name
            ),
            lambda row: UpgradeCustomerToBusinessSuccess(customer=customer_from_model(row)),
        )
