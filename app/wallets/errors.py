"""Typed errors of wallets."""

from __future__ import annotations

from app.kit.errors import KassaError


class InsufficientFunds(KassaError):
    """What is available (the balance less active holds, or the member's budget left) does not
    cover the amount asked for; nothing changed. `reason`: `INSUFFICIENT_BALANCE` or
    `MEMBER_BUDGET_EXCEEDED`."""

    code = "INSUFFICIENT_FUNDS"

    def __init__(self, requested: int, available: int, currency: str, reason: str) -> None:
        what = "the member's budget left" if reason == "MEMBER_BUDGET_EXCEEDED" else "the available balance"
        super().__init__(f"{requested} is more than {what}: {available} ({currency}, minor units)")
        self.requested, self.available, self.currency, self.reason = requested, available, currency, reason


class RefundExceedsUnspent(KassaError):
    """A top-up's refund asks for more than what remains unspent of it; nothing changed."""

    code = "REFUND_EXCEEDS_UNSPENT"

    def __init__(self, requested: int, refundable: int, currency: str) -> None:
        super().__init__(f"A refund of {requested} is more than the {refundable} ({currency}, minor units) left unspent of this top-up")
        self.requested, self.refundable, self.currency = requested, refundable, currency


class HoldNotActive(KassaError):
    """The hold was already captured, released or expired; nothing changed."""

    code = "HOLD_NOT_ACTIVE"

    def __init__(self, status: str) -> None:
        super().__init__(f"The hold is {status}, no longer active")
        self.status = status


class WalletNotAllowed(KassaError):
    """The operation does not apply here (a budget on an individual customer's wallet, a member
    of another customer, a refund of something that is not a top-up); nothing changed."""

    code = "WALLET_NOT_ALLOWED"
