"""Mutations on products and prices. Each returns its success payload or a typed error; nothing is
changed when an error is returned."""

from __future__ import annotations

from typing import Annotated

import strawberry

from app.catalog import service
from app.kit.ids import parse_global_id
from app.models import ProductPrice as ProductPriceModel
from app.catalog import scopes as catalog_scopes
from schema.catalog.errors import LastActivePriceError, ProductArchivedError
from schema.catalog.inputs import (
    ArchiveProductInput,
    ArchiveProductPriceInput,
    CreateProductInput,
    CreateProductPriceInput,
    UnarchiveProductInput,
    UpdateProductInput,
)
from schema.catalog.loaders import product_by_id
from schema.catalog.types import Product, ProductPrice, price_from_model
from schema.kit.errors import NotFoundError, ValidationError, mutation_result, run_mutation
from schema.kit.loaders import loader
from schema.kit.scopes import scoped_mutation

INPUT_DESCRIPTION = "What to do; see the input type."


@strawberry.type(description="The product was created with its prices.")
class CreateProductSuccess:
    product: Product = strawberry.field(description="The new product.")


@strawberry.type(description="The product was updated.")
class UpdateProductSuccess:
    product: Product = strawberry.field(description="The product as it is now.")


@strawberry.type(description="The product is archived (or already was): no longer sold, kept for history.")
class ArchiveProductSuccess:
    product: Product = strawberry.field(description="The archived product.")


@strawberry.type(description="The product is on sale again (or already was).")
class UnarchiveProductSuccess:
    product: Product = strawberry.field(description="The product, active.")


@strawberry.type(description="The price was added (and the prices named in `archivePriceIds` archived).")
class CreateProductPriceSuccess:
    price: ProductPrice = strawberry.field(description="The new price.")

    @strawberry.field(description="The product, with its prices as they are now.")
    async def product(self, info: strawberry.Info) -> Product:
        return Product.from_model(await loader(info, product_by_id).load(self.price.model.product_id))


@strawberry.type(description="The price is archived (or already was).")
class ArchiveProductPriceSuccess:
    price: ProductPrice = strawberry.field(description="The archived price.")

    @strawberry.field(description="The product, with its prices as they are now.")
    async def product(self, info: strawberry.Info) -> Product:
        return Product.from_model(await loader(info, product_by_id).load(self.price.model.product_id))


CreateProductResult = mutation_result(
    "CreateProductResult",
    "The created product, or why it was not created.",
    CreateProductSuccess,
    ValidationError,
)
UpdateProductResult = mutation_result(
    "UpdateProductResult",
    "The updated product, or why nothing changed.",
    UpdateProductSuccess,
    ValidationError,
    NotFoundError,
)
ArchiveProductResult = mutation_result(
    "ArchiveProductResult",
    "The archived product, or why nothing changed.",
    ArchiveProductSuccess,
    NotFoundError,
)
UnarchiveProductResult = mutation_result(
    "UnarchiveProductResult",
    "The product back on sale, or why nothing changed.",
    UnarchiveProductSuccess,
    NotFoundError,
)
CreateProductPriceResult = mutation_result(
    "CreateProductPriceResult",
    "The new price, or why nothing changed.",
    CreateProductPriceSuccess,
    ValidationError,
    NotFoundError,
    ProductArchivedError,
)
ArchiveProductPriceResult = mutation_result(
    "ArchiveProductPriceResult",
    "The archived price, or why nothing changed.",
    ArchiveProductPriceSuccess,
    NotFoundError,
    ProductArchivedError,
    LastActivePriceError,
)


def _price_success(cls):
    def convert(row: ProductPriceModel):
        return cls(price=price_from_model(row))

    return convert


@strawberry.type
class CatalogMutations:
    @scoped_mutation(
        catalog_scopes.WRITE,
        "Create a product with one or more prices, in one call: recurring (monthly or yearly) or one-time.",
    )
    async def create_product(
        self, info: strawberry.Info, input: Annotated[CreateProductInput, strawberry.argument(description=INPUT_DESCRIPTION)]
    ) -> CreateProductResult:
        return await run_mutation(
            info,
            lambda session, subject: service.create_product(session, subject, input.to_draft()),
            lambda row: CreateProductSuccess(product=Product.from_model(row)),
        )

    @scoped_mutation(catalog_scopes.WRITE, "Change a product's name, description or metadata. The recurring interval cannot change.")
    async def update_product(
        self, info: strawberry.Info, input: Annotated[UpdateProductInput, strawberry.argument(description=INPUT_DESCRIPTION)]
    ) -> UpdateProductResult:
        changes = input.changes()
        return await run_mutation(
            info,
            lambda session, subject: service.update_product(session, subject, parse_global_id(input.id, "Product"), changes),
            lambda row: UpdateProductSuccess(product=Product.from_model(row)),
        )

    @scoped_mutation(catalog_scopes.WRITE, "Archive a product: it is no longer sold; it and its prices are kept for history.")
    async def archive_product(
        self, info: strawberry.Info, input: Annotated[ArchiveProductInput, strawberry.argument(description=INPUT_DESCRIPTION)]
    ) -> ArchiveProductResult:
        return await run_mutation(
            info,
            lambda session, subject: service.archive_product(session, subject, parse_global_id(input.id, "Product")),
            lambda row: ArchiveProductSuccess(product=Product.from_model(row)),
        )

    @scoped_mutation(catalog_scopes.WRITE, "Put an archived product back on sale.")
    async def unarchive_product(
        self, info: strawberry.Info, input: Annotated[UnarchiveProductInput, strawberry.argument(description=INPUT_DESCRIPTION)]
    ) -> UnarchiveProductResult:
        return await run_mutation(
            info,
            lambda session, subject: service.unarchive_product(session, subject, parse_global_id(input.id, "Product")),
            lambda row: UnarchiveProductSuccess(product=Product.from_model(row)),
        )

    @scoped_mutation(
        catalog_scopes.WRITE,
        "Add a price to a product. Prices are never edited: to change one, add its replacement and name the old "
        "one in `archivePriceIds`, which archives it in the same step.",
    )
    async def create_product_price(
        self, info: strawberry.Info, input: Annotated[CreateProductPriceInput, strawberry.argument(description=INPUT_DESCRIPTION)]
    ) -> CreateProductPriceResult:
        async def work(session, subject):
            product_id = parse_global_id(input.product_id, "Product")
            draft, archive_ids = input.to_draft()
            return await service.create_price(session, subject, product_id, draft, archive_price_ids=archive_ids)

        return await run_mutation(info, work, _price_success(CreateProductPriceSuccess))

    @scoped_mutation(catalog_scopes.WRITE, "Archive a price: it is no longer sold. A product keeps at least one active price.")
    async def archive_product_price(
        self, info: strawberry.Info, input: Annotated[ArchiveProductPriceInput, strawberry.argument(description=INPUT_DESCRIPTION)]
    ) -> ArchiveProductPriceResult:
        return await run_mutation(
            info,
            lambda session, subject: service.archive_price(session, subject, parse_global_id(input.id, "ProductPrice")),
            _price_success(ArchiveProductPriceSuccess),
        )
