"""Inputs of wallet mutations."""

from __future__ import annotations

from datetime import datetime

import strawberry

from schema.kit.idempotency import idempotency_key_field
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
