"""`Money`: an integer amount of minor units and its currency."""

from __future__ import annotations

import strawberry

from schema.kit.scalars import BigInt


@strawberry.type(description="An amount of money: integer minor units of a currency (cents for usd, yen for jpy). Never a float.")
class Money:
    amount: BigInt = strawberry.field(description="The amount in minor units of `currency`, e.g. `1999` for 19.99 usd.")
    currency: str = strawberry.field(description="The ISO 4217 currency code, lowercase, e.g. `usd`.")

    @classmethod
    def of(cls, amount: int | None, currency: str) -> "Money | None":
        return None if amount is None else cls(amount=BigInt(amount), currency=currency)
