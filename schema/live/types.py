"""What `walletUpdates` streams: a wallet as it is now (the meters' live update is in schema/meters/live.py)."""

from __future__ import annotations

from datetime import datetime

import strawberry

from schema.kit.money import Money


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
