"""Holds in GraphQL: the `WalletHold` node and `walletCheck`, the cheap question asked before
serving a request; the mutations `holdWalletFunds`, `captureWalletHold`, `releaseWalletHold` are
in `mutations.py` here (re-exported: `from schema.wallets.holds import WalletHoldMutations`)."""

from __future__ import annotations

import enum
from datetime import datetime
from decimal import Decimal
from typing import Annotated

import strawberry

from app.kit.ids import parse_global_id, to_global_id
from app.models.wallet import WalletHold as WalletHoldModel
from app.wallets import holds, service
from app.wallets import scopes as wallets_scopes
from schema.kit.errors import run_query
from schema.kit.loaders import loader
from schema.kit.money import Money
from schema.kit.relay import Connection, Node
from schema.kit.scopes import scoped_field
from schema.wallets.errors import WalletCoverage
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


def _optional_id(value: strawberry.ID | None, kind: str):
    return parse_global_id(value, kind) if value is not None else None


@strawberry.type
class WalletHoldQueries:
    @scoped_field(wallets_scopes.READ, "A wallet's holds, newest first, a page at a time.")
    async def wallet_holds(
        self,
        info: strawberry.Info,
        wallet_id: Annotated[strawberry.ID, strawberry.argument(description="The wallet's global id.")],
        status: Annotated[WalletHoldStatus | None, strawberry.argument(description="Only holds with this status; all by default.")] = None,
        first: Annotated[int, strawberry.argument(description="Page size, 1 to 100.")] = 50,
        after: Annotated[str | None, strawberry.argument(description="The `endCursor` of the previous page.")] = None,
    ) -> Connection[WalletHold]:
        settings = info.context.settings

        async def work(session, subject):
            wallet = await service.get_wallet(session, subject, parse_global_id(wallet_id, "Wallet"))
            page = await holds.list_holds(
                session, subject.scope, wallet.id, status=status.value if status else None, first=first, after=after, max_page_size=settings.page_size_max
            )
            return wallet, page

        wallet, page = await run_query(info, work)
        return Connection.from_page(page, lambda row: WalletHold.from_model(row, wallet.currency))

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


from schema.wallets.holds.mutations import WalletHoldMutations  # noqa: E402  (after the types it uses)

__all__ = ["WalletCheck", "WalletHold", "WalletHoldMutations", "WalletHoldQueries", "WalletHoldStatus"]
