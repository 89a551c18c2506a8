"""Mutations on wallet holds: hold, capture, release. Each returns the hold and its wallet, or a
typed error; nothing is changed when an error is returned. Each takes an `idempotencyKey`."""

from __future__ import annotations

from typing import Annotated

import strawberry

from app.kit.ids import parse_global_id
from app.wallets import holds
from app.wallets import scopes as wallets_scopes
from app.wallets import service
from schema.kit.errors import NotFoundError, ValidationError, mutation_result, run_mutation
from schema.kit.idempotency import idempotency_key_field
from schema.kit.scalars import BigInt
from schema.kit.scopes import scoped_mutation
from schema.wallets.errors import HoldNotActiveError, InsufficientFundsError
from schema.wallets.holds import WalletHold, _optional_id
from schema.wallets.types import Wallet


@strawberry.input(description="Funds to reserve in a customer's wallet.")
class HoldWalletFundsInput:
    customer_id: strawberry.ID = strawberry.field(description="The customer.")
    member_id: strawberry.ID | None = strawberry.field(default=None, description="The member it is for (of that customer): its budget left limits it too.")
    currency: str = strawberry.field(description="The wallet's currency (ISO 4217, e.g. `usd`).")
    amount: BigInt = strawberry.field(description="The amount to reserve in minor units, at least 1.")
    expires_in: int = strawberry.field(description="Seconds until it expires if not captured or released: 1 to 604800 (7 days).")
    description: str | None = strawberry.field(default=None, description="What it is for, up to 512 characters.")
    idempotency_key: str | None = idempotency_key_field()


@strawberry.input(description="A hold's capture.")
class CaptureWalletHoldInput:
    hold_id: strawberry.ID = strawberry.field(description="The hold (active).")
    amount: BigInt | None = strawberry.field(default=None, description="The actual amount, 0 to the held amount; the held amount by default. The rest is released.")
    idempotency_key: str | None = idempotency_key_field()


@strawberry.input(description="A hold's release.")
class ReleaseWalletHoldInput:
    hold_id: strawberry.ID = strawberry.field(description="The hold (active).")
    idempotency_key: str | None = idempotency_key_field()


@strawberry.type(description="The hold as it is now, and its wallet.")
class WalletHoldSuccess:
    hold: WalletHold = strawberry.field(description="The hold.")
    wallet: Wallet = strawberry.field(description="Its wallet as it is now.")


HoldWalletFundsResult = mutation_result(
    "HoldWalletFundsResult", "The hold, or why nothing was reserved.", WalletHoldSuccess, ValidationError, NotFoundError, InsufficientFundsError
)
CaptureWalletHoldResult = mutation_result(
    "CaptureWalletHoldResult", "The captured hold, or why nothing changed.", WalletHoldSuccess, ValidationError, NotFoundError, HoldNotActiveError,
    InsufficientFundsError,
)
ReleaseWalletHoldResult = mutation_result(
    "ReleaseWalletHoldResult", "The released hold, or why nothing changed.", WalletHoldSuccess, ValidationError, NotFoundError, HoldNotActiveError
)


def _success(result) -> WalletHoldSuccess:
    wallet, row = result
    return WalletHoldSuccess(hold=WalletHold.from_model(row, wallet.currency), wallet=Wallet.from_model(wallet))


@strawberry.type
class WalletHoldMutations:
    @scoped_mutation(
        wallets_scopes.WRITE,
        "Reserve funds of a customer's wallet before serving a request: atomically, at most what is available (the balance less active holds) and, "
        "for a member with a budget, its budget left; else `InsufficientFundsError` and nothing changes. Capture it for the actual amount, release "
        "it, or let it expire. Send an `idempotencyKey`: a retry with it holds once.",
    )
    async def hold_wallet_funds(
        self, info: strawberry.Info, input: Annotated[HoldWalletFundsInput, strawberry.argument(description="The hold.")]
    ) -> HoldWalletFundsResult:
        async def work(session, subject):
            row = await holds.hold(
                session, subject, parse_global_id(input.customer_id, "Customer"), _optional_id(input.member_id, "Member"), input.currency,
                int(input.amount), input.expires_in, input.description,
            )
            return await service.get_wallet(session, subject, row.wallet_id), row

        return await run_mutation(info, work, _success)

    @scoped_mutation(
        wallets_scopes.WRITE,
        "Capture an active hold for the actual amount (at most the held one; by default all of it): a `HOLD_CAPTURE` transaction, the rest released. "
        "A hold past its expiry is not active (`HoldNotActiveError`, status `expired`). Send an `idempotencyKey`: a retry with it captures once.",
    )
    async def capture_wallet_hold(
        self, info: strawberry.Info, input: Annotated[CaptureWalletHoldInput, strawberry.argument(description="The capture.")]
    ) -> CaptureWalletHoldResult:
        async def work(session, subject):
            return await holds.capture(session, subject, parse_global_id(input.hold_id, "WalletHold"), int(input.amount) if input.amount is not None else None)

        return await run_mutation(info, work, _success)

    @scoped_mutation(wallets_scopes.WRITE, "Release an active hold: its amount is available again.")
    async def release_wallet_hold(
        self, info: strawberry.Info, input: Annotated[ReleaseWalletHoldInput, strawberry.argument(description="The release.")]
    ) -> ReleaseWalletHoldResult:
        async def work(session, subject):
            return await holds.release(session, subject, parse_global_id(input.hold_id, "WalletHold"))

        return await run_mutation(info, work, _success)


