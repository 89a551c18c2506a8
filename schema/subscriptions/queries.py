"""Queries about subscriptions."""

from __future__ import annotations

from typing import Annotated

import strawberry

from app.kit.ids import parse_global_id
from app.subscriptions import scopes as subscriptions_scopes
from app.subscriptions import service
from app.subscriptions.repository import SubscriptionFilter as SubscriptionFilterData
from schema.kit.errors import run_query
from schema.kit.relay import Connection
from schema.kit.scopes import scoped_field
from schema.orders.inputs import CreatedOrder
from schema.subscriptions.inputs import SubscriptionFilter
from schema.subscriptions.loaders import subscription_by_id
from schema.subscriptions.types import Subscription, SubscriptionConnection


@strawberry.type
class SubscriptionQueries:
    @scoped_field(subscriptions_scopes.READ, "Subscriptions of the organization, a page at a time, filtered; newest first by default.")
    async def subscriptions(
        self,
        info: strawberry.Info,
        first: Annotated[int, strawberry.argument(description="Page size, 1 to 100.")] = 50,
        after: Annotated[str | None, strawberry.argument(description="The `endCursor` of the previous page.")] = None,
        filter: Annotated[SubscriptionFilter | None, strawberry.argument(description="Which subscriptions; all by default.")] = None,
        order_by: Annotated[CreatedOrder | None, strawberry.argument(description="Sort order.")] = None,
    ) -> SubscriptionConnection:
        context = info.context
        order = order_by or CreatedOrder()
        data = lambda: filter.to_data() if filter else SubscriptionFilterData()  # noqa: E731  (a bad id: an error of the query)
        page = await run_query(
            info,
            lambda session, subject: service.list_subscriptions(
                session, subject, data(), descending=order.direction.value == "desc", first=first, after=after, max_page_size=context.settings.page_size_max
            ),
        )
        subscription_by_id.prime(context, page.items)
        count = lambda: run_query(info, lambda session, subject: service.count_subscriptions(session, subject, data()))  # noqa: E731
        return Connection.from_page(page, Subscription.from_model, count)

    @scoped_field(subscriptions_scopes.READ, "One subscription by id; null if there is none.")
    async def subscription(
        self, info: strawberry.Info, id: Annotated[strawberry.ID, strawberry.argument(description="The subscription's global id.")]
    ) -> Subscription | None:
        row = await run_query(
            info, lambda session, subject: service.get_subscription(session, subject, parse_global_id(id, "Subscription")), null_if_not_found=True
        )
        return Subscription.from_model(row) if row is not None else None
