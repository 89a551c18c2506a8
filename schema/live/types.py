"""What the live updates stream: a wallet as it is now, a customer's meters as they are now."""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal

import strawberry

from schema.kit.money import Money
from schema.meters.types import MeterStatusLevel


@strawberry.type(description="The transaction that last moved a wallet's balance.")
class WalletUpdateTransaction:
    id: strawberry.ID = strawberry.field(description="The transaction (a wallet ledger entry).")
    type: str = strawberry.field(
        description="What it was: TOP_UP, GRANT, USAGE, REFUND, ADJUSTMENT, EXPIRY or HOLD_CAPTURE."
    )
    amount: Money = strawberry.field(description="Its amount, signed from the customer's side: credits positive, debits negative.")
    created_at: datetime = strawberry.field(description="When it was recorded.")


@strawberry.type(description="A customer's wallet as it is now: sent when it is subscribed to, then after each change of its balance.")
class WalletUpdate:
    wallet_id: strawberry.ID = strawberry.field(description="The wallet.")
    customer_id: strawberry.ID = strawberry.field(description="Its customer.")
    currency: str = strawberry.field(description="The wallet's currency (ISO 4217, lowercase).")
    balance: Money = strawberry.field(description="What the wallet holds.")
    held: Money = strawberry.field(description="What active holds reserve of it.")
    available: Money = strawberry.field(description="What can be spent without a hold: balance less held.")
    last_transaction: WalletUpdateTransaction | None = strawberry.field(description="The latest transaction; null for a wallet without any.")
    at: datetime = strawberry.field(description="When this state was read.")


@strawberry.type(description="One meter of a customer as it is now.")
class CustomerMeterState:
    meter_id: strawberry.ID = strawberry.field(description="The meter.")
    meter_name: str = strawberry.field(description="The meter's name.")
    consumed: Decimal = strawberry.field(description="Quantity used in the current period.")
    credited: Decimal = strawberry.field(description="Quantity granted as credits in the current period.")
    balance: Decimal = strawberry.field(description="credited - consumed; negative when over.")
    percent_used: Decimal | None = strawberry.field(description="consumed / credited in percent; null without credits.")
    status: MeterStatusLevel = strawberry.field(description="Where the meter stands against the organization's thresholds.")


@strawberry.type(description="A customer's meters as they are now: sent when subscribed to, then each time new usage or credits were counted.")
class CustomerMeterUpdate:
    customer_id: strawberry.ID = strawberry.field(description="The customer.")
    status: MeterStatusLevel = strawberry.field(description="The worst status among the meters.")
    meters: list[CustomerMeterState] = strawberry.field(description="Every active meter.")
    at: datetime = strawberry.field(description="When this state was read.")
