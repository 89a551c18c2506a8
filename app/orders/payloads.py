"""Webhook `data` of orders and refunds: each object as the GraphQL API shows it."""

from __future__ import annotations

from typing import Any, Sequence

from app.kit.ids import to_global_id
from app.models.order import Order, OrderItem, Refund
from app.webhooks.payloads import address_data


def item_data(item: OrderItem) -> dict[str, Any]:
    return {
        "id": to_global_id("OrderItem", item.id),
        "label": item.label,
        "priceId": to_global_id("ProductPrice", item.product_price_id) if item.product_price_id else None,
        "quantity": item.quantity,
        "unitAmount": item.unit_amount,
        "amount": item.amount,
        "proration": item.proration,
    }


def order_data(order: Order, items: Sequence[OrderItem]) -> dict[str, Any]:
    return {
        "id": to_global_id("Order", order.id),
        "invoiceNumber": order.invoice_number,
        "status": order.status.upper(),
        "billingReason": order.billing_reason.upper(),
        "customerId": to_global_id("Customer", order.customer_id),
        "productId": to_global_id("Product", order.product_id) if order.product_id else None,
        "checkoutId": to_global_id("Checkout", order.checkout_id) if order.checkout_id else None,
        "subscriptionId": to_global_id("Subscription", order.subscription_id) if order.subscription_id else None,
        "discountId": to_global_id("Discount", order.discount_id) if order.discount_id else None,
        "currency": order.currency,
        "subtotalAmount": order.subtotal_amount,
        "discountAmount": order.discount_amount,
        "netAmount": order.net_amount,
        "taxAmount": order.tax_amount,
        "totalAmount": order.total_amount,
        "appliedBalanceAmount": order.applied_balance_amount,
        "dueAmount": order.due_amount,
        "refundedAmount": order.refunded_amount,
        "refundedTaxAmount": order.refunded_tax_amount,
        "taxBasisPoints": order.tax_basis_points,
        "taxCountry": order.tax_country,
        "billingName": order.billing_name,
        "billingAddress": address_data(order.billing_address),
        "processor": order.processor.upper(),
        "paidAt": order.paid_at.isoformat() if order.paid_at else None,
        "paymentAttempts": order.payment_attempts,
        "nextPaymentAttemptAt": order.next_payment_attempt_at.isoformat() if order.next_payment_attempt_at else None,
        "lastPaymentFailure": order.last_payment_failure,
        "items": [item_data(item) for item in items],
        "metadata": order.user_metadata,
        "createdAt": order.created_at.isoformat(),
        "modifiedAt": order.modified_at.isoformat(),
    }


def refund_data(refund: Refund) -> dict[str, Any]:
    return {
        "id": to_global_id("Refund", refund.id),
        "orderId": to_global_id("Order", refund.order_id),
        "customerId": to_global_id("Customer", refund.customer_id),
        "status": refund.status.upper(),
        "reason": refund.reason.upper(),
        "comment": refund.comment,
        "amount": refund.amount,
        "taxAmount": refund.tax_amount,
        "currency": refund.currency,
        "revokeBenefits": refund.revoke_benefits,
        "processor": refund.processor.upper(),
        "createdAt": refund.created_at.isoformat(),
    }
