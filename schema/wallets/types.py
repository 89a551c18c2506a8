"""GraphQL types of wallets: the wallet, its transactions, member budgets and uncovered usage."""

from __future__ import annotations

import enum
from datetime import datetime
from decimal import Decimal
from typing import Annotated

import strawberry

from app.kit import clock
from app.kit.ids import to_global_id
from app.models.wallet import MemberBudget as MemberBudgetModel
from app.models.wallet import Wallet as WalletModel
from app.models.wallet import WalletEntry as WalletEntryModel
from app.wallets import service
from app.wallets.service import UncoveredTotal
from schema.kit.loaders import loader
from schema.kit.money import Money
from schema.kit.relay import Connection, Node
from schema.wallets.loaders import active_holds_of_wallet, recent_entries_of_wallet, wallet_by_id


@strawberry.enum(description="A kind of wallet transaction.")
class WalletTransactionType(enum.Enum):
    TOP_UP = strawberry.enum_value("top_up", description="Paid money in: a checkout, an auto top-up (positive).")
    GRANT = strawberry.enum_value("grant", description="Promotional money in, spent before paid money, may expire (positive).")
    USAGE = strawberry.enum_value("usage", description="Usage of a wallet-enabled metered price paid (negative).")
    REFUND = strawberry.enum_value("refund", description="A top-up's unspent money given back to the customer (negative).")
    ADJUSTMENT = strawberry.enum_value("adjustment", description="The merchant's correction, with a reason (either sign).")
    EXPIRY = strawberry.enum_value("expiry", description="What was left of a grant when it expired (negative).")
    HOLD_CAPTURE = strawberry.enum_value("hold_capture", description="A hold's captured amount (negative).")


@strawberry.enum(description="The calendar period (UTC) of a member budget.")
class BudgetPeriod(enum.Enum):
    DAY = strawberry.enum_value("day", description="A day, from midnight UTC.")
    WEEK = strawberry.enum_value("week", description="An ISO week, from Monday midnight UTC.")
    MONTH = strawberry.enum_value("month", description="A calendar month, from its first day, midnight UTC.")


@strawberry.type(description="One movement of a wallet's balance, signed from the customer's side. Append-only: corrections are new transactions.")
class WalletTransaction(Node):
    model: strawberry.Private[WalletEntryModel]
    type: WalletTransactionType = strawberry.field(description="What moved.")
    amount: Money = strawberry.field(description="Signed: positive in, negative out.")
    sequence: str = strawberry.field(description="The transaction's place in the ledger: larger is later (a decimal integer as text).")
    wallet_id: strawberry.ID = strawberry.field(description="The wallet.")
    member_id: strawberry.ID | None = strawberry.field(description="The member whose usage or hold it paid, if any.")
    meter_id: strawberry.ID | None = strawberry.field(description="The meter of a `USAGE` transaction.")
    price_id: strawberry.ID | None = strawberry.field(description="The wallet-enabled price of a `USAGE` transaction.")
    quantity: Decimal | None = strawberry.field(description="The units a `USAGE` transaction paid for.")
    hold_id: strawberry.ID | None = strawberry.field(description="The hold of a `HOLD_CAPTURE` transaction.")
    order_id: strawberry.ID | None = strawberry.field(description="The order of a `TOP_UP` (or of its `REFUND`).")
    reason: str | None = strawberry.field(description="The merchant's reason (adjustments, grants) or what happened.")
    created_at: datetime = strawberry.field(description="When it was recorded.")

    @classmethod
    def from_model(cls, row: WalletEntryModel, currency: str) -> "WalletTransaction":
        gid = lambda kind, value: strawberry.ID(to_global_id(kind, value)) if value is not None else None  # noqa: E731
        return cls(
            model=row,
            id=strawberry.ID(to_global_id("WalletTransaction", row.id)),
            type=WalletTransactionType(row.type),
            amount=Money(amount=row.amount, currency=currency),
            sequence=str(row.sequence),
            wallet_id=strawberry.ID(to_global_id("Wallet", row.wallet_id)),
            member_id=gid("Member", row.member_id),
            meter_id=gid("Meter", row.meter_id),
            price_id=gid("ProductPrice", row.product_price_id),
            quantity=row.quantity,
            hold_id=gid("WalletHold", row.hold_id),
            order_id=gid("Order", row.order_id),
            reason=row.reason,
            created_at=row.created_at,
        )


WalletTransactionConnection = Connection[WalletTransaction]


@strawberry.type(
    description="A wallet's auto top-up: when the balance falls under `threshold`, the customer's saved payment method is charged off-session, once, "
    "for what refills it to `target` (within the organization's top-up bounds), at most once per cooldown and within the monthly cap; the wallet "
    "is credited after the payment succeeded. After `maxFailures` failures in a row it pauses until the payment method changes or it is configured again."
)
class WalletAutoTopUpSettings:
    enabled: bool = strawberry.field(description="Whether it is on.")
    threshold: Money | None = strawberry.field(description="The balance under which it charges.")
    target: Money | None = strawberry.field(description="The balance it refills to.")
    monthly_cap: Money | None = strawberry.field(description="At most this much per calendar month (UTC), succeeded and pending charges; null: no cap.")
    cooldown_seconds: int = strawberry.field(description="At least this long between two charges, whatever their outcome.")
    max_failures: int = strawberry.field(description="Failures in a row before it pauses.")
    failures_in_a_row: int = strawberry.field(description="Failures since the last success.")
    paused_at: datetime | None = strawberry.field(description="When it paused after too many failures; null while it runs.")
    last_attempt_at: datetime | None = strawberry.field(description="When it last charged (or tried to).")

    @classmethod
    def from_model(cls, row: WalletModel) -> "WalletAutoTopUpSettings":
        return cls(
            enabled=row.auto_top_up_enabled,
            threshold=Money.of(row.auto_top_up_threshold, row.currency),
            target=Money.of(row.auto_top_up_target, row.currency),
            monthly_cap=Money.of(row.auto_top_up_monthly_cap, row.currency),
            cooldown_seconds=row.auto_top_up_cooldown_seconds,
            max_failures=row.auto_top_up_max_failures,
            failures_in_a_row=row.auto_top_up_failures,
            paused_at=row.auto_top_up_paused_at,
            last_attempt_at=row.auto_top_up_last_at,
        )


@strawberry.type(
    description="A customer's prepaid balance in one currency (a business customer's is shared by its members). The balance equals the sum of "
    "its transactions and is never negative; `available` is what can be spent or held now: the balance less active holds."
)
class Wallet(Node):
    model: strawberry.Private[WalletModel]
    currency: str = strawberry.field(description="The currency, lowercase ISO 4217.")
    balance: Money = strawberry.field(description="The balance: the sum of all its transactions.")
    held: Money = strawberry.field(description="What active holds reserve.")
    available: Money = strawberry.field(description="What can be spent or held now: balance - held (never below zero).")
    customer_id: strawberry.ID = strawberry.field(description="The customer.")
    created_at: datetime = strawberry.field(description="When it was opened (at its first credit or use).")
    auto_top_up: WalletAutoTopUpSettings = strawberry.field(description="Its auto top-up (`configureWalletAutoTopUp`).")

    @strawberry.field(description="Its newest transactions (up to 10, newest first; the `walletTransactions` query pages through all of them).")
    async def recent_transactions(self, info: strawberry.Info) -> list[WalletTransaction]:
        rows = await loader(info, recent_entries_of_wallet).load(self.model.id)
        return [WalletTransaction.from_model(row, self.model.currency) for row in rows]

    @strawberry.field(description="Its active holds, newest first (up to 20; the `walletHolds` query pages through all of them, by status).")
    async def active_holds(self, info: strawberry.Info) -> list[Annotated["WalletHold", strawberry.lazy("schema.wallets.holds")]]:
        from schema.wallets.holds import WalletHold

        rows = await loader(info, active_holds_of_wallet).load(self.model.id)
        return [WalletHold.from_model(row, self.currency) for row in rows]

    @classmethod
    def from_model(cls, row: WalletModel) -> "Wallet":
        return cls(
            model=row,
            id=strawberry.ID(to_global_id("Wallet", row.id)),
            currency=row.currency,
            balance=Money(amount=row.balance, currency=row.currency),
            held=Money(amount=row.held, currency=row.currency),
            available=Money(amount=row.available, currency=row.currency),
            customer_id=strawberry.ID(to_global_id("Customer", row.customer_id)),
            created_at=row.created_at,
            auto_top_up=WalletAutoTopUpSettings.from_model(row),
        )


@strawberry.type(description="A member's spending cap on its customer's shared wallet, per calendar period, and what it spent in the current one.")
class MemberBudget:
    model: strawberry.Private[MemberBudgetModel]
    period: BudgetPeriod = strawberry.field(description="The period the cap applies to.")
    period_start: datetime = strawberry.field(description="When the current period started.")
    spent_amount: strawberry.Private[int]

    async def _currency(self, info: strawberry.Info) -> str:
        row = await loader(info, wallet_by_id).load(self.model.wallet_id)
        return row.currency if row is not None else "usd"

    @strawberry.field(description="The cap per period.")
    async def amount(self, info: strawberry.Info) -> Money:
        return Money(amount=self.model.amount, currency=await self._currency(info))

    @strawberry.field(description="What the member's usage and captured holds took from the wallet this period.")
    async def spent(self, info: strawberry.Info) -> Money:
        return Money(amount=self.spent_amount, currency=await self._currency(info))

    @strawberry.field(description="What the member may still spend this period (its active holds not deducted): amount - spent, at least 0.")
    async def remaining(self, info: strawberry.Info) -> Money:
        return Money(amount=service.budget_left(self.model.amount, self.spent_amount, 0), currency=await self._currency(info))

    @strawberry.field(description="The shared wallet the cap applies to.")
    async def wallet(self, info: strawberry.Info) -> Wallet | None:
        row = await loader(info, wallet_by_id).load(self.model.wallet_id)
        return Wallet.from_model(row) if row is not None else None

    @classmethod
    def from_model(cls, row: MemberBudgetModel) -> "MemberBudget":
        start, spent = service.spent_now(row.period, row.period_start, row.spent, clock.now())
        return cls(model=row, period=BudgetPeriod(row.period), period_start=start, spent_amount=spent)


@strawberry.type(description="Usage of wallet-enabled prices that the wallet did not pay, summed per meter and member: lost to the merchant, never a debt, never billed later.")
class UncoveredUsage:
    amount: Money = strawberry.field(description="What the usage would have cost.")
    quantity: Decimal = strawberry.field(description="The units not paid for.")
    meter_id: strawberry.ID = strawberry.field(description="The meter.")
    member_id: strawberry.ID | None = strawberry.field(description="The member whose usage it was; null for usage without a member.")

    @classmethod
    def from_total(cls, total: UncoveredTotal) -> "UncoveredUsage":
        return cls(
            amount=Money(amount=total.amount, currency=total.currency),
            quantity=Decimal(total.quantity),
            meter_id=strawberry.ID(to_global_id("Meter", total.meter_id)),
            member_id=strawberry.ID(to_global_id("Member", total.member_id)) if total.member_id else None,
        )


@strawberry.type(description="What one member's usage and captured holds took from one shared wallet this calendar month (UTC).")
class MemberWalletSpend:
    wallet_id: strawberry.ID = strawberry.field(description="The shared wallet.")
    period_start: datetime = strawberry.field(description="The start of this calendar month (UTC).")
    spent: Money = strawberry.field(description="What the member spent from it since then.")
