"""Mutations on wallets: grants, adjustments, member budgets. Each returns its success payload or
a typed error; nothing is changed when an error is returned. Money-moving ones take an
`idempotencyKey`."""

from __future__ import annotations

from typing import Annotated

import strawberry

from app.kit.ids import parse_global_id
from app.wallets import scopes as wallets_scopes
from app.wallets import service
from schema.kit.errors import NotFoundError, ValidationError, mutation_result, run_mutation
from schema.kit.scopes import scoped_mutation
from schema.wallets.errors import InsufficientFundsError, WalletNotAllowedError
from schema.wallets.inputs import AdjustWalletBalanceInput, GrantWalletCreditInput, SetMemberBudgetInput
from schema.wallets.types import MemberBudget, Wallet, WalletTransaction


@strawberry.type(description="The wallet moved.")
class WalletTransactionSuccess:
    wallet: Wallet = strawberry.field(description="The wallet as it is now.")
    transaction: WalletTransaction = strawberry.field(description="The new transaction.")


@strawberry.type(description="The member's budget was set (or removed: `budget` null).")
class SetMemberBudgetSuccess:
    budget: MemberBudget | None = strawberry.field(description="The budget as it is now; null when the cap was removed.")


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
