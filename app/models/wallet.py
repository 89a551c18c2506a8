"""Wallets: a customer's prepaid balance per currency, its append-only ledger, the lots its credits
are spent from, holds, uncovered usage, member budgets and the usage drain's progress."""

from __future__ import annotations

import enum
import uuid
from datetime import datetime
from decimal import Decimal
from typing import Any

from sqlalchemy import BigInteger, Boolean, CheckConstraint, DateTime, ForeignKey, Identity, Index, Integer, Numeric, String, Uuid, false, text
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.orm import Mapped, mapped_column

from app.kit.ledger import Ledger, register
from app.kit.models import Base, TenantModel

QUANTITY = Numeric(38, 12)


class WalletEntryType(str, enum.Enum):
    top_up = "top_up"  # paid money in (a checkout, an auto top-up, a manual payment) (+)
    grant = "grant"  # promotional money in, spent first, may expire (+)
    usage = "usage"  # a wallet-enabled metered price's usage paid (-)
    refund = "refund"  # paid money given back to the customer (-)
    adjustment = "adjustment"  # the merchant's correction, with a reason (+ or -)
    expiry = "expiry"  # what was left of a grant when it expired (-)
    hold_capture = "hold_capture"  # a hold's captured amount (-)


CREDIT_TYPES = ("top_up", "grant")
DEBIT_TYPES = ("usage", "refund", "expiry", "hold_capture")


class Wallet(TenantModel):
    """One customer's prepaid balance in one currency. `balance` caches the sum of its entries
    (app/kit/ledger.py) and never goes below zero (a database check); `held` caches the sum of
    its active holds: what can be spent without a hold is `balance - held`.

    Auto top-up (app/wallets/auto_top_up.py): when the balance falls under `auto_top_up_threshold`,
    the customer's saved payment method is charged for what refills it to `auto_top_up_target`,
    at most once per `auto_top_up_cooldown_seconds` and within `auto_top_up_monthly_cap`; after
    `auto_top_up_max_failures` failures in a row it pauses until the payment method changes.

    The webhook state (app/wallets/notifications.py): `notified_sequence` is the last entry sent
    in a `wallet.balance_updated`; `low_balance_notified` and `depleted_notified` are set when the
    balance crossed down and cleared when it went back up, so each crossing notifies once."""

    __tablename__ = "wallets"
    __table_args__ = (
        CheckConstraint("currency ~ '^[a-z]{3}$'", name="currency"),
        CheckConstraint("balance >= 0", name="balance_not_negative"),
        CheckConstraint("held >= 0", name="held_not_negative"),
        CheckConstraint(
            "(auto_top_up_threshold IS NULL OR auto_top_up_threshold >= 0)"
            " AND (auto_top_up_target IS NULL OR auto_top_up_target > COALESCE(auto_top_up_threshold, 0))"
            " AND (auto_top_up_monthly_cap IS NULL OR auto_top_up_monthly_cap > 0)"
            " AND auto_top_up_cooldown_seconds >= 0 AND auto_top_up_max_failures >= 1 AND auto_top_up_failures >= 0"
            " AND (NOT auto_top_up_enabled OR (auto_top_up_threshold IS NOT NULL AND auto_top_up_target IS NOT NULL))",
            name="auto_top_up",
        ),
        Index("ix_wallets_customer_id_currency", "customer_id", "currency", unique=True),
    )

    customer_id: Mapped[uuid.UUID] = mapped_column(Uuid, ForeignKey("customers.id", ondelete="RESTRICT"), nullable=False)
    currency: Mapped[str] = mapped_column(String(3), nullable=False)
    balance: Mapped[int] = mapped_column(BigInteger, nullable=False, default=0)
    held: Mapped[int] = mapped_column(BigInteger, nullable=False, default=0)

    auto_top_up_enabled: Mapped[bool] = mapped_column(Boolean, nullable=False, default=False, server_default=false())
    auto_top_up_threshold: Mapped[int | None] = mapped_column(BigInteger, nullable=True)
    auto_top_up_target: Mapped[int | None] = mapped_column(BigInteger, nullable=True)
    auto_top_up_monthly_cap: Mapped[int | None] = mapped_column(BigInteger, nullable=True)
    auto_top_up_cooldown_seconds: Mapped[int] = mapped_column(Integer, nullable=False, default=3600, server_default="3600")
    auto_top_up_max_failures: Mapped[int] = mapped_column(Integer, nullable=False, default=3, server_default="3")
    auto_top_up_failures: Mapped[int] = mapped_column(Integer, nullable=False, default=0, server_default="0")
    auto_top_up_paused_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), nullable=True)
    auto_top_up_paused_method: Mapped[str | None] = mapped_column(String(255), nullable=True)
    auto_top_up_last_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), nullable=True)

    notified_sequence: Mapped[int] = mapped_column(BigInteger, nullable=False, default=0, server_default="0")
    notified_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), nullable=True)
    low_balance_notified: Mapped[bool] = mapped_column(Boolean, nullable=False, default=False, server_default=false())
    depleted_notified: Mapped[bool] = mapped_column(Boolean, nullable=False, default=False, server_default=false())

    @property
    def available(self) -> int:
        return max(self.balance - self.held, 0)


class WalletEntry(Base):
    """The wallet ledger: every movement of a wallet's balance, signed from the customer's side,
    append-only (a trigger refuses UPDATE and DELETE). `wallets.balance` caches each wallet's sum.
    `sequence` orders the entries (connections, the webhooks' "since the last one")."""

    __tablename__ = "wallet_entries"
    __table_args__ = (
        CheckConstraint("type IN ('top_up', 'grant', 'usage', 'refund', 'adjustment', 'expiry', 'hold_capture')", name="type"),
        CheckConstraint(
            "(type IN ('top_up', 'grant') AND amount > 0)"
            " OR (type IN ('usage', 'refund', 'expiry', 'hold_capture') AND amount < 0)"
            " OR (type = 'adjustment' AND amount <> 0)",
            name="sign",
        ),
        Index("ix_wallet_entries_wallet_id_sequence", "wallet_id", "sequence"),
        Index("ix_wallet_entries_member_id_created_at", "member_id", "created_at", postgresql_where=text("member_id IS NOT NULL")),
        Index("ix_wallet_entries_order_id", "order_id", unique=True, postgresql_where=text("order_id IS NOT NULL AND type = 'top_up'")),
    )

    id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True, default=uuid.uuid4)
    organization_id: Mapped[uuid.UUID] = mapped_column(Uuid, ForeignKey("organizations.id", ondelete="RESTRICT"), nullable=False, index=True)
    sequence: Mapped[int] = mapped_column(BigInteger, Identity(always=True), nullable=False, unique=True)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), nullable=False)
    wallet_id: Mapped[uuid.UUID] = mapped_column(Uuid, ForeignKey("wallets.id", ondelete="RESTRICT"), nullable=False)
    customer_id: Mapped[uuid.UUID] = mapped_column(Uuid, ForeignKey("customers.id", ondelete="RESTRICT"), nullable=False)
    type: Mapped[str] = mapped_column(String(16), nullable=False)
    amount: Mapped[int] = mapped_column(BigInteger, nullable=False)
    member_id: Mapped[uuid.UUID | None] = mapped_column(Uuid, ForeignKey("members.id", ondelete="RESTRICT"), nullable=True)
    meter_id: Mapped[uuid.UUID | None] = mapped_column(Uuid, ForeignKey("meters.id", ondelete="RESTRICT"), nullable=True)
    product_price_id: Mapped[uuid.UUID | None] = mapped_column(Uuid, ForeignKey("product_prices.id", ondelete="RESTRICT"), nullable=True)
    quantity: Mapped[Decimal | None] = mapped_column(QUANTITY, nullable=True)
    hold_id: Mapped[uuid.UUID | None] = mapped_column(Uuid, ForeignKey("wallet_holds.id", ondelete="RESTRICT"), nullable=True)
    lot_id: Mapped[uuid.UUID | None] = mapped_column(Uuid, ForeignKey("wallet_lots.id", ondelete="RESTRICT"), nullable=True)
    order_id: Mapped[uuid.UUID | None] = mapped_column(Uuid, ForeignKey("orders.id", ondelete="RESTRICT"), nullable=True)
    reason: Mapped[str | None] = mapped_column(String(512), nullable=True)


class WalletLotKind(str, enum.Enum):
    grant = "grant"  # spent first, the soonest-expiring first
    paid = "paid"  # a top-up: refundable while unspent
    adjustment = "adjustment"  # the merchant's credit


class WalletLot(TenantModel):
    """One credit of a wallet and how much of it is left: debits take from the lots in spending
    order (grants first, the soonest-expiring first; then the rest, oldest first), so a grant's
    expiry takes what is left of it and a top-up's refund is limited to what remains unspent.
    The wallet's balance always equals the sum of `remaining` over its lots (a test checks it)."""

    __tablename__ = "wallet_lots"
    __table_args__ = (
        CheckConstraint("kind IN ('grant', 'paid', 'adjustment')", name="kind"),
        CheckConstraint("amount > 0 AND remaining >= 0 AND remaining <= amount", name="remaining"),
        CheckConstraint("expires_at IS NULL OR kind = 'grant'", name="expiry_only_grants"),
        Index("ix_wallet_lots_wallet_id_spendable", "wallet_id", postgresql_where=text("remaining > 0")),
        Index("ix_wallet_lots_expires_at", "expires_at", postgresql_where=text("remaining > 0 AND expires_at IS NOT NULL")),
    )

    wallet_id: Mapped[uuid.UUID] = mapped_column(Uuid, ForeignKey("wallets.id", ondelete="RESTRICT"), nullable=False)
    kind: Mapped[str] = mapped_column(String(16), nullable=False)
    amount: Mapped[int] = mapped_column(BigInteger, nullable=False)
    remaining: Mapped[int] = mapped_column(BigInteger, nullable=False)
    expires_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), nullable=True)
    order_id: Mapped[uuid.UUID | None] = mapped_column(Uuid, ForeignKey("orders.id", ondelete="RESTRICT"), nullable=True, index=True)
    refunded_amount: Mapped[int] = mapped_column(BigInteger, nullable=False, default=0, server_default="0")


class WalletHoldStatus(str, enum.Enum):
    active = "active"
    captured = "captured"
    released = "released"
    expired = "expired"


class WalletHold(TenantModel):
    """Funds reserved before serving a request: counted in `wallets.held` while active, then
    captured (for at most `amount`; the rest released), released, or expired."""

    __tablename__ = "wallet_holds"
    __table_args__ = (
        CheckConstraint("status IN ('active', 'captured', 'released', 'expired')", name="status"),
        CheckConstraint("amount > 0", name="amount"),
        CheckConstraint(
            "(status = 'captured') = (captured_amount IS NOT NULL) AND (captured_amount IS NULL OR (captured_amount >= 0 AND captured_amount <= amount))",
            name="captured_amount",
        ),
        Index("ix_wallet_holds_wallet_id_active", "wallet_id", "member_id", postgresql_where=text("status = 'active'")),
        Index("ix_wallet_holds_expires_at_active", "expires_at", postgresql_where=text("status = 'active'")),
    )

    wallet_id: Mapped[uuid.UUID] = mapped_column(Uuid, ForeignKey("wallets.id", ondelete="RESTRICT"), nullable=False)
    customer_id: Mapped[uuid.UUID] = mapped_column(Uuid, ForeignKey("customers.id", ondelete="RESTRICT"), nullable=False)
    member_id: Mapped[uuid.UUID | None] = mapped_column(Uuid, ForeignKey("members.id", ondelete="RESTRICT"), nullable=True)
    amount: Mapped[int] = mapped_column(BigInteger, nullable=False)
    captured_amount: Mapped[int | None] = mapped_column(BigInteger, nullable=True)
    status: Mapped[str] = mapped_column(String(16), nullable=False, default=WalletHoldStatus.active.value)
    expires_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), nullable=False)
    resolved_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), nullable=True)
    description: Mapped[str | None] = mapped_column(String(512), nullable=True)


class UncoveredReason(str, enum.Enum):
    insufficient_balance = "insufficient_balance"  # the wallet held less than the usage cost
    member_budget = "member_budget"  # the member's budget was spent
    no_wallet = "no_wallet"  # the customer has no wallet in the price's currency


class WalletUncoveredUsage(Base):
    """Usage of a wallet-enabled price that the wallet did not pay: lost to the merchant, never a
    debt, never billed again. Append-only."""

    __tablename__ = "wallet_uncovered_usage"
    __table_args__ = (
        CheckConstraint("amount > 0", name="amount"),
        CheckConstraint("reason IN ('insufficient_balance', 'member_budget', 'no_wallet')", name="reason"),
        Index("ix_wallet_uncovered_usage_customer_id_created_at", "customer_id", "created_at"),
    )

    id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True, default=uuid.uuid4)
    organization_id: Mapped[uuid.UUID] = mapped_column(Uuid, ForeignKey("organizations.id", ondelete="RESTRICT"), nullable=False, index=True)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), nullable=False)
    customer_id: Mapped[uuid.UUID] = mapped_column(Uuid, ForeignKey("customers.id", ondelete="RESTRICT"), nullable=False)
    wallet_id: Mapped[uuid.UUID | None] = mapped_column(Uuid, ForeignKey("wallets.id", ondelete="RESTRICT"), nullable=True)
    currency: Mapped[str] = mapped_column(String(3), nullable=False)
    meter_id: Mapped[uuid.UUID] = mapped_column(Uuid, ForeignKey("meters.id", ondelete="RESTRICT"), nullable=False)
    member_id: Mapped[uuid.UUID | None] = mapped_column(Uuid, ForeignKey("members.id", ondelete="RESTRICT"), nullable=True)
    product_price_id: Mapped[uuid.UUID] = mapped_column(Uuid, ForeignKey("product_prices.id", ondelete="RESTRICT"), nullable=False)
    quantity: Mapped[Decimal] = mapped_column(QUANTITY, nullable=False)
    amount: Mapped[int] = mapped_column(BigInteger, nullable=False)
    reason: Mapped[str] = mapped_column(String(32), nullable=False)


class WalletUsageCursor(TenantModel):
    """How far the usage drain has read a customer's events: every event of a transaction whose
    id is below `watermark` has been priced (the same rule as the meter job's watermark)."""

    __tablename__ = "wallet_usage_cursors"

    customer_id: Mapped[uuid.UUID] = mapped_column(Uuid, ForeignKey("customers.id", ondelete="CASCADE"), nullable=False, unique=True)
    watermark: Mapped[int] = mapped_column(BigInteger, nullable=False, default=0)


class WalletUsageTotal(TenantModel):
    """A subscription's usage of one wallet-enabled price in one period, priced as a whole: each
    debit is the price of the new total less `amount` (what was priced before), so a fraction of
    a cent is never lost between debits and tiers apply to the period's total."""

    __tablename__ = "wallet_usage_totals"
    __table_args__ = (
        Index("ix_wallet_usage_totals_subscription_price_period", "subscription_id", "product_price_id", "period_start", unique=True),
    )

    subscription_id: Mapped[uuid.UUID] = mapped_column(Uuid, ForeignKey("subscriptions.id", ondelete="CASCADE"), nullable=False)
    product_price_id: Mapped[uuid.UUID] = mapped_column(Uuid, ForeignKey("product_prices.id", ondelete="RESTRICT"), nullable=False)
    period_start: Mapped[datetime] = mapped_column(DateTime(timezone=True), nullable=False)
    units: Mapped[Decimal] = mapped_column(QUANTITY, nullable=False, default=0)
    amount: Mapped[int] = mapped_column(BigInteger, nullable=False, default=0)


class BudgetPeriod(str, enum.Enum):
    day = "day"
    week = "week"
    month = "month"


class MemberBudget(TenantModel):
    """A cap on what one member of a business customer may spend from the shared wallet per
    calendar period (UTC). `spent` caches the member's usage and captures since `period_start`
    (a test compares it with the ledger); a new period starts it again from zero."""

    __tablename__ = "member_budgets"
    __table_args__ = (
        CheckConstraint("amount >= 0 AND spent >= 0", name="amounts"),
        CheckConstraint("period IN ('day', 'week', 'month')", name="period"),
        Index("ix_member_budgets_wallet_id_member_id", "wallet_id", "member_id", unique=True),
    )

    wallet_id: Mapped[uuid.UUID] = mapped_column(Uuid, ForeignKey("wallets.id", ondelete="RESTRICT"), nullable=False)
    member_id: Mapped[uuid.UUID] = mapped_column(Uuid, ForeignKey("members.id", ondelete="CASCADE"), nullable=False)
    amount: Mapped[int] = mapped_column(BigInteger, nullable=False)
    period: Mapped[str] = mapped_column(String(8), nullable=False, default=BudgetPeriod.month.value)
    period_start: Mapped[datetime] = mapped_column(DateTime(timezone=True), nullable=False)
    spent: Mapped[int] = mapped_column(BigInteger, nullable=False, default=0)


class WalletAutoTopUp(TenantModel):
    """One auto top-up attempt: its idempotency key is this row's id, so a job run twice charges
    once; the wallet is credited only when the charge succeeded."""

    __tablename__ = "wallet_auto_top_ups"
    __table_args__ = (
        CheckConstraint("status IN ('pending', 'succeeded', 'failed')", name="status"),
        CheckConstraint("amount > 0", name="amount"),
        Index("ix_wallet_auto_top_ups_wallet_id_created_at", "wallet_id", "created_at"),
        Index("ix_wallet_auto_top_ups_wallet_id_pending", "wallet_id", unique=True, postgresql_where=text("status = 'pending'")),
    )

    wallet_id: Mapped[uuid.UUID] = mapped_column(Uuid, ForeignKey("wallets.id", ondelete="RESTRICT"), nullable=False)
    amount: Mapped[int] = mapped_column(BigInteger, nullable=False)
    status: Mapped[str] = mapped_column(String(16), nullable=False, default="pending")
    payment_id: Mapped[str | None] = mapped_column(String(255), nullable=True)
    failure: Mapped[str | None] = mapped_column(String(512), nullable=True)
    order_id: Mapped[uuid.UUID | None] = mapped_column(Uuid, ForeignKey("orders.id", ondelete="RESTRICT"), nullable=True)
    details: Mapped[dict[str, Any]] = mapped_column(JSONB, nullable=False, default=dict)


WALLETS = register(
    Ledger(name="wallets", entries=WalletEntry.__table__, balances=Wallet.__table__, owner={"wallet_id": "id"}, amount="amount", balance="balance")
)
