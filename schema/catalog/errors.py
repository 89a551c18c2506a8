"""Catalog errors and their GraphQL form."""

from __future__ import annotations

import strawberry

from app.catalog.errors import LastActivePrice, ProductArchived
from app.kit.ids import to_global_id
from schema.kit.errors import Error, register_error


@strawberry.type(description="The product is archived: its prices cannot change until it is unarchived with `unarchiveProduct`.")
class ProductArchivedError(Error):
    product_id: strawberry.ID = strawberry.field(description="The archived product's id.")


@strawberry.type(
    description="A product keeps at least one active price: add the replacement with `createProductPrice` "
    "(its `archivePriceIds` archives this one in the same step), or archive the product instead."
)
class LastActivePriceError(Error):
    price_id: strawberry.ID = strawberry.field(description="The id of the price that could not be archived.")


register_error(
    ProductArchived,
    "The product is archived: its prices cannot change until it is unarchived.",
    ProductArchivedError,
    lambda e: ProductArchivedError(message=e.message, code=e.code, product_id=strawberry.ID(to_global_id("Product", e.product_id))),
)
register_error(
    LastActivePrice,
    "A product keeps at least one active price.",
    LastActivePriceError,
    lambda e: LastActivePriceError(message=e.message, code=e.code, price_id=strawberry.ID(to_global_id("ProductPrice", e.price_id))),
)
