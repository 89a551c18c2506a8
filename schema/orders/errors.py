"""Order and refund errors and their GraphQL form."""

from __future__ import annotations

import strawberry

from app.orders.errors import RefundExceedsRefundable, RefundNotAllowed, RefundThroughWallet
from schema.kit.errors import Error, register_error
from schema.kit.scalars import BigInt


@strawberry.type(description="The refund asks for more than what was paid and not refunded yet. Nothing was changed.")
class RefundExceedsRefundableError(Error):
    requested: BigInt = strawberry.field(description="The amount asked for, in minor units.")
    refundable: BigInt = strawberry.field(description="What may still be refunded, in minor units.")
    currency: str = strawberry.field(description="The order's currency.")


@strawberry.type(description="The order cannot be refunded in its state (not paid, nothing paid, or refunded in full). Nothing was changed.")
class RefundNotAllowedError(Error):
    pass


@strawberry.type(
    description="The order is a wallet top-up, whose money the customer may have spent: refund it with `refundWalletTopUp`, which refunds at most "
    "what remains unspent and takes it out of the wallet. Nothing was changed."
)
class RefundThroughWalletError(Error):
    pass


register_error(
    RefundExceedsRefundable,
    "The refund asks for more than what was paid and not refunded yet.",
    RefundExceedsRefundableError,
    lambda e: RefundExceedsRefundableError(
        message=e.message, code=e.code, requested=BigInt(e.requested), refundable=BigInt(e.refundable), currency=e.currency
    ),
)
register_error(RefundNotAllowed, "The order cannot be refunded in its state.", RefundNotAllowedError, lambda e: RefundNotAllowedError(message=e.message, code=e.code))
register_error(
    RefundThroughWallet, "A wallet top-up's order is refunded with refundWalletTopUp.", RefundThroughWalletError,
    lambda e: RefundThroughWalletError(message=e.message, code=e.code),
)
