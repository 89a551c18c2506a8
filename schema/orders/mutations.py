"""Mutations on orders: refunds. Each returns its success payload or a typed error; nothing is
changed when an error is returned."""

from __future__ import annotations

from typing import Annotated

import strawberry

from app.kit.ids import parse_global_id
from app.orders import scopes as orders_scopes
from app.orders import service
from app.payments.processors import configured
from schema.kit.errors import NotFoundError, ValidationError, mutation_result, run_mutation
from schema.kit.scopes import scoped_mutation
from schema.orders.errors import RefundExceedsRefundableError, RefundNotAllowedError, RefundThroughWalletError
from schema.orders.inputs import CreateRefundInput
from schema.orders.types import Order, Refund


@strawberry.type(description="The refund was made.")
class CreateRefundSuccess:
    refund: Refund = strawberry.field(description="The new refund.")
    order: Order = strawberry.field(description="The order as it is now.")


CreateRefundResult = mutation_result(
    "CreateRefundResult",
    "The refund, or why nothing was refunded.",
    CreateRefundSuccess,
    ValidationError,
    NotFoundError,
    RefundExceedsRefundableError,
    RefundNotAllowedError,
    RefundThroughWalletError,
)


@strawberry.type
class OrderMutations:
    @scoped_mutation(
        orders_scopes.WRITE,
        "Refund some or all of a paid order through its payment processor; never more than was paid and not refunded yet. "
        "A wallet top-up's order is refunded with `refundWalletTopUp` instead. "
        "Send an `idempotencyKey`: a retry with it refunds once.",
    )
    async def create_refund(
        self, info: strawberry.Info, input: Annotated[CreateRefundInput, strawberry.argument(description="What to refund.")]
    ) -> CreateRefundResult:
        settings = info.context.settings

        async def work(session, subject):
            order_id = parse_global_id(input.order_id, "Order")
            order = await service.get_order(session, subject, order_id)
            processor = configured(order.processor, settings)  # type: ignore[arg-type]
            refund = await service.create_refund(
                session,
                subject,
                order_id,
                amount=int(input.amount),
                reason=input.reason.value,
                comment=input.comment,
                revoke_benefits=input.revoke_benefits,
                processor=processor,
                idempotency_key=input.idempotency_key,
            )
            return refund, await service.get_order(session, subject, order_id)

        return await run_mutation(info, work, lambda result: CreateRefundSuccess(refund=Refund.from_model(result[0]), order=Order.from_model(result[1])))
