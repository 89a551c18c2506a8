"""Wallet errors and their GraphQL form."""

from __future__ import annotations

import enum

import strawberry

from app.wallets.errors import HoldNotActive, InsufficientFunds, RefundExceedsUnspent, WalletNotAllowed
from schema.kit.errors import Error, register_error
from schema.kit.scalars import BigInt


@strawberry.enum(description="Why a wallet does or does not cover an amount.")
class WalletCoverage(enum.Enum):
    COVERED = strawberry.enum_value("COVERED", description="What is available covers it.")
    INSUFFICIENT_BALANCE = strawberry.enum_value("INSUFFICIENT_BALANCE", description="The balance less active holds does not cover it.")
    MEMBER_BUDGET_EXCEEDED = strawberry.enum_value("MEMBER_BUDGET_EXCEEDED", description="The member's budget left this period does not cover it.")
    NO_WALLET_PRICE = strawberry.enum_value(
        "NO_WALLET_PRICE", description="No wallet-enabled price of the customer's subscriptions prices this meter: its use is not paid from the wallet."
    )


@strawberry.type(description="What is available does not cover the amount: the balance less active holds, or the member's budget left. Nothing was changed.")
class InsufficientFundsError(Error):
    requested: BigInt = strawberry.field(description="The amount asked for, in minor units.")
    available: BigInt = strawberry.field(description="What was available, in minor units.")
    currency: str = strawberry.field(description="The wallet's currency.")
    reason: WalletCoverage = strawberry.field(description="`INSUFFICIENT_BALANCE` or `MEMBER_BUDGET_EXCEEDED`.")


@strawberry.type(description="A top-up's refund asks for more than what remains unspent (and not held) of it. Nothing was changed.")
class RefundExceedsUnspentError(Error):
    requested: BigInt = strawberry.field(description="The amount asked for, in minor units.")
    refundable: BigInt = strawberry.field(description="What may still be refunded, in minor units.")
    currency: str = strawberry.field(description="The wallet's currency.")


@strawberry.type(description="The hold was already captured, released or expired. Nothing was changed.")
class HoldNotActiveError(Error):
    status: str = strawberry.field(description="The hold's status: `captured`, `released` or `expired`.")


@strawberry.type(description="The operation does not apply here (e.g. a budget on an individual customer's wallet). Nothing was changed.")
class WalletNotAllowedError(Error):
    pass


def _coverage(reason: str) -> WalletCoverage:
    """The error's reason code as the enum (an unknown code reads as INSUFFICIENT_BALANCE)."""
    try:
        return WalletCoverage(reason)
    except ValueError:
        return WalletCoverage.INSUFFICIENT_BALANCE


register_error(
    InsufficientFunds,
    "What is available in the wallet (or the member's budget) does not cover the amount.",
    InsufficientFundsError,
    lambda e: InsufficientFundsError(
        message=e.message, code=e.code, requested=BigInt(e.requested), available=BigInt(e.available), currency=e.currency, reason=_coverage(e.reason)
    ),
)
register_error(
    RefundExceedsUnspent,
    "A top-up's refund asks for more than what remains unspent of it.",
    RefundExceedsUnspentError,
    lambda e: RefundExceedsUnspentError(message=e.message, code=e.code, requested=BigInt(e.requested), refundable=BigInt(e.refundable), currency=e.currency),
)
register_error(HoldNotActive, "The hold is no longer active.", HoldNotActiveError, lambda e: HoldNotActiveError(message=e.message, code=e.code, status=e.status))
register_error(WalletNotAllowed, "The wallet operation does not apply here.", WalletNotAllowedError, lambda e: WalletNotAllowedError(message=e.message, code=e.code))
