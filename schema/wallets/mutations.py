"""Mutations on wallets: grants, adjustments, member budgets. Each returns its success payload or
a typed error; nothing is changed when an error is returned. Money-moving ones take an
`idempotencyKey`."""

from __future__ import annotations

from typing import Annotated

import strawberry

from app.kit.ids import parse_global_id, to_global_id
from app.payments.processors import configured
from app.wallets import auto_top_up
from app.wallets import scopes as wallets_scopes
from app.wallets import service, top_ups
from schema.kit.errors import NotFoundError, ValidationError, mutation_result, run_mutation
from schema.kit.scopes import scoped_mutation
from schema.wallets.errors import InsufficientFundsError, RefundExceedsUnspentError, WalletNotAllowedError
from schema.wallets.inputs import (
    AdjustWalletBalanceInput,
    ConfigureWalletAutoTopUpInput,
    GrantWalletCreditInput,
    RefundWalletTopUpInput,
    SetMemberBudgetInput,
)
from schema.wallets.types import MemberBudget, Wallet, WalletTransaction


@strawberry.type(description="The wallet moved.")
class WalletTransactionSuccess:
    wallet: Wallet = strawberry.field(description="The wallet as it is now.")
    transaction: WalletTransaction = strawberry.field(description="The new transaction.")


@strawberry.type(description="The member's budget was set (or removed: `budget` null).")
class SetMemberBudgetSuccess:
    budget: MemberBudget | None = strawberry.field(description="The budget as it is now; null when the cap was removed.")


@strawberry.type(description="The top-up was refunded: the money left the wallet and the payment was refunded.")
class RefundWalletTopUpSuccess:
    wallet: Wallet = strawberry.field(description="The wallet as it is now.")
    transaction: WalletTransaction = strawberry.field(description="The wallet's `REFUND` transaction.")
    refund_id: strawberry.ID = strawberry.field(description="The order's new refund (`Refund`); the order is the transaction's `orderId`.")


@strawberry.type(description="The auto top-up was configured (and, if the balance is already under the threshold, a charge was asked for).")
class ConfigureWalletAutoTopUpSuccess:
    wallet: Wallet = strawberry.field(description="The wallet, with its `autoTopUp` settings.")


RefundWalletTopUpResult = mutation_result(
    "RefundWalletTopUpResult", "The refund, or why nothing changed.", RefundWalletTopUpSuccess, ValidationError, NotFoundError,
    RefundExceedsUnspentError, WalletNotAllowedError,
)
ConfigureWalletAutoTopUpResult = mutation_result(
    "ConfigureWalletAutoTopUpResult", "The settings, or why nothing changed.", ConfigureWalletAutoTopUpSuccess, ValidationError, NotFoundError
)
GrantWalletCreditResult = mutation_result("GrantWalletCreditResult", "The grant, or why nothing was granted.", WalletTransactionSuccess, ValidationError, NotFoundError)
AdjustWalletBalanceResult = mutation_result(
    "AdjustWalletBalanceResult", "The adjustment, or why nothing changed.", WalletTransactionSuccess, ValidationError, NotFoundError, InsufficientFundsError
)
SetMemberBudgetResult = mutation_result(
    "SetMemberBudgetResult", "The budget, or why nothing changed.", SetMemberBudgetSuccess, ValidationError, NotFoundError, WalletNotAllowedError
)


async def _moved(session, subject, wallet, entry_id):
    entry = await service.get_entry(session, subject.scope, entry_id)
    return wallet, entry


def _success(result) -> WalletTransactionSuccess:
    wallet, entry = result
    return WalletTransactionSuccess(wallet=Wallet.from_model(wallet), transaction=WalletTransaction.from_model(entry, wallet.currency))


@strawberry.type
class WalletMutations:
    @scoped_mutation(
        wallets_scopes.WRITE,
        "Give a customer promotional money: spent before paid money (the soonest-expiring first); what is left at `expiresAt` expires. "
        "Send an `idempotencyKey`: a retry with it grants once.",
    )
    async def grant_wallet_credit(
        self, info: strawberry.Info, input: Annotated[GrantWalletCreditInput, strawberry.argument(description="The grant.")]
    ) -> GrantWalletCreditResult:
        async def work(session, subject):
            wallet, entry_id = await service.grant(
                session, subject, parse_global_id(input.customer_id, "Customer"), input.currency, int(input.amount),
                expires_at=input.expires_at, reason=input.reason,
            )
            return await _moved(session, subject, wallet, entry_id)

        return await run_mutation(info, work, _success)

    @scoped_mutation(
        wallets_scopes.WRITE,
        "Correct a customer's wallet balance, with a reason: add money, or take out at most what is available (the balance less active holds). "
        "Send an `idempotencyKey`: a retry with it adjusts once.",
    )
    async def adjust_wallet_balance(
        self, info: strawberry.Info, input: Annotated[AdjustWalletBalanceInput, strawberry.argument(description="The adjustment.")]
    ) -> AdjustWalletBalanceResult:
        async def work(session, subject):
            wallet, entry_id = await service.adjust(
                session, subject, parse_global_id(input.customer_id, "Customer"), input.currency, int(input.amount), reason=input.reason
            )
            return await _moved(session, subject, wallet, entry_id)

        return await run_mutation(info, work, _success)

    @scoped_mutation(
        wallets_scopes.WRITE,
        "Cap what a member of a business customer may spend from the shared wallet per calendar period. Once the cap is reached, checks and holds for the "
        "member answer `MEMBER_BUDGET_EXCEEDED` and its usage is recorded as uncovered. What it spent this period already counts.",
    )
    async def set_member_budget(
        self, info: strawberry.Info, input: Annotated[SetMemberBudgetInput, strawberry.argument(description="The cap.")]
    ) -> SetMemberBudgetResult:
        async def work(session, subject):
            return await service.set_member_budget(
                session, subject, parse_global_id(input.member_id, "Member"), input.currency,
                int(input.amount) if input.amount is not None else None, input.period.value,
            )

        return await run_mutation(info, work, lambda budget: SetMemberBudgetSuccess(budget=MemberBudget.from_model(budget) if budget is not None else None))

    @scoped_mutation(
        wallets_scopes.WRITE,
        "Refund a wallet top-up: at most what remains unspent (and not held) of it, else `RefundExceedsUnspentError` and nothing changes. The money "
        "leaves the wallet (a `REFUND` transaction) and the payment is refunded through the order, in one transaction. "
        "Send an `idempotencyKey`: a retry with it refunds once.",
    )
    async def refund_wallet_top_up(
        self, info: strawberry.Info, input: Annotated[RefundWalletTopUpInput, strawberry.argument(description="What to refund.")]
    ) -> RefundWalletTopUpResult:
        settings = info.context.settings

        async def work(session, subject):
            wallet, entry_id, refund = await top_ups.refund_wallet_top_up(
                session, subject, parse_global_id(input.order_id, "Order"), int(input.amount), reason=input.reason.value, comment=input.comment,
                processor_for=lambda name: configured(name, settings),  # type: ignore[arg-type]
                idempotency_key=input.idempotency_key,
            )
            return wallet, await service.get_entry(session, subject.scope, entry_id), refund

        def success(result) -> RefundWalletTopUpSuccess:
            wallet, entry, refund = result
            return RefundWalletTopUpSuccess(
                wallet=Wallet.from_model(wallet), transaction=WalletTransaction.from_model(entry, wallet.currency),
                refund_id=strawberry.ID(to_global_id("Refund", refund.id)),
            )

        return await run_mutation(info, work, success)

    @scoped_mutation(
        wallets_scopes.WRITE,
        "Configure a wallet's auto top-up: when the balance falls under `threshold`, the customer's saved payment method is charged off-session "
        "for what refills it to `target`, at most once per cooldown and within the monthly cap; the wallet is credited after the payment "
        "succeeded. Configuring restarts a paused auto top-up; a balance already under the threshold is topped up at once.",
    )
    async def configure_wallet_auto_top_up(
        self, info: strawberry.Info, input: Annotated[ConfigureWalletAutoTopUpInput, strawberry.argument(description="The settings.")]
    ) -> ConfigureWalletAutoTopUpResult:
        async def work(session, subject):
            return await auto_top_up.configure(
                session, subject, parse_global_id(input.customer_id, "Customer"), input.currency, enabled=input.enabled,
                threshold=int(input.threshold), target=int(input.target),
                monthly_cap=int(input.monthly_cap) if input.monthly_cap is not None else None,
                cooldown_seconds=input.cooldown_seconds, max_failures=input.max_failures,
            )

        return await run_mutation(info, work, lambda wallet: ConfigureWalletAutoTopUpSuccess(wallet=Wallet.from_model(wallet)))
