"""Mutations on discounts and tax rates. Each returns its success payload or a typed error;
nothing is changed when an error is returned."""

from __future__ import annotations

from typing import Annotated

import strawberry

from app.discounts import service, tax_rates
from app.kit.ids import parse_global_id
from app.discounts import scopes as discounts_scopes
from schema.discounts.inputs import ArchiveDiscountInput, CreateDiscountInput, RemoveTaxRateInput, SetTaxRateInput, UpdateDiscountInput
from schema.discounts.types import Discount, TaxRate
from schema.kit.errors import NotFoundError, ValidationError, mutation_result, run_mutation
from schema.kit.scopes import scoped_mutation

INPUT_DESCRIPTION = "What to do; see the input type."


@strawberry.type(description="The discount was created.")
class CreateDiscountSuccess:
    discount: Discount = strawberry.field(description="The new discount.")


@strawberry.type(description="The discount was updated.")
class UpdateDiscountSuccess:
    discount: Discount = strawberry.field(description="The discount as it is now.")


@strawberry.type(description="The discount is archived (or already was): no more redemptions.")
class ArchiveDiscountSuccess:
    discount: Discount = strawberry.field(description="The archived discount.")


@strawberry.type(description="The tax rate is set.")
class SetTaxRateSuccess:
    tax_rate: TaxRate = strawberry.field(description="The rate as it is now.")


@strawberry.type(description="The tax rate was removed: that place falls back to the country's rate, then the default.")
class RemoveTaxRateSuccess:
    tax_rate: TaxRate = strawberry.field(description="The rate that was removed.")


CreateDiscountResult = mutation_result(
    "CreateDiscountResult", "The created discount, or why it was not created.", CreateDiscountSuccess, ValidationError
)
UpdateDiscountResult = mutation_result(
    "UpdateDiscountResult", "The updated discount, or why nothing changed.", UpdateDiscountSuccess, ValidationError, NotFoundError
)
ArchiveDiscountResult = mutation_result("ArchiveDiscountResult", "The archived discount, or why nothing changed.", ArchiveDiscountSuccess, NotFoundError)
SetTaxRateResult = mutation_result("SetTaxRateResult", "The tax rate set, or why nothing changed.", SetTaxRateSuccess, ValidationError)
RemoveTaxRateResult = mutation_result(
    "RemoveTaxRateResult", "The tax rate removed, or why nothing changed.", RemoveTaxRateSuccess, ValidationError, NotFoundError
)


@strawberry.type
class DiscountMutations:
    @scoped_mutation(
        discounts_scopes.WRITE,
        "Create a discount: an amount or a share off, for one order, every order or some months, maybe behind a code, "
        "limited in redemptions and time, and to some products. A code already taken is a `CONFLICT` error.",
    )
    async def create_discount(
        self, info: strawberry.Info, input: Annotated[CreateDiscountInput, strawberry.argument(description=INPUT_DESCRIPTION)]
    ) -> CreateDiscountResult:
        return await run_mutation(
            info,
            lambda session, subject: service.create_discount(session, subject, input.to_draft()),
            lambda row: CreateDiscountSuccess(discount=Discount.from_model(row)),
        )

    @scoped_mutation(discounts_scopes.WRITE, "Change a discount's name, code, limit, validity window or products. Its terms cannot change.")
    async def update_discount(
        self, info: strawberry.Info, input: Annotated[UpdateDiscountInput, strawberry.argument(description=INPUT_DESCRIPTION)]
    ) -> UpdateDiscountResult:
        return await run_mutation(
            info,
            lambda session, subject: service.update_discount(session, subject, parse_global_id(input.id, "Discount"), input.changes()),
            lambda row: UpdateDiscountSuccess(discount=Discount.from_model(row)),
        )

    @scoped_mutation(discounts_scopes.WRITE, "Archive a discount: it can no longer be redeemed; it is kept for history and its code stays taken.")
    async def archive_discount(
        self, info: strawberry.Info, input: Annotated[ArchiveDiscountInput, strawberry.argument(description=INPUT_DESCRIPTION)]
    ) -> ArchiveDiscountResult:
        return await run_mutation(
            info,
            lambda session, subject: service.archive_discount(session, subject, parse_global_id(input.id, "Discount")),
            lambda row: ArchiveDiscountSuccess(discount=Discount.from_model(row)),
        )

    @scoped_mutation(discounts_scopes.WRITE, "Set the tax rate for a billing country (and maybe a state), or the default rate.")
    async def set_tax_rate(
        self, info: strawberry.Info, input: Annotated[SetTaxRateInput, strawberry.argument(description=INPUT_DESCRIPTION)]
    ) -> SetTaxRateResult:
        return await run_mutation(
            info,
            lambda session, subject: tax_rates.set_tax_rate(session, subject, input.country, input.state, input.basis_points),
            lambda row: SetTaxRateSuccess(tax_rate=TaxRate.from_model(row)),
        )

    @scoped_mutation(discounts_scopes.WRITE, "Remove the tax rate of a place (or the default rate).")
    async def remove_tax_rate(
        self, info: strawberry.Info, input: Annotated[RemoveTaxRateInput, strawberry.argument(description=INPUT_DESCRIPTION)]
    ) -> RemoveTaxRateResult:
        return await run_mutation(
            info,
            lambda session, subject: tax_rates.remove_tax_rate(session, subject, input.country, input.state),
            lambda row: RemoveTaxRateSuccess(tax_rate=TaxRate.from_model(row)),
        )
