"""Queries about checkouts."""

from __future__ import annotations

from typing import Annotated

import strawberry

from app.auth.scopes import CHECKOUT_CLIENT
from app.checkouts import scopes as checkouts_scopes
from app.checkouts import service
from app.checkouts.repository import CheckoutFilter as CheckoutFilterData
from app.kit.ids import parse_global_id
from schema.checkouts.inputs import CheckoutFilter
from schema.checkouts.loaders import checkout_by_id
from schema.checkouts.types import Checkout, CheckoutConnection
from schema.kit.errors import run_query
from schema.kit.relay import Connection
from schema.kit.scopes import scoped_field
from schema.orders.inputs import CreatedOrder


@strawberry.type
class CheckoutQueries:
    @scoped_field(checkouts_scopes.READ, "Checkouts of the organization, a page at a time, filtered; newest first by default.")
    async def checkouts(
        self,
        info: strawberry.Info,
        first: Annotated[int, strawberry.argument(description="Page size, 1 to 100.")] = 50,
        after: Annotated[str | None, strawberry.argument(description="The `endCursor` of the previous page.")] = None,
        filter: Annotated[CheckoutFilter | None, strawberry.argument(description="Which checkouts; all by default.")] = None,
        order_by: Annotated[CreatedOrder | None, strawberry.argument(description="Sort order.")] = None,
    ) -> CheckoutConnection:
        context = info.context
        order = order_by or CreatedOrder()
        data = lambda: filter.to_data() if filter else CheckoutFilterData()  # noqa: E731  (a bad id: an error of the query)
        page = await run_query(
            info,
            lambda session, subject: service.list_checkouts(
                session, subject, data(), descending=order.direction.value == "desc", first=first, after=after, max_page_size=context.settings.page_size_max
            ),
        )
        checkout_by_id.prime(context, page.items)
        count = lambda: run_query(info, lambda session, subject: service.count_checkouts(session, subject, data()))  # noqa: E731
        return Connection.from_page(page, Checkout.from_model, count)

    @scoped_field(checkouts_scopes.READ, "One checkout by id; null if there is none.")
    async def checkout(self, info: strawberry.Info, id: Annotated[strawberry.ID, strawberry.argument(description="The checkout's global id.")]) -> Checkout | None:
        row = await run_query(info, lambda session, subject: service.get_checkout(session, subject, parse_global_id(id, "Checkout")), null_if_not_found=True)
        return Checkout.from_model(row) if row is not None else None

    @scoped_field(CHECKOUT_CLIENT, "The checkout whose client secret is the bearer credential: what the customer's browser shows.")
    async def checkout_session(self, info: strawberry.Info) -> Checkout:
        row = await run_query(info, lambda session, subject: service.get_checkout(session, subject, subject.checkout_id))
        return Checkout.from_model(row)
