"""Queries about orders and transactions."""

from __future__ import annotations

from typing import Annotated

import strawberry

from app.kit.ids import parse_global_id
from app.orders import scopes as orders_scopes
from app.orders import service
from app.orders.repository import OrderFilter as OrderFilterData
from app.orders.repository import TransactionFilter as TransactionFilterData
from schema.kit.errors import run_query
from schema.kit.relay import Connection
from schema.kit.scopes import scoped_field
from schema.orders.inputs import CreatedOrder, OrderFilter, TransactionFilter
from schema.orders.loaders import order_by_id
from schema.orders.types import Order, OrderConnection, Transaction, TransactionConnection

FIRST = Annotated[int, strawberry.argument(description="Page size, 1 to 100.")]
AFTER = Annotated[str | None, strawberry.argument(description="The `endCursor` of the previous page.")]


@strawberry.type
class OrderQueries:
    @scoped_field(orders_scopes.READ, "Orders of the organization, a page at a time, filtered; newest first by default.")
    async def orders(
        self,
        info: strawberry.Info,
        first: FIRST = 50,
        after: AFTER = None,
        filter: Annotated[OrderFilter | None, strawberry.argument(description="Which orders; all by default.")] = None,
        order_by: Annotated[CreatedOrder | None, strawberry.argument(description="Sort order.")] = None,
    ) -> OrderConnection:
        context = info.context
        order = order_by or CreatedOrder()
        data = lambda: filter.to_data() if filter else OrderFilterData()  # noqa: E731  (a bad id: an error of the query)
        page = await run_query(
            info,
            lambda session, subject: service.list_orders(
                session, subject, data(), descending=order.direction.value == "desc", first=first, after=after, max_page_size=context.settings.page_size_max
            ),
        )
        order_by_id.prime(context, page.items)
        count = lambda: run_query(info, lambda session, subject: service.count_orders(session, subject, data()))  # noqa: E731
        return Connection.from_page(page, Order.from_model, count)

    @scoped_field(orders_scopes.READ, "One order by id; null if there is none.")
    async def order(self, info: strawberry.Info, id: Annotated[strawberry.ID, strawberry.argument(description="The order's global id.")]) -> Order | None:
        row = await run_query(info, lambda session, subject: service.get_order(session, subject, parse_global_id(id, "Order")), null_if_not_found=True)
        return Order.from_model(row) if row is not None else None

    @scoped_field(orders_scopes.READ, "The transaction ledger, a page at a time, filtered; newest first by default.")
    async def transactions(
        self,
        info: strawberry.Info,
        first: FIRST = 50,
        after: AFTER = None,
        filter: Annotated[TransactionFilter | None, strawberry.argument(description="Which transactions; all by default.")] = None,
        order_by: Annotated[CreatedOrder | None, strawberry.argument(description="Sort order.")] = None,
    ) -> TransactionConnection:
        context = info.context
        order = order_by or CreatedOrder()
        data = lambda: filter.to_data() if filter else TransactionFilterData()  # noqa: E731
        page = await run_query(
            info,
            lambda session, subject: service.list_transactions(
                session, subject, data(), descending=order.direction.value == "desc", first=first, after=after, max_page_size=context.settings.page_size_max
            ),
        )
        return Connection.from_page(page, Transaction.from_model)
