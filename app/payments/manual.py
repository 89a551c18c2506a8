"""The manual processor: free products, offline payments the merchant records (bank transfer,
cash), and tests. It moves no money itself: a charge is recorded as paid at once and a refund as
done. Its ids are derived from the idempotency key, so a retried call answers the same ids."""

from __future__ import annotations

import uuid

from app.payments.processors import ChargeResult, ProcessorCustomer, RefundResult, SavedPaymentMethod

_NAMESPACE = uuid.UUID("6d616e75-616c-4b61-7373-612070617973")


def _id(prefix: str, idempotency_key: str) -> str:
    return f"{prefix}_{uuid.uuid5(_NAMESPACE, idempotency_key).hex}"


class ManualProcessor:
    name = "manual"

    async def create_customer(self, *, email: str, name: str | None, metadata: dict[str, str], idempotency_key: str) -> ProcessorCustomer:
        return ProcessorCustomer(id=_id("mcus", idempotency_key))

    async def save_payment_method(self, *, customer_id: str, payment_method: str) -> SavedPaymentMethod:
        return SavedPaymentMethod(id=payment_method)

    async def charge(
        self,
        *,
        customer_id: str,
        payment_method: str,
        amount: int,
        currency: str,
        off_session: bool,
        idempotency_key: str,
        metadata: dict[str, str],
    ) -> ChargeResult:
        return ChargeResult(
            status="succeeded", payment_id=_id("mpay", idempotency_key), charge_id=_id("mch", idempotency_key), amount=amount, currency=currency, fee=0
        )

    async def refund(self, *, payment_id: str, amount: int, currency: str, idempotency_key: str, metadata: dict[str, str]) -> RefundResult:
        return RefundResult(status="succeeded", refund_id=_id("mre", idempotency_key), amount=amount, currency=currency)

    async def payment_status(self, *, payment_id: str) -> ChargeResult:
        return ChargeResult(status="succeeded", payment_id=payment_id)  # recorded as paid when it was made

    async def cancel_payment(self, *, payment_id: str) -> ChargeResult:
        return await self.payment_status(payment_id=payment_id)
