"""Mutations on subscriptions: cancel at the period's end, uncancel, revoke now. Each returns its
success payload or a typed error; nothing is changed when an error is returned. None moves money
(a revoked subscription's paid period is not refunded here: `createRefund` does that)."""

from __future__ import annotations

from typing import Annotated

import strawberry

from app.kit.ids import parse_global_id
from app.subscriptions import scopes as subscriptions_scopes
from app.subscriptions import service
from schema.kit.errors import NotFoundError, ValidationError, mutation_result, run_mutation
from schema.kit.scopes import scoped_mutation
from schema.subscriptions.errors import SubscriptionNotChangeableError
from schema.subscriptions.inputs import CancelSubscriptionInput, RevokeSubscriptionInput, UncancelSubscriptionInput
from schema.subscriptions.types import Subscription


@strawberry.type(description="The subscription will end at the end of its current period.")
class CancelSubscriptionSuccess:
    subscription: Subscription = strawberry.field(description="The subscription as it is now.")


@strawberry.type(description="The subscription renews again.")
class UncancelSubscriptionSuccess:
    subscription: Subscription = strawberry.field(description="The subscription as it is now.")


@strawberry.type(description="The subscription has ended.")
class RevokeSubscriptionSuccess:
    subscription: Subscription = strawberry.field(description="The subscription as it is now.")


def _result(name: str, description: str, success: type):
    return mutation_result(name, description, success, ValidationError, NotFoundError, SubscriptionNotChangeableError)


CancelSubscriptionResult = _result("CancelSubscriptionResult", "The canceled subscription, or why nothing changed.", CancelSubscriptionSuccess)
UncancelSubscriptionResult = _result("UncancelSubscriptionResult", "The subscription renewing again, or why nothing changed.", UncancelSubscriptionSuccess)
RevokeSubscriptionResult = _result("RevokeSubscriptionResult", "The ended subscription, or why nothing changed.", RevokeSubscriptionSuccess)


@strawberry.type
class SubscriptionMutations:
    @scoped_mutation(
        subscriptions_scopes.WRITE,
        "Cancel a subscription at the end of its current period: it stays usable until then, then ends instead of renewing "
        "(`subscription.canceled`). Canceling it again changes nothing; `uncancelSubscription` takes it back.",
    )
    async def cancel_subscription(
        self, info: strawberry.Info, input: Annotated[CancelSubscriptionInput, strawberry.argument(description="What to cancel.")]
    ) -> CancelSubscriptionResult:
        return await run_mutation(
            info,
            lambda session, subject: service.cancel(session, subject, parse_global_id(input.id, "Subscription")),
            lambda row: CancelSubscriptionSuccess(subscription=Subscription.from_model(row)),
        )

    @scoped_mutation(
        subscriptions_scopes.WRITE,
        "Take back a cancellation at the end of the period: the subscription renews again (`subscription.uncanceled`). "
        "On one that is not canceled, nothing changes.",
    )
    async def uncancel_subscription(
        self, info: strawberry.Info, input: Annotated[UncancelSubscriptionInput, strawberry.argument(description="What to uncancel.")]
    ) -> UncancelSubscriptionResult:
        return await run_mutation(
            info,
            lambda session, subject: service.uncancel(session, subject, parse_global_id(input.id, "Subscription")),
            lambda row: UncancelSubscriptionSuccess(subscription=Subscription.from_model(row)),
        )

    @scoped_mutation(
        subscriptions_scopes.WRITE,
        "End a subscription now: `CANCELED`, never renewed again (`subscription.revoked`). What was paid for the current period is not refunded here.",
    )
    async def revoke_subscription(
        self, info: strawberry.Info, input: Annotated[RevokeSubscriptionInput, strawberry.argument(description="What to revoke.")]
    ) -> RevokeSubscriptionResult:
        return await run_mutation(
            info,
            lambda session, subject: service.revoke(session, subject, parse_global_id(input.id, "Subscription")),
            lambda row: RevokeSubscriptionSuccess(subscription=Subscription.from_model(row)),
        )
