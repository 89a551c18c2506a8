"""Mutations on subscriptions: cancel at the period's end, uncancel, revoke now, pause and resume,
product and seat changes; seats. Each returns its success payload or a typed error; nothing is
changed when an error is returned. `resumeSubscription` and `updateSubscription` can move money
and require an idempotency key (a revoked subscription's paid period is not refunded here:
`createRefund` does that)."""

from __future__ import annotations

from typing import Annotated

import strawberry

from app.kit.ids import parse_global_id, to_global_id
from app.payments.processors import configured_stripe
from app.subscriptions import scopes as subscriptions_scopes
from app.subscriptions import changes, seats, service
from schema.kit.errors import NotFoundError, ValidationError, mutation_result, run_mutation
from schema.kit.scopes import scoped_mutation
from schema.subscriptions.errors import SeatLimitReachedError, SeatsBelowHeldError, SubscriptionChangeNotAllowedError, SubscriptionNotChangeableError
from schema.subscriptions.inputs import (
    AssignSeatInput,
    CancelSubscriptionInput,
    ClaimSeatInput,
    PauseSubscriptionInput,
    ResumeSubscriptionInput,
    RevokeSeatInput,
    RevokeSubscriptionInput,
    UncancelSubscriptionInput,
    UpdateSubscriptionInput,
    UpdateSubscriptionPaymentMethodInput,
)
from schema.subscriptions.types import CustomerSeat, Subscription, SubscriptionUpdatePreview


@strawberry.type(description="The subscription will end at the end of its current period.")
class CancelSubscriptionSuccess:
    subscription: Subscription = strawberry.field(description="The subscription as it is now.")


@strawberry.type(description="The subscription renews again.")
class UncancelSubscriptionSuccess:
    subscription: Subscription = strawberry.field(description="The subscription as it is now.")


@strawberry.type(description="The subscription has ended.")
class RevokeSubscriptionSuccess:
    subscription: Subscription = strawberry.field(description="The subscription as it is now.")


@strawberry.type(description="The subscription's renewals are charged with the new payment method.")
class UpdateSubscriptionPaymentMethodSuccess:
    subscription: Subscription = strawberry.field(description="The subscription as it is now.")


@strawberry.type(description="The subscription pauses at the end of its current period.")
class PauseSubscriptionSuccess:
    subscription: Subscription = strawberry.field(description="The subscription as it is now.")


@strawberry.type(description="The pause was taken back, or the paused subscription started a new period.")
class ResumeSubscriptionSuccess:
    subscription: Subscription = strawberry.field(description="The subscription as it is now.")
    order_id: strawberry.ID | None = strawberry.field(
        description="The new period's order (charged off-session; read it in `subscription { orders }` or `order(id:)`); null when only a scheduled pause was taken back."
    )


@strawberry.type(description="The subscription's product and/or seats changed now.")
class UpdateSubscriptionSuccess:
    subscription: Subscription = strawberry.field(description="The subscription as it is now.")
    order_id: strawberry.ID | None = strawberry.field(
        description="The order made now (`INVOICE` netting a debit), charged off-session (read it in `subscription { orders }` or `order(id:)`); null otherwise."
    )
    change: SubscriptionUpdatePreview = strawberry.field(description="What the change did: the same numbers `previewSubscriptionUpdate` gives at that moment.")


@strawberry.type(description="The seat was given (claimed) or offered (pending).")
class AssignSeatSuccess:
    seat: CustomerSeat = strawberry.field(description="The seat.")
    claim_token: str | None = strawberry.field(description="For an invitation by email: the token the invited person claims it with, shown only now.")


@strawberry.type(description="The seat is the member's.")
class ClaimSeatSuccess:
    seat: CustomerSeat = strawberry.field(description="The seat.")


@strawberry.type(description="The seat was taken back.")
class RevokeSeatSuccess:
    seat: CustomerSeat = strawberry.field(description="The seat.")


AssignSeatResult = mutation_result(
    "AssignSeatResult", "The seat, or why none was given.", AssignSeatSuccess, ValidationError, NotFoundError, SubscriptionNotChangeableError, SeatLimitReachedError
)
ClaimSeatResult = mutation_result("ClaimSeatResult", "The claimed seat, or why not.", ClaimSeatSuccess, ValidationError, NotFoundError, SubscriptionNotChangeableError)
RevokeSeatResult = mutation_result("RevokeSeatResult", "The revoked seat, or why not.", RevokeSeatSuccess, NotFoundError)


def _order_id(order) -> strawberry.ID | None:
    return strawberry.ID(to_global_id("Order", order.id)) if order is not None else None


def _result(name: str, description: str, success: type):
    return mutation_result(name, description, success, ValidationError, NotFoundError, SubscriptionNotChangeableError)


CancelSubscriptionResult = _result("CancelSubscriptionResult", "The canceled subscription, or why nothing changed.", CancelSubscriptionSuccess)
UncancelSubscriptionResult = _result("UncancelSubscriptionResult", "The subscription renewing again, or why nothing changed.", UncancelSubscriptionSuccess)
UpdateSubscriptionPaymentMethodResult = _result(
    "UpdateSubscriptionPaymentMethodResult", "The subscription with its new payment method, or why nothing changed.", UpdateSubscriptionPaymentMethodSuccess
)
RevokeSubscriptionResult = _result("RevokeSubscriptionResult", "The ended subscription, or why nothing changed.", RevokeSubscriptionSuccess)
PauseSubscriptionResult = _result("PauseSubscriptionResult", "The subscription to be paused, or why nothing changed.", PauseSubscriptionSuccess)
ResumeSubscriptionResult = _result("ResumeSubscriptionResult", "The resumed subscription, or why nothing changed.", ResumeSubscriptionSuccess)
UpdateSubscriptionResult = mutation_result(
    "UpdateSubscriptionResult",
    "The changed subscription, or why nothing changed.",
    UpdateSubscriptionSuccess,
    ValidationError,
    NotFoundError,
    SubscriptionNotChangeableError,
    SubscriptionChangeNotAllowedError,
    SeatsBelowHeldError,
)


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

    @scoped_mutation(
        subscriptions_scopes.WRITE,
        "Charge a subscription's renewals with another payment method from now on: a trial started without a card needs one, "
        "an expired card is replaced. The method is saved at Stripe for the customer; a past-due renewal order is charged "
        "with it at once (its next attempt). A declined or unknown method answers `PAYMENT_METHOD_REFUSED` and changes nothing.",
    )
    async def update_subscription_payment_method(
        self, info: strawberry.Info, input: Annotated[UpdateSubscriptionPaymentMethodInput, strawberry.argument(description="Which subscription, which method.")]
    ) -> UpdateSubscriptionPaymentMethodResult:
        processor = configured_stripe(info.context.settings)
        return await run_mutation(
            info,
            lambda session, subject: service.set_payment_method(
                session, subject, parse_global_id(input.id, "Subscription"), payment_method=input.payment_method, processor=processor
            ),
            lambda row: UpdateSubscriptionPaymentMethodSuccess(subscription=Subscription.from_model(row)),
        )

    @scoped_mutation(
        subscriptions_scopes.WRITE,
        "Pause a subscription at the end of its current period (trialing or active only): it stays usable until then, then becomes `PAUSED` "
        "instead of renewing, with no order (`subscription.paused`). Pausing it again changes nothing; `resumeSubscription` takes it back.",
    )
    async def pause_subscription(
        self, info: strawberry.Info, input: Annotated[PauseSubscriptionInput, strawberry.argument(description="What to pause.")]
    ) -> PauseSubscriptionResult:
        return await run_mutation(
            info,
            lambda session, subject: changes.pause(session, subject, parse_global_id(input.id, "Subscription")),
            lambda row: PauseSubscriptionSuccess(subscription=Subscription.from_model(row)),
        )

    @scoped_mutation(
        subscriptions_scopes.WRITE,
        "Resume a subscription (`subscription.resumed`): a pause still to come is taken back; a `PAUSED` subscription starts a new period now "
        "(anchored there), its order made as a renewal's and charged off-session (a failed charge makes it `PAST_DUE`). On one neither paused "
        "nor to be paused, nothing changes.",
    )
    async def resume_subscription(
        self, info: strawberry.Info, input: Annotated[ResumeSubscriptionInput, strawberry.argument(description="What to resume.")]
    ) -> ResumeSubscriptionResult:
        return await run_mutation(
            info,
            lambda session, subject: changes.resume(session, subject, parse_global_id(input.id, "Subscription")),
            lambda result: ResumeSubscriptionSuccess(subscription=Subscription.from_model(result[0]), order_id=_order_id(result[1])),
        )

    @scoped_mutation(
        subscriptions_scopes.WRITE,
        "Change a subscription's product and/or seats now, prorated to the second (see `SubscriptionProrationBehavior`); "
        "`previewSubscriptionUpdate` gives the same numbers beforehand. `subscription.updated`.",
    )
    async def update_subscription(
        self, info: strawberry.Info, input: Annotated[UpdateSubscriptionInput, strawberry.argument(description="What to change.")]
    ) -> UpdateSubscriptionResult:
        async def work(session, subject):
            subscription_id, request = input.to_change()
            return await changes.update(session, subject, subscription_id, request)

        return await run_mutation(
            info,
            work,
            lambda result: UpdateSubscriptionSuccess(
                subscription=Subscription.from_model(result[0]),
                order_id=_order_id(result[1]),
                change=SubscriptionUpdatePreview.from_plan(result[2]),
            ),
        )

    @scoped_mutation(
        subscriptions_scopes.WRITE,
        "Give a seat of a per-seat subscription to a member of its customer, or offer it by email (send the claim token in your "
        "invitation). Never more seats given or offered than bought: `SeatLimitReachedError`.",
    )
    async def assign_seat(self, info: strawberry.Info, input: Annotated[AssignSeatInput, strawberry.argument(description="Which seat to whom.")]) -> AssignSeatResult:
        return await run_mutation(
            info,
            lambda session, subject: seats.assign_seat(
                session,
                subject,
                parse_global_id(input.subscription_id, "Subscription"),
                member_id=parse_global_id(input.member_id, "Member") if input.member_id else None,
                email=input.email,
            ),
            lambda result: AssignSeatSuccess(seat=CustomerSeat.from_model(result[0]), claim_token=result[1]),
        )

    @scoped_mutation(subscriptions_scopes.WRITE, "Claim the seat an invitation offers, for the invited person: they become a member of the business.")
    async def claim_seat(self, info: strawberry.Info, input: Annotated[ClaimSeatInput, strawberry.argument(description="The invitation's token.")]) -> ClaimSeatResult:
        return await run_mutation(
            info,
            lambda session, subject: seats.claim_seat(session, subject, input.token, name=input.name),
            lambda row: ClaimSeatSuccess(seat=CustomerSeat.from_model(row)),
        )

    @scoped_mutation(subscriptions_scopes.WRITE, "Take a seat back (pending or claimed): it no longer counts against the subscription's seats.")
    async def revoke_seat(self, info: strawberry.Info, input: Annotated[RevokeSeatInput, strawberry.argument(description="Which seat.")]) -> RevokeSeatResult:
        return await run_mutation(
            info,
            lambda session, subject: seats.revoke_seat(session, subject, parse_global_id(input.id, "CustomerSeat")),
            lambda row: RevokeSeatSuccess(seat=CustomerSeat.from_model(row)),
        )
