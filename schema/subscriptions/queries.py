"""Queries about subscriptions."""

from __future__ import annotations

from typing import Annotated

import strawberry

from app.kit.ids import parse_global_id
from app.subscriptions import scopes as subscriptions_scopes
from app.subscriptions import service
from app.subscriptions.repository import SubscriptionFilter as SubscriptionFilterData
from app.kit.errors import KassaError
from app.subscriptions import changes
from schema.kit.errors import NotFoundError, ValidationError, mutation_result, run_query, to_error_type
from schema.kit.relay import Connection
from schema.kit.scopes import scoped_field
from schema.orders.inputs import CreatedOrder
from schema.subscriptions.errors import SeatsBelowHeldError, SubscriptionChangeNotAllowedError, SubscriptionNotChangeableError
from schema.subscriptions.inputs import PreviewSubscriptionUpdateInput, SubscriptionFilter
from schema.subscriptions.loaders import subscription_by_id
from schema.subscriptions.types import Subscription, SubscriptionConnection, SubscriptionUpdatePreview

PreviewSubscriptionUpdateResult = mutation_result(
    "PreviewSubscriptionUpdateResult",
    "What the change would do, or why it cannot be made (the errors `updateSubscription` would return).",
    SubscriptionUpdatePreview,
    ValidationError,
    NotFoundError,
    SubscriptionNotChangeableError,
    SubscriptionChangeNotAllowedError,
    SeatsBelowHeldError,
)


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

    @scoped_field(
        subscriptions_scopes.READ,
        "What `updateSubscription` would do at a moment of the current period (now by default): its lines, amounts and where they go. "
        "Applied at that same moment, the change bills exactly these cents. Answers the same typed errors as the change.",
    )
    async def preview_subscription_update(
        self, info: strawberry.Info, input: Annotated[PreviewSubscriptionUpdateInput, strawberry.argument(description="The change and its moment.")]
    ) -> PreviewSubscriptionUpdateResult:
        context = info.context

        async def work(session):
            subscription_id, request = input.to_change()
            return await changes.preview_update(session, context.subject, subscription_id, request, input.at)

        try:
            plan = await context.db.run(work)
        except KassaError as exc:
            return to_error_type(exc)
        return SubscriptionUpdatePreview.from_plan(plan)
