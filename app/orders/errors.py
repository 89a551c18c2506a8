"""Typed errors of orders and refunds."""

from __future__ import annotations

from app.kit.errors import KassaError


class RefundNotAllowed(KassaError):
    """The order cannot be refunded in its state (not paid, or refunded in full already)."""

    code = "REFUND_NOT_ALLOWED"


class RefundExceedsRefundable(KassaError):
    """The refund asks for more than what was paid and not refunded yet; nothing changed."""

    code = "REFUND_EXCEEDS_REFUNDABLE"

    def __init__(self, requested: int, refundable: int, currency: str) -> None:
        super().__init__(f"A refund of {requested} is more than the {refundable} ({currency}, minor units) that may still be refunded")
        self.requested = requested
        self.refundable = refundable
        self.currency = currency


class RefundThroughWallet(KassaError):
    """The order is a wallet top-up: the customer may have spent its money, so it is refunded with
    `refundWalletTopUp` (at most what remains unspent of it, taken out of the wallet); nothing changed."""

    code = "REFUND_THROUGH_WALLET"

    def __init__(self) -> None:
        super().__init__("This order is a wallet top-up: refund it with refundWalletTopUp, which takes the money back out of the wallet")
