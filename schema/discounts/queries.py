"""Queries about discounts and tax rates."""

from __future__ import annotations

from typing import Annotated

import strawberry

from app.discounts import service, tax_rates
from app.discounts.repository import DiscountFilter as DiscountFilterData
from app.kit.ids import parse_global_id
from app.discounts import scopes as discounts_scopes
from schema.discounts.inputs import DiscountFilter, DiscountOrder
from schema.discounts.loaders import discount_by_id
from schema.discounts.types import Discount, DiscountConnection, TaxRate
from schema.kit.errors import run_query
from schema.kit.relay import Connection
from schema.kit.scopes import scoped_field


@strawberry.type
class DiscountQueries:
    @scoped_field(discounts_scopes.READ, "Discounts of the organization, a page at a time, filtered; oldest first by default.")
    async def discounts(
        self,
        info: strawberry.Info,
        first: Annotated[int, strawberry.argument(description="Page size, 1 to 100.")] = 50,
        after: Annotated[str | None, strawberry.argument(description="The `endCursor` of the previous page.")] = None,
        filter: Annotated[DiscountFilter | None, strawberry.argument(description="Which discounts to list; all by default.")] = None,
        order_by: Annotated[DiscountOrder | None, strawberry.argument(description="Sort order; by creation time by default.")] = None,
    ) -> DiscountConnection:
        context = info.context
        data = filter.to_data() if filter is not None else DiscountFilterData()
        order = order_by or DiscountOrder()
        page = await run_query(
            info,
            lambda session, subject: service.list_discounts(
                session,
                subject,
                data,
                descending=order.direction.value == "desc",
                first=first,
                after=after,
                max_page_size=context.settings.page_size_max,
            ),
        )
        discount_by_id.prime(context, page.items)
        count = lambda: run_query(info, lambda session, subject: service.count_discounts(session, subject, data))  # noqa: E731
        return Connection.from_page(page, Discount.from_model, count)

    @scoped_field(discounts_scopes.READ, "One discount by id; null if there is none.")
    async def discount(
        self, info: strawberry.Info, id: Annotated[strawberry.ID, strawberry.argument(description="The discount's global id.")]
    ) -> Discount | None:
        row = await run_query(
            info,
            lambda session, subject: service.get_discount(session, subject, parse_global_id(id, "Discount")),
            null_if_not_found=True,
        )
        return Discount.from_model(row) if row is not None else None

    @scoped_field(discounts_scopes.READ, "The organization's tax rates: the default first, then by country and state.")
    async def tax_rates(self, info: strawberry.Info) -> list[TaxRate]:
        rows = await run_query(info, lambda session, subject: tax_rates.list_tax_rates(session, subject))
        return [TaxRate.from_model(row) for row in rows]
