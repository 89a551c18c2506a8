"""Holds in GraphQL: the `WalletHold` node, `holdWalletFunds`, `captureWalletHold`,
`releaseWalletHold`, and `walletCheck`, the cheap question asked before serving a request."""

from __future__ import annotations

import enum
from datetime import datetime
from decimal import Decimal
from typing import Annotated

import strawberry

from app.kit.ids import parse_global_id, to_global_id
from app.models.wallet import WalletHold as WalletHoldModel
from app.wallets import holds
from app.wallets import scopes as wallets_scopes
from schema.kit.errors import NotFoundError, ValidationError, mutation_result, run_mutation, run_query
from schema.kit.idempotency import idempotency_key_field
from schema.kit.loaders import loader
from schema.kit.money import Money
from schema.kit.relay import Connection, Node
from schema.kit.scalars import BigInt
from schema.kit.scopes import scoped_field, scoped_mutation
from schema.wallets.errors import HoldNotActiveError, InsufficientFundsError, WalletCoverage
from schema.wallets.loaders import wallet_by_id
from schema.wallets.types import Wallet

@strawberry.enum(description="Where a wallet hold stands.")
class WalletHoldStatus(enum.Enum):
    ACTIVE = strawberry.enum_value("active", description="The funds are reserved: counted in the wallet's `held`, not available.")
    CAPTURED = strawberry.enum_value("captured", description="Captured for `captured` (0 to the held amount); the rest was released.")
    RELEASED = strawberry.enum_value("released", description="Released: nothing was taken.")
    EXPIRED = strawberry.enum_value("expired", description="Its expiry passed while active: released by itself.")


@strawberry.type(description="Funds of a wallet reserved before serving a request, then captured for the actual amount (the rest released), released, or expired.")
class WalletHold(Node):
    model: strawberry.Private[WalletHoldModel]
    currency: strawberry.Private[str]
    status: WalletHoldStatus = strawberry.field(description="Where it stands.")
    amount: Money = strawberry.field(description="The amount reserved.")
    captured: Money | None = strawberry.field(description="What its capture took from the wallet (0 for a capture of nothing); null unless captured.")
    expires_at: datetime = strawberry.field(description="When it expires if still active.")
    resolved_at: datetime | None = strawberry.field(description="When it was captured, released or expired.")
    description: str | None = strawberry.field(description="Your description of what it is for.")
    created_at: datetime = strawberry.field(description="When it was taken.")
    member_id: strawberry.ID | None = strawberry.field(description="The member it was taken for (its budget applied), if any.")

    @strawberry.field(description="The wallet it reserves funds of.")
    async def wallet(self, info: strawberry.Info) -> Wallet | None:
        row = await loader(info, wallet_by_id).load(self.model.wallet_id)
        return Wallet.from_model(row) if row is not None else None

    @classmethod
    def from_model(cls, row: WalletHoldModel, currency: str) -> "WalletHold":
        return cls(
            model=row,
            currency=currency,
            id=strawberry.ID(to_global_id("WalletHold", row.id)),
            status=WalletHoldStatus(row.status),
            amount=Money(amount=row.amount, currency=currency),
            captured=Money(amount=row.captured_amount, currency=currency) if row.captured_amount is not None else None,
            expires_at=row.expires_at,
            resolved_at=row.resolved_at,
            description=row.description,
            created_at=row.created_at,
            member_id=strawberry.ID(to_global_id("Member", row.member_id)) if row.member_id is not None else None,
        )


async def wallet_holds(
    root: Wallet,
    info: strawberry.Info,
    status: Annotated[WalletHoldStatus | None, strawberry.argument(description="Only holds with this status; all by default.")] = None,
    first: Annotated[int, strawberry.argument(description="Page size, 1 to 100.")] = 50,
    after: Annotated[str | None, strawberry.argument(description="The `endCursor` of the previous page.")] = None,
) -> Connection:
    wallet, settings = root.model, info.context.settings
    page = await run_query(
        info,
        lambda session, subject: holds.list_holds(
            session, subject.scope, wallet.id, status=status.value if status else None, first=first, after=after, max_page_size=settings.page_size_max
        ),
    )
    return Connection.from_page(page, lambda row: WalletHold.from_model(row, wallet.currency))


@strawberry.type(description="Whether a customer's wallet covers an estimated use of a meter, and why.")
class WalletCheck:
    estimated_cost: Money = strawberry.field(description="What the units would cost under the wallet-enabled price (0 when there is none).")
    available: Money = strawberry.field(description="What the wallet can spend now: its balance less active holds.")
    member_budget_remaining: Money | None = strawberry.field(
        description="What the member may still spend or hold this period (its budget less its spend and active holds); null without a member budget."
    )
    covers: bool = strawberry.field(description="True when the wallet (and the member's budget) covers the estimated cost.")
    reason: WalletCoverage = strawberry.field(description="`COVERED`, or why not.")

    @classmethod
    def from_coverage(cls, c: holds.Coverage) -> "WalletCheck":
        return cls(
            estimated_cost=Money(amount=c.estimated_cost, currency=c.currency),
            available=Money(amount=c.available, currency=c.currency),
            member_budget_remaining=Money(amount=c.member_budget_remaining, currency=c.currency) if c.member_budget_remaining is not None else None,
            covers=c.covers,
            reason=WalletCoverage(c.reason),
        )


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


def _optional_id(value: strawberry.ID | None, kind: str):
    return parse_global_id(value, kind) if value is not None else None


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
            from app.wallets import service

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


@strawberry.type
class WalletHoldQueries:
    @scoped_field(
        wallets_scopes.READ,
        "Ask before serving a request whether the customer's wallet covers `units` of a meter: the estimated cost under the customer's wallet-enabled "
        "price for it, what is available, the member's budget left, and why. Reads only; it reserves nothing (use `holdWalletFunds` for that).",
    )
    async def wallet_check(
        self,
        info: strawberry.Info,
        customer_id: Annotated[strawberry.ID, strawberry.argument(description="The customer's global id.")],
        meter_id: Annotated[strawberry.ID, strawberry.argument(description="The meter's global id.")],
        units: Annotated[Decimal, strawberry.argument(description="The units of the meter the request would use.")],
        member_id: Annotated[strawberry.ID | None, strawberry.argument(description="The member making the request (its budget applies).")] = None,
    ) -> WalletCheck:
        coverage = await run_query(
            info,
            lambda session, subject: holds.check(
                session, subject, parse_global_id(customer_id, "Customer"), _optional_id(member_id, "Member"), parse_global_id(meter_id, "Meter"), units
            ),
        )
        return WalletCheck.from_coverage(coverage)
