"""Inputs of the order queries and the refund mutation."""

from __future__ import annotations

import strawberry

from app.kit.ids import parse_global_id
from app.orders.repository import OrderFilter as OrderFilterData
from app.orders.repository import TransactionFilter as TransactionFilterData
from schema.customers.inputs import OrderDirection
from schema.kit.idempotency import idempotency_key_field
from schema.kit.scalars import BigInt
from schema.orders.types import BillingReason, OrderStatus, RefundReason, TransactionType


@strawberry.input(description="Which orders to list; every condition given must hold.")
class OrderFilter:
    customer_id: strawberry.ID | None = strawberry.field(default=None, description="Only this customer's orders.")
    product_id: strawberry.ID | None = strawberry.field(default=None, description="Only orders of this product.")
    status: OrderStatus | None = strawberry.field(default=None, description="Only orders in this status.")
    billing_reason: BillingReason | None = strawberry.field(default=None, description="Only orders made for this reason.")

    def to_data(self) -> OrderFilterData:
        return OrderFilterData(
            customer_id=parse_global_id(self.customer_id, "Customer") if self.customer_id else None,
            product_id=parse_global_id(self.product_id, "Product") if self.product_id else None,
            status=self.status.value if self.status else None,
            billing_reason=self.billing_reason.value if self.billing_reason else None,
        )


@strawberry.input(description="Which transactions to list; every condition given must hold.")
class TransactionFilter:
    order_id: strawberry.ID | None = strawberry.field(default=None, description="Only this order's transactions.")
    customer_id: strawberry.ID | None = strawberry.field(default=None, description="Only this customer's transactions.")
    type: TransactionType | None = strawberry.field(default=None, description="Only transactions of this type.")

    def to_data(self) -> TransactionFilterData:
        return TransactionFilterData(
            order_id=parse_global_id(self.order_id, "Order") if self.order_id else None,
            customer_id=parse_global_id(self.customer_id, "Customer") if self.customer_id else None,
            type=self.type.value if self.type else None,
        )


@strawberry.input(description="How a list is sorted: by creation time; ties are broken by id.")
class CreatedOrder:
    direction: OrderDirection = strawberry.field(default=OrderDirection.DESC, description="The direction; newest first by default.")


@strawberry.input(description="A refund of a paid order.")
class CreateRefundInput:
    order_id: strawberry.ID = strawberry.field(description="The order's id.")
    amount: BigInt = strawberry.field(description="How much to give back, in minor units of the order's currency (tax included); at most its `refundableAmount`.")
    reason: RefundReason = strawberry.field(description="Why.")
    comment: str | None = strawberry.field(default=None, description="A note, up to 1000 characters.")
    revoke_benefits: bool = strawberry.field(default=False, description="Whether the customer's benefits of the order are to be revoked.")
    idempotency_key: str | None = idempotency_key_field()
