"""Mutations on checkouts: the merchant's (with its token) and the customer's browser's (with the
checkout's client secret). Each returns its success payload or a typed error; nothing is changed
when an error is returned. A declined payment is not an error: the checkout comes back `FAILED`
with the reason, and may be confirmed again."""

from __future__ import annotations

from typing import Annotated

import strawberry

from app.auth.scopes import CHECKOUT_CLIENT
from app.checkouts import scopes as checkouts_scopes
from app.checkouts import service
from app.kit.errors import FieldIssue, ValidationFailed
from app.kit.ids import parse_global_id
from app.payments.processors import PaymentProcessor, configured_stripe
from schema.checkouts.errors import CheckoutBusyError, CheckoutNotOpenError
from schema.checkouts.inputs import (
    _id,
    ConfirmCheckoutInput,
    ConfirmCheckoutSessionInput,
    CreateCheckoutInput,
    CreateWalletTopUpCheckoutInput,
    UpdateCheckoutInput,
    UpdateCheckoutSessionInput,
)
from schema.checkouts.types import Checkout
from schema.kit.errors import NotFoundError, ValidationError, mutation_result, run_mutation
from schema.kit.scopes import scoped_mutation


def _stripe(info: strawberry.Info) -> PaymentProcessor | None:
    return configured_stripe(info.context.settings)


@strawberry.type(description="The checkout was created: hand its `clientSecret` to the customer's browser.")
class CreateCheckoutSuccess:
    checkout: Checkout = strawberry.field(description="The new checkout.")


@strawberry.type(description="The checkout was changed and priced again.")
class UpdateCheckoutSuccess:
    checkout: Checkout = strawberry.field(description="The checkout as it is now.")


@strawberry.type(description="The checkout was confirmed: see its `status` (`SUCCEEDED`, `FAILED` with the reason, or `CONFIRMED` while the processor decides).")
class ConfirmCheckoutSuccess:
    checkout: Checkout = strawberry.field(description="The checkout as it is now.")


@strawberry.type(description="The top-up checkout was created: confirm it (`confirmCheckout`, or the customer's browser with its `clientSecret`).")
class CreateWalletTopUpCheckoutSuccess:
    checkout: Checkout = strawberry.field(description="The new checkout (`walletTopUp` true).")


CreateWalletTopUpCheckoutResult = mutation_result(
    "CreateWalletTopUpCheckoutResult", "The top-up checkout, or why it was not created.", CreateWalletTopUpCheckoutSuccess, ValidationError
)
CreateCheckoutResult = mutation_result(
    "CreateCheckoutResult", "The created checkout, or why it was not created.", CreateCheckoutSuccess, ValidationError
)
UpdateCheckoutResult = mutation_result(
    "UpdateCheckoutResult",
    "The changed checkout, or why nothing changed.",
    UpdateCheckoutSuccess,
    ValidationError,
    NotFoundError,
    CheckoutNotOpenError,
)
ConfirmCheckoutResult = mutation_result(
    "ConfirmCheckoutResult",
    "The confirmed checkout, or why nothing was done.",
    ConfirmCheckoutSuccess,
    ValidationError,
    NotFoundError,
    CheckoutNotOpenError,
    CheckoutBusyError,
)


@strawberry.type
class CheckoutMutations:
    @scoped_mutation(
        checkouts_scopes.WRITE,
        "Create a checkout for a product price: amounts are computed here (price, seats, discount, the billing country's tax). "
        "Send an `idempotencyKey` to create it once however often you retry.",
    )
    async def create_checkout(self, info: strawberry.Info, input: Annotated[CreateCheckoutInput, strawberry.argument(description="What to sell.")]) -> CreateCheckoutResult:
        stripe_configured = bool(info.context.settings.stripe_secret_key)
        return await run_mutation(
            info,
            lambda session, subject: service.create_checkout(session, subject, input.to_draft(), stripe_configured=stripe_configured),
            lambda row: CreateCheckoutSuccess(checkout=Checkout.from_model(row)),
        )

    @scoped_mutation(checkouts_scopes.WRITE, "Change an open checkout: its customer, seats, amount, discount code or metadata; it is priced again.")
    async def update_checkout(self, info: strawberry.Info, input: Annotated[UpdateCheckoutInput, strawberry.argument(description="What to change.")]) -> UpdateCheckoutResult:
        return await run_mutation(
            info,
            lambda session, subject: service.update_checkout(session, subject, parse_global_id(input.id, "Checkout"), input.changes()),
            lambda row: UpdateCheckoutSuccess(checkout=Checkout.from_model(row)),
        )

    @scoped_mutation(
        checkouts_scopes.WRITE,
        "Confirm (pay for) a checkout as the merchant: with a Stripe payment method, or, for a `MANUAL` checkout, recording an offline payment. "
        "Confirmations of one checkout never charge twice; send an `idempotencyKey` to get the first answer again on a retry.",
    )
    async def confirm_checkout(self, info: strawberry.Info, input: Annotated[ConfirmCheckoutInput, strawberry.argument(description="What to confirm.")]) -> ConfirmCheckoutResult:
        processor = _stripe(info)
        return await run_mutation(
            info,
            lambda session, subject: service.confirm_checkout(
                session, subject, parse_global_id(input.id, "Checkout"), payment_method=input.payment_method, processor=processor
            ),
            lambda row: ConfirmCheckoutSuccess(checkout=Checkout.from_model(row)),
        )

    @scoped_mutation(CHECKOUT_CLIENT, "The customer's browser fills in its checkout (the client secret is the bearer credential); it is priced again.")
    async def update_checkout_session(
        self, info: strawberry.Info, input: Annotated[UpdateCheckoutSessionInput, strawberry.argument(description="What to change.")]
    ) -> UpdateCheckoutResult:
        return await run_mutation(
            info,
            lambda session, subject: service.update_checkout(session, subject, subject.checkout_id, input.changes()),
            lambda row: UpdateCheckoutSuccess(checkout=Checkout.from_model(row)),
        )

    @scoped_mutation(
        CHECKOUT_CLIENT,
        "The customer's browser pays for its checkout with a Stripe payment method (nothing when nothing is due). "
        "A declined card answers the checkout `FAILED`; it may be confirmed again with another card.",
    )
    async def confirm_checkout_session(
        self, info: strawberry.Info, input: Annotated[ConfirmCheckoutSessionInput, strawberry.argument(description="How to pay.")]
    ) -> ConfirmCheckoutResult:
        processor = _stripe(info)
        return await run_mutation(
            info,
            lambda session, subject: service.confirm_checkout(session, subject, subject.checkout_id, payment_method=input.payment_method, processor=processor),
            lambda row: ConfirmCheckoutSuccess(checkout=Checkout.from_model(row)),
        )

    @scoped_mutation(
        checkouts_scopes.WRITE,
        "Create a checkout for money into an existing customer's wallet: an amount within the organization's top-up bounds, untaxed. It is "
        "confirmed like any checkout; when paid, its order (`WALLET_TOP_UP`) is paid and the wallet credited in the same transaction, once. "
        "Send an `idempotencyKey` to create it once however often you retry.",
    )
    async def create_wallet_top_up_checkout(
        self, info: strawberry.Info, input: Annotated[CreateWalletTopUpCheckoutInput, strawberry.argument(description="The top-up.")]
    ) -> CreateWalletTopUpCheckoutResult:
        stripe_configured = bool(info.context.settings.stripe_secret_key)

        async def work(session, subject):
            issues: list[FieldIssue] = []
            customer_id = _id(issues, "customerId", input.customer_id, "Customer")
            if issues:
                raise ValidationFailed(issues)
            return await service.create_wallet_top_up_checkout(
                session, subject, customer_id=customer_id, currency=input.currency, amount=int(input.amount),
                payment_processor=input.payment_processor.value, expires_in_seconds=input.expires_in_seconds, metadata=input.metadata,
                stripe_configured=stripe_configured,
            )

        return await run_mutation(info, work, lambda row: CreateWalletTopUpCheckoutSuccess(checkout=Checkout.from_model(row)))
