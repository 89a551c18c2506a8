"""Inputs of wallet mutations."""

from __future__ import annotations

from datetime import datetime

import strawberry

from schema.kit.idempotency import idempotency_key_field
from schema.orders.types import RefundReason
from schema.kit.scalars import BigInt
from schema.wallets.types import BudgetPeriod


@strawberry.input(description="Promotional money for a customer's wallet.")
class GrantWalletCreditInput:
    customer_id: strawberry.ID = strawberry.field(description="The customer.")
    currency: str = strawberry.field(description="The wallet's currency (ISO 4217, e.g. `usd`); the wallet is opened on first use.")
    amount: BigInt = strawberry.field(description="The amount in minor units, at least 1.")
    expires_at: datetime | None = strawberry.field(default=None, description="When what is left of it expires (leaves through an `EXPIRY` transaction); never by default.")
    reason: str | None = strawberry.field(default=None, description="Why (shown on the transaction), up to 512 characters.")
    idempotency_key: str | None = idempotency_key_field()


@strawberry.input(description="The merchant's correction of a wallet's balance.")
class AdjustWalletBalanceInput:
    customer_id: strawberry.ID = strawberry.field(description="The customer.")
    currency: str = strawberry.field(description="The wallet's currency (ISO 4217).")
    amount: BigInt = strawberry.field(
        description="Signed minor units: positive adds money (spent like paid money, not refundable), negative takes it out (at most what is available)."
    )
    reason: str = strawberry.field(description="Why (required, up to 512 characters): kept on the transaction.")
    idempotency_key: str | None = idempotency_key_field()


@strawberry.input(description="A member's spending cap on its business customer's shared wallet.")
class SetMemberBudgetInput:
    member_id: strawberry.ID = strawberry.field(description="The member (of a business customer).")
    currency: str = strawberry.field(description="The shared wallet's currency (ISO 4217).")
    amount: BigInt | None = strawberry.field(description="The cap per period in minor units (0 blocks all spending); null removes the cap.")
    period: BudgetPeriod = strawberry.field(default=BudgetPeriod.MONTH, description="The calendar period (UTC) the cap applies to.")


@strawberry.input(description="A refund of a wallet top-up's order: at most what remains unspent (and not held) of it, taken out of the wallet.")
class RefundWalletTopUpInput:
    order_id: strawberry.ID = strawberry.field(description="The top-up's order (billing reason `WALLET_TOP_UP`).")
    amount: BigInt = strawberry.field(description="How much to give back, in minor units; at most what remains unspent of the top-up and is not held.")
    reason: RefundReason = strawberry.field(default=RefundReason.CUSTOMER_REQUEST, description="Why.")
    comment: str | None = strawberry.field(default=None, description="A note, up to 1000 characters; kept on the refund and the wallet transaction.")
    idempotency_key: str | None = idempotency_key_field()


@strawberry.input(description="A wallet's auto top-up settings (all replaced; `cooldownSeconds` and `maxFailures` keep their values when not given).")
class ConfigureWalletAutoTopUpInput:
    customer_id: strawberry.ID = strawberry.field(description="The customer.")
    currency: str = strawberry.field(description="The wallet's currency (ISO 4217); the wallet is opened on first use.")
    enabled: bool = strawberry.field(description="Whether auto top-up is on.")
    threshold: BigInt = strawberry.field(description="The balance (minor units) under which it charges, at least 0.")
    target: BigInt = strawberry.field(description="The balance it refills to: greater than `threshold`.")
    monthly_cap: BigInt | None = strawberry.field(default=None, description="At most this much charged per calendar month (UTC); null: no cap.")
    cooldown_seconds: int | None = strawberry.field(default=None, description="At least this long between two charges (0 to 7776000 seconds); an hour by default.")
    max_failures: int | None = strawberry.field(default=None, description="Failures in a row before it pauses (1 to 100); 3 by default.")
