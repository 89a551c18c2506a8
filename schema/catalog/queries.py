"""Queries about products and prices."""

from __future__ import annotations

from typing import Annotated

import strawberry

from app.catalog import service
from app.catalog.repository import ProductFilter as ProductFilterData
from app.kit.ids import parse_global_id
from app.catalog import scopes as catalog_scopes
from schema.catalog.inputs import ProductFilter, ProductOrder
from schema.catalog.loaders import product_by_id
from schema.catalog.types import Product, ProductConnection
from schema.kit.errors import run_query
from schema.kit.relay import Connection
from schema.kit.scopes import scoped_field


def _filter_data(filter: ProductFilter | None) -> ProductFilterData:
    if filter is None:
        return ProductFilterData()
    return ProductFilterData(
        is_archived=filter.is_archived,
        is_recurring=filter.is_recurring,
        recurring_interval=filter.recurring_interval.value if filter.recurring_interval else None,
        search=filter.search,
    )


@strawberry.type
class CatalogQueries:
    @scoped_field(catalog_scopes.READ, "Products of the organization, a page at a time, filtered and sorted.")
    async def products(
        self,
        info: strawberry.Info,
        first: Annotated[int, strawberry.argument(description="Page size, 1 to 100.")] = 50,
        after: Annotated[str | None, strawberry.argument(description="The `endCursor` of the previous page.")] = None,
        filter: Annotated[ProductFilter | None, strawberry.argument(description="Which products to list; all by default.")] = None,
        order_by: Annotated[ProductOrder | None, strawberry.argument(description="Sort order; by creation time by default.")] = None,
    ) -> ProductConnection:
        context = info.context
        data = _filter_data(filter)
        order = order_by or ProductOrder()
        page = await run_query(
            info,
            lambda session, subject: service.list_products(
                session,
                subject,
                data,
                order_by=order.field.value,
                descending=order.direction.value == "desc",
                first=first,
                after=after,
                max_page_size=context.settings.page_size_max,
            ),
        )
        product_by_id.prime(context, page.items)

        count = lambda: run_query(info, lambda session, subject: service.count_products(session, subject, data))  # noqa: E731
        return Connection.from_page(page, Product.from_model, count)

    @scoped_field(catalog_scopes.READ, "One product by id; null if there is none.")
    async def product(
        self, info: strawberry.Info, id: Annotated[strawberry.ID, strawberry.argument(description="The product's global id.")]
    ) -> Product | None:
        row = await run_query(
            info,
            lambda session, subject: service.get_product(session, subject, parse_global_id(id, "Product")),
            null_if_not_found=True,
        )
        return Product.from_model(row) if row is not None else None
