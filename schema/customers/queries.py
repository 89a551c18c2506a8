"""Queries about customers."""

from __future__ import annotations

from typing import Annotated

import strawberry

from app.customers import service
from app.customers.repository import CustomerFilter as CustomerFilterData
from app.members import service as members_service
from app.kit.ids import parse_global_id
from app.customers import scopes as customers_scopes
from schema.customers.inputs import CustomerFilter, CustomerOrder
from schema.customers.loaders import customer_by_id
from schema.customers.types import Customer, CustomerConnection, customer_from_model
from schema.kit.errors import BadRequest, run_query
from schema.kit.relay import Connection
from schema.kit.scopes import scoped_field
from schema.kit.selection import selects


def _filter_data(filter: CustomerFilter | None) -> CustomerFilterData:
    if filter is None:
        return CustomerFilterData()
    return CustomerFilterData(
        type=filter.type.value if filter.type else None,
        email=filter.email,
        external_id=filter.external_id,
        search=filter.search,
        created_after=filter.created_after,
        created_before=filter.created_before,
    )


@strawberry.type
class CustomerQueries:
    @scoped_field(customers_scopes.READ, "Customers of the organization, a page at a time, filtered and sorted.")
    async def customers(
        self,
        info: strawberry.Info,
        first: Annotated[int, strawberry.argument(description="Page size, 1 to 100.")] = 50,
        after: Annotated[str | None, strawberry.argument(description="The `endCursor` of the previous page.")] = None,
        filter: Annotated[CustomerFilter | None, strawberry.argument(description="Which customers to list.")] = None,
        order_by: Annotated[CustomerOrder | None, strawberry.argument(description="Sort order; by creation time by default.")] = None,
    ) -> CustomerConnection:
        context = info.context
        data = _filter_data(filter)
        order = order_by or CustomerOrder()
        # Members asked for below the page: fetch them in the same session use as the page (one
        # statement for the whole page, as the dataloader would), handed to each customer object.
        with_members = any(
            selects(info, *path, leaf)
            for path in (("edges", "node"), ("nodes",))
            for leaf in ("members", "owner")
        )

        async def work(session, subject):
            page = await service.list_customers(
                session,
                subject,
                data,
                order_by=order.field.value,
                descending=order.direction.value == "desc",
                first=first,
                after=after,
                max_page_size=context.settings.page_size_max,
            )
            groups = None
            if with_members and page.items:
                groups = await members_service.load_members_of(session, subject.scope, [row.id for row in page.items])
            return page, groups

        page, groups = await run_query(info, work)
        customer_by_id.prime(context, page.items)
        count = lambda: run_query(info, lambda session, subject: service.count_customers(session, subject, data))  # noqa: E731
        if groups is None:
            return Connection.from_page(page, customer_from_model, count)
        member_rows = {row.id: rows for row, rows in zip(page.items, groups)}
        return Connection.from_page(page, lambda row: customer_from_model(row, member_rows[row.id]), count)

    @scoped_field(customers_scopes.READ, "One customer, by `id` or by `externalId` (give exactly one); null if there is none.")
    async def customer(
        self,
        info: strawberry.Info,
        id: Annotated[strawberry.ID | None, strawberry.argument(description="The customer's global id.")] = None,
        external_id: Annotated[str | None, strawberry.argument(description="Your own id for the customer.")] = None,
    ) -> Customer | None:
        if (id is None) == (external_id is None):
            raise BadRequest("Give exactly one of `id` or `externalId`")
        row = await run_query(
            info,
            lambda session, subject: (
                service.get_customer(session, subject, parse_global_id(id, "Customer"))
                if id is not None
                else service.get_customer_by_external_id(session, subject, external_id)
            ),
            null_if_not_found=True,
        )
        return customer_from_model(row) if row is not None else None
