"""Orders: created (pending) for a purchase or a subscription period, paid, refunded, disputed.

Every money movement of an order is a row of the transaction ledger (`transactions`, posted
through app/kit/ledger.py) in the same transaction as the order's own change, and each
processor object (charge, fee, refund, dispute) is recorded once, however often its Stripe
event arrives: the order's row is locked first, then the ledger is asked whether it has it.
The ledger reconciles with the order's amounts to the cent (app/orders/reconcile.py):
payments = what was paid (`due_amount` once paid), refunds = -`refunded_amount`.

Invoice numbers come from the organization's counter in the order's own transaction
(repository.next_invoice_numbers): no gaps, no repeats. Orders are made one at a time
(`create_order`) or many at once (`create_orders`, a batch of renewals: one statement per kind
of row, whatever their number), both the same way; payments likewise (`mark_paid`,
`mark_paid_many`).
"""

from __future__ import annotations

import hashlib
import uuid
from dataclasses import dataclass
from typing import Any, Sequence

from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm.attributes import set_committed_value

from app.auth.subject import Subject
from app.kit import clock
from app.kit import ledger
from app.kit.batches import grouped, in_order
from app.kit.errors import FieldIssue, NotFound, ValidationFailed
from app.kit.money import check_amount, prorate
from app.kit.pagination import Page, check_page_size
from app.kit.tenancy import TenantScope
from app.kit.validation import check_text
from app.models.order import (
    TRANSACTIONS,
    BillingReason,
    Order,
    OrderItem,
    OrderStatus,
    Refund,
    RefundReason,
    RefundStatus,
    Transaction,
    TransactionType,
)
from app.models.webhook import WebhookEventType
from app.orders import repository
from app.orders.errors import RefundExceedsRefundable, RefundNotAllowed, RefundThroughWallet
from app.orders.payloads import order_data, refund_data
from app.orders.repository import OrderFilter, TransactionFilter
from app.payments.processors import PaymentProcessor
from app.webhooks import service as webhooks

__all__ = ["OrderDraft", "OrderFilter", "OrderLine", "Payment", "TransactionFilter", "create_order", "create_orders", "create_refund", "mark_paid", "mark_paid_many"]

COMMENT_MAX_LENGTH = 1000


@dataclass(frozen=True)
class OrderLine:
    label: str
    unit_amount: int
    quantity: int = 1
    product_price_id: uuid.UUID | None = None
    proration: bool = False


@dataclass(frozen=True)
class OrderAmounts:
    currency: str
    subtotal: int
    discount: int
    tax: int
    applied_balance: int = 0

    @property
    def net(self) -> int:
        return self.subtotal - self.discount

    @property
    def total(self) -> int:
        return self.net + self.tax

    @property
    def due(self) -> int:
        return max(0, self.total - self.applied_balance)


# -- reads ---------------------------------------------------------------------------------


async def list_orders(
    session: AsyncSession, subject: Subject, filter: OrderFilter, *, descending: bool = True, first: int = 50, after: str | None = None, max_page_size: int = 100
) -> Page[Order]:
    check_page_size(first, max_page_size)
    return await repository.list_page(session, subject.scope, filter, descending=descending, first=first, after=after)


async def count_orders(session: AsyncSession, subject: Subject, filter: OrderFilter) -> int:
    return await repository.count(session, subject.scope, filter)


async def get_order(session: AsyncSession, subject: Subject, order_id: uuid.UUID) -> Order:
    order = await repository.get(session, subject.scope, order_id)
    if order is None:
        raise NotFound("Order not found")
    return order


async def list_transactions(
    session: AsyncSession,
    subject: Subject,
    filter: TransactionFilter,
    *,
    descending: bool = True,
    first: int = 50,
    after: str | None = None,
    max_page_size: int = 100,
) -> Page[Transaction]:
    check_page_size(first, max_page_size)
    return await repository.list_transactions(session, subject.scope, filter, descending=descending, first=first, after=after)


async def load_orders(session: AsyncSession, scope: TenantScope, ids: list[uuid.UUID]) -> list[Order | None]:
    return in_order(await repository.get_many(session, scope, ids), ids)


async def load_refunds(session: AsyncSession, scope: TenantScope, ids: list[uuid.UUID]) -> list[Refund | None]:
    return in_order(await repository.get_many_refunds(session, scope, ids), ids)


async def load_transactions(session: AsyncSession, scope: TenantScope, ids: list[uuid.UUID]) -> list[Transaction | None]:
    return in_order(await repository.get_many_transactions(session, scope, ids), ids)


async def load_items_of(session: AsyncSession, scope: TenantScope, order_ids: list[uuid.UUID]) -> list[list[OrderItem]]:
    return grouped(await repository.items_of(session, scope, order_ids), order_ids, key=lambda row: row.order_id)


async def load_refunds_of(session: AsyncSession, scope: TenantScope, order_ids: list[uuid.UUID]) -> list[list[Refund]]:
    return grouped(await repository.refunds_of(session, scope, order_ids), order_ids, key=lambda row: row.order_id)


async def load_transactions_of(session: AsyncSession, scope: TenantScope, order_ids: list[uuid.UUID]) -> list[list[Transaction]]:
    return grouped(await repository.transactions_of(session, scope, order_ids), order_ids, key=lambda row: row.order_id)


async def load_orders_of_customers(session: AsyncSession, scope: TenantScope, customer_ids: list[uuid.UUID], *, limit: int) -> list[list[Order]]:
    rows = await repository.orders_of_customers(session, scope, customer_ids, limit)
    return grouped(rows, customer_ids, key=lambda row: row.customer_id)


# -- creating and paying -------------------------------------------------------------------


async def _emit(session: AsyncSession, scope: TenantScope, order: Order, *types: WebhookEventType) -> None:
    await _emit_many(session, scope, [order], *types)


async def _emit_many(session: AsyncSession, scope: TenantScope, orders: Sequence[Order], *types: WebhookEventType, items: Sequence[OrderItem] | None = None) -> None:
    """Each order's events, in one statement (its items read in one, unless given)."""
    if items is None:
        items = await repository.items_of(session, scope, [order.id for order in orders])
    events = []
    for order, its_items in zip(orders, grouped(list(items), [order.id for order in orders], key=lambda item: item.order_id)):
        data = order_data(order, its_items)
        events += [(type, data) for type in types]
    await webhooks.emit_many(session, scope, events)


@dataclass(frozen=True)
class OrderDraft:
    """An order to create (`create_orders`): who owes what for what, and its lines."""

    customer_id: uuid.UUID
    product_id: uuid.UUID | None
    billing_reason: BillingReason
    amounts: OrderAmounts
    lines: Sequence[OrderLine]
    processor: str
    checkout_id: uuid.UUID | None = None
    subscription_id: uuid.UUID | None = None
    discount_id: uuid.UUID | None = None
    tax_basis_points: int = 0
    tax_country: str | None = None
    billing_name: str | None = None
    billing_address: dict[str, Any] | None = None
    metadata: dict[str, Any] | None = None


async def create_order(
    session: AsyncSession,
    scope: TenantScope,
    *,
    customer_id: uuid.UUID,
    product_id: uuid.UUID | None,
    billing_reason: BillingReason,
    amounts: OrderAmounts,
    lines: Sequence[OrderLine],
    processor: str,
    checkout_id: uuid.UUID | None = None,
    subscription_id: uuid.UUID | None = None,
    discount_id: uuid.UUID | None = None,
    tax_basis_points: int = 0,
    tax_country: str | None = None,
    billing_name: str | None = None,
    billing_address: dict[str, Any] | None = None,
    metadata: dict[str, Any] | None = None,
) -> Order:
    """A pending order with its next invoice number and its lines (whose amounts add up to the
    subtotal). Emits `order.created`. Never commits."""
    draft = OrderDraft(
        customer_id=customer_id,
        product_id=product_id,
        billing_reason=billing_reason,
        amounts=amounts,
        lines=lines,
        processor=processor,
        checkout_id=checkout_id,
        subscription_id=subscription_id,
        discount_id=discount_id,
        tax_basis_points=tax_basis_points,
        tax_country=tax_country,
        billing_name=billing_name,
        billing_address=billing_address,
        metadata=metadata,
    )
    [order] = await create_orders(session, scope, [draft])
    return order


async def create_orders(session: AsyncSession, scope: TenantScope, drafts: Sequence[OrderDraft]) -> list[Order]:
    """`create_order` for many orders at once (a batch of renewals), in the order given: their
    invoice numbers are taken together, in one statement, consecutive and in that order; then
    the orders, their items and their `order.created` events are written, a statement each.

    The organization's invoice counter stays locked from here until the caller's transaction
    ends: a caller making many orders calls this last (after its other writes), so concurrent
    transactions of the organization wait for each other as little as possible."""
    if not drafts:
        return []
    for draft in drafts:
        if sum(line.unit_amount * line.quantity for line in draft.lines) != draft.amounts.subtotal:
            raise ValueError("an order's lines must add up to its subtotal")
    first_number = await repository.next_invoice_numbers(session, scope, len(drafts))
    orders: list[Order] = []
    items: list[OrderItem] = []
    for number, draft in enumerate(drafts, start=first_number):
        amounts = draft.amounts
        order = Order(
            id=uuid.uuid4(),
            organization_id=scope.organization_id,
            customer_id=draft.customer_id,
            product_id=draft.product_id,
            checkout_id=draft.checkout_id,
            subscription_id=draft.subscription_id,
            discount_id=draft.discount_id,
            billing_reason=draft.billing_reason.value,
            status=OrderStatus.pending.value,
            invoice_number=number,
            currency=amounts.currency,
            subtotal_amount=amounts.subtotal,
            discount_amount=amounts.discount,
            net_amount=amounts.net,
            tax_amount=amounts.tax,
            total_amount=amounts.total,
            applied_balance_amount=amounts.applied_balance,
            due_amount=amounts.due,
            refunded_amount=0,
            refunded_tax_amount=0,
            balance_amount=0,
            tax_basis_points=draft.tax_basis_points,
            tax_country=draft.tax_country,
            billing_name=draft.billing_name,
            billing_address=draft.billing_address,
            processor=draft.processor,
            user_metadata=draft.metadata or {},
        )
        orders.append(order)
        items += [
            OrderItem(
                id=uuid.uuid4(),
                organization_id=scope.organization_id,
                order_id=order.id,
                product_price_id=line.product_price_id,
                label=line.label,
                quantity=line.quantity,
                unit_amount=line.unit_amount,
                amount=line.unit_amount * line.quantity,
                proration=line.proration,
            )
            for line in draft.lines
        ]
    session.add_all(orders)
    await session.flush()
    await repository.add(session, *items)
    await _emit_many(session, scope, orders, WebhookEventType.order_created, items=items)
    return orders


def _entry(order: Order, type: TransactionType, processor: str, processor_id: str, amount: int, *, tax: int = 0, refund_id=None, description=None) -> dict[str, Any]:
    return {
        "id": uuid.uuid4(),
        "organization_id": order.organization_id,
        "created_at": clock.now(),
        "type": type.value,
        "processor": processor,
        "processor_id": processor_id,
        "customer_id": order.customer_id,
        "refund_id": refund_id,
        "currency": order.currency,
        "amount": amount,
        "tax_amount": tax,
        "description": description,
    }


async def _post(session: AsyncSession, order: Order, entries: list[dict[str, Any]]) -> None:
    balance = await ledger.post(session, TRANSACTIONS, {"order_id": order.id}, entries)
    set_committed_value(order, "balance_amount", balance)


@dataclass(frozen=True)
class Payment:
    """A payment of an order's due amount, as its processor reported it (`mark_paid_many`)."""

    order: Order
    processor: str
    payment_id: str | None
    charge_id: str | None
    amount: int
    fee: int | None = None


async def mark_paid(
    session: AsyncSession,
    scope: TenantScope,
    order: Order,
    *,
    processor: str,
    payment_id: str | None,
    charge_id: str | None,
    amount: int,
    fee: int | None = None,
) -> bool:
    """Record that the order's due amount was paid (`amount` must be it): the payment (and the
    processor's fee, when known) enter the ledger, the order becomes paid, `order.paid` and
    `order.updated` are emitted. False, and nothing written, when it was recorded before (a
    repeated event, a retried job). The order's row must be locked by the caller."""
    paid = await mark_paid_many(session, scope, [Payment(order, processor, payment_id, charge_id, amount, fee)])
    return bool(paid)


async def mark_paid_many(session: AsyncSession, scope: TenantScope, payments: Sequence[Payment]) -> list[Order]:
    """`mark_paid` for many orders at once (a batch of renewal charges): the ledger entries of
    all in one post (app/kit/ledger.py `post_many`), the orders' changes in one flush, their
    events in one statement. Returns the orders marked paid now (those recorded before are left
    out, untouched). Every order's row must be locked by the caller."""
    for payment in payments:
        if payment.order.status == OrderStatus.pending.value and payment.amount != payment.order.due_amount:
            raise ValueError(f"order {payment.order.id} is due {payment.order.due_amount}, not {payment.amount}")
    paying: list[Payment] = []
    seen: set[uuid.UUID] = set()
    for payment in payments:
        if payment.order.status == OrderStatus.pending.value and payment.order.id not in seen:
            seen.add(payment.order.id)
            paying.append(payment)
    postings = []
    for payment in paying:
        order = payment.order
        payment_ref = payment.charge_id or payment.payment_id or f"order_{order.id}"
        entries = []
        if payment.amount > 0:
            entries.append(_entry(order, TransactionType.payment, payment.processor, payment_ref, payment.amount, tax=order.tax_amount, description="Payment"))
        if payment.fee:
            entries.append(_entry(order, TransactionType.processor_fee, payment.processor, payment_ref, -payment.fee, description="Processor fee"))
        if entries:
            postings.append((order, entries))
    balances = await ledger.post_many(session, TRANSACTIONS, [({"order_id": order.id}, entries) for order, entries in postings])
    for (order, _entries), balance in zip(postings, balances):
        set_committed_value(order, "balance_amount", balance)
    now = clock.now()
    for payment in paying:
        order = payment.order
        order.status = OrderStatus.paid.value
        order.processor = payment.processor
        order.payment_id = payment.payment_id
        order.charge_id = payment.charge_id
        order.paid_at = now
    await session.flush()
    orders = [payment.order for payment in paying]
    if orders:
        await _emit_many(session, scope, orders, WebhookEventType.order_paid, WebhookEventType.order_updated)
    return orders


async def emit_updated(session: AsyncSession, scope: TenantScope, order: Order) -> None:
    """`order.updated` for a change made by another domain (a renewal order voided by dunning)."""
    await _emit(session, scope, order, WebhookEventType.order_updated)


async def locked_order(session: AsyncSession, scope: TenantScope, order_id: uuid.UUID) -> Order:
    order = await repository.get(session, scope, order_id, for_update=True)
    if order is None:
        raise NotFound("Order not found")
    return order


# -- refunds -------------------------------------------------------------------------------


def _refund_tax(order: Order, amount: int) -> int:
    """The tax part of refunding `amount` more: the order's tax in proportion to what will have
    been refunded, minus the tax refunded so far. Parts of successive refunds add up to the
    order's tax exactly when all is refunded (the kit's rounding rule, monotone)."""
    if order.due_amount == 0 or order.tax_amount == 0:
        return 0
    tax_after = prorate(order.tax_amount, order.refunded_amount + amount, order.due_amount)
    return max(0, min(amount, tax_after - order.refunded_tax_amount))


def _check_refund(issues: list[FieldIssue], amount: Any, reason: str, comment: str | None) -> str | None:
    """The kit's amount rule (1 to MAX_AMOUNT: a number past any amount Kassa holds is bad input,
    not a refund "beyond what is refundable" echoing it back); the comment is a note, whose line
    breaks are kept."""
    check_amount(issues, ("amount",), amount, minimum=1)
    if reason not in {r.value for r in RefundReason}:
        issues.append(FieldIssue(("reason",), f"must be one of {', '.join(r.value for r in RefundReason)}", "invalid_value"))
    return check_text(issues, ("comment",), comment, max_length=COMMENT_MAX_LENGTH, free_text=True)


async def _apply_refund(
    session: AsyncSession,
    scope: TenantScope,
    order: Order,
    *,
    amount: int,
    status: str,
    reason: str,
    comment: str | None,
    revoke_benefits: bool,
    processor_refund_id: str,
) -> Refund:
    tax = _refund_tax(order, amount)
    refund = Refund(
        id=uuid.uuid4(),
        organization_id=scope.organization_id,
        order_id=order.id,
        customer_id=order.customer_id,
        status=status,
        reason=reason,
        comment=comment,
        amount=amount,
        tax_amount=tax,
        currency=order.currency,
        revoke_benefits=revoke_benefits,
        processor=order.processor,
        processor_refund_id=processor_refund_id,
    )
    session.add(refund)
    await session.flush()
    await _post(session, order, [_entry(order, TransactionType.refund, order.processor, processor_refund_id, -amount, tax=-tax, refund_id=refund.id, description="Refund")])
    order.refunded_amount += amount
    order.refunded_tax_amount += tax
    order.status = OrderStatus.refunded.value if order.refunded_amount == order.due_amount else OrderStatus.partially_refunded.value
    await session.flush()
    await webhooks.emit(session, scope, WebhookEventType.refund_created, refund_data(refund))
    await _emit(session, scope, order, WebhookEventType.order_refunded, WebhookEventType.order_updated)
    return refund


async def create_refund(
    session: AsyncSession,
    subject: Subject,
    order_id: uuid.UUID,
    *,
    amount: int,
    reason: str,
    comment: str | None = None,
    revoke_benefits: bool = False,
    processor: PaymentProcessor,
    idempotency_key: str | None = None,
    wallet_refund: bool = False,
) -> Refund:
    """Refund `amount` (minor units) of a paid order through its processor, never more than was
    paid and not refunded yet (`RefundExceedsRefundable`). The order's row is locked for the
    whole refund, so concurrent refunds queue and cannot together pass what was paid. The
    processor's idempotency key is the caller's own key when it sent one (a retry after a crash
    between the processor's answer and the commit asks for the same refund again, and the
    processor answers the one it made, even if its `charge.refunded` event was recorded in
    between), else derived from the order's refund state. `revoke_benefits` is recorded for the
    benefits work.

    A wallet top-up's order (`wallet_top_up`) is refused (`RefundThroughWallet`) unless the
    wallet's refund calls (`wallet_refund`), having taken the amount back out of the wallet."""
    issues: list[FieldIssue] = []
    comment = _check_refund(issues, amount, reason, comment)
    if issues:
        raise ValidationFailed(issues)
    order = await locked_order(session, subject.scope, order_id)
    if order.billing_reason == BillingReason.wallet_top_up.value and not wallet_refund:
        raise RefundThroughWallet()
    if order.status not in (OrderStatus.paid.value, OrderStatus.partially_refunded.value):
        raise RefundNotAllowed(f"An order that is {order.status} cannot be refunded")
    if order.due_amount == 0:
        raise RefundNotAllowed("Nothing was paid for this order")
    if amount > order.refundable_amount:
        raise RefundExceedsRefundable(amount, order.refundable_amount, order.currency)
    if order.payment_id is None:
        raise RefundNotAllowed("The order has no payment to refund")
    result = await processor.refund(
        payment_id=order.payment_id,
        amount=amount,
        currency=order.currency,
        idempotency_key=(
            f"kassa-refund-{order.id}-key-{hashlib.sha256(idempotency_key.encode()).hexdigest()[:32]}"
            if idempotency_key
            else f"kassa-refund-{order.id}-{order.refunded_amount}-{amount}"
        ),
        metadata={"kassa_organization_id": str(order.organization_id), "kassa_order_id": str(order.id)},
    )
    if result.status == "failed":
        raise RefundNotAllowed("The payment processor refused the refund")
    existing = await repository.refund_by_processor_id(session, subject.scope, order.processor, result.refund_id)
    if existing is not None:  # the processor's webhook recorded it first
        return existing
    return await _apply_refund(
        session,
        subject.scope,
        order,
        amount=amount,
        status=RefundStatus.succeeded.value if result.status == "succeeded" else RefundStatus.pending.value,
        reason=reason,
        comment=comment,
        revoke_benefits=revoke_benefits,
        processor_refund_id=result.refund_id,
    )


async def record_processor_refund(session: AsyncSession, scope: TenantScope, order: Order, *, processor_refund_id: str, amount: int, status: str) -> Refund | None:
    """A refund the processor reports (made in its dashboard, or ours seen again): recorded once
    by its id, capped at what is still refundable. None if it was known. Order row locked."""
    if await repository.refund_by_processor_id(session, scope, order.processor, processor_refund_id) is not None:
        return None
    amount = min(amount, order.refundable_amount)
    if amount <= 0:
        return None
    return await _apply_refund(
        session,
        scope,
        order,
        amount=amount,
        status=status,
        reason=RefundReason.other.value,
        comment="Refunded at the payment processor",
        revoke_benefits=False,
        processor_refund_id=processor_refund_id,
    )


# -- disputes ------------------------------------------------------------------------------


async def record_dispute(session: AsyncSession, scope: TenantScope, order: Order, *, dispute_id: str, amount: int) -> bool:
    """A chargeback opened: the disputed amount leaves the merchant's balance (once per dispute)."""
    if await repository.transaction_exists(session, scope, TransactionType.dispute.value, order.processor, dispute_id):
        return False
    await _post(session, order, [_entry(order, TransactionType.dispute, order.processor, dispute_id, -amount, description="Dispute opened")])
    await session.flush()
    await _emit(session, scope, order, WebhookEventType.order_updated)
    return True


async def record_dispute_won(session: AsyncSession, scope: TenantScope, order: Order, *, dispute_id: str, amount: int) -> bool:
    """A dispute closed in the merchant's favour: the amount comes back (once per dispute, and
    only for a dispute that was recorded)."""
    if not await repository.transaction_exists(session, scope, TransactionType.dispute.value, order.processor, dispute_id):
        return False
    if await repository.transaction_exists(session, scope, TransactionType.dispute_reversal.value, order.processor, dispute_id):
        return False
    await _post(session, order, [_entry(order, TransactionType.dispute_reversal, order.processor, dispute_id, amount, description="Dispute won")])
    await session.flush()
    await _emit(session, scope, order, WebhookEventType.order_updated)
    return True
