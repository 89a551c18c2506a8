"""Webhook `data` of checkouts: the object as the GraphQL API shows it (without its client secret)."""

from __future__ import annotations

from typing import Any

from app.kit.ids import to_global_id
from app.models.checkout import Checkout
from app.webhooks.payloads import address_data


def checkout_data(checkout: Checkout) -> dict[str, Any]:
    return {
        "id": to_global_id("Checkout", checkout.id),
        "status": checkout.status.upper(),
        "paymentProcessor": checkout.payment_processor.upper(),
        "productId": to_global_id("Product", checkout.product_id) if checkout.product_id else None,
        "productPriceId": to_global_id("ProductPrice", checkout.product_price_id) if checkout.product_price_id else None,
        "walletTopUp": checkout.wallet_top_up,
        "customerId": to_global_id("Customer", checkout.customer_id) if checkout.customer_id else None,
        "customerEmail": checkout.customer_email,
        "customerName": checkout.customer_name,
        "customerType": checkout.customer_type.upper() if checkout.customer_type else None,
        "customerBillingName": checkout.customer_billing_name,
        "customerBillingAddress": address_data(checkout.customer_billing_address),
        "currency": checkout.currency,
        "seats": checkout.seats,
        "subtotalAmount": checkout.subtotal_amount,
        "discountAmount": checkout.discount_amount,
        "netAmount": checkout.net_amount,
        "taxAmount": checkout.tax_amount,
        "totalAmount": checkout.total_amount,
        "taxBasisPoints": checkout.tax_basis_points,
        "discountId": to_global_id("Discount", checkout.discount_id) if checkout.discount_id else None,
        "trialDays": checkout.trial_days,
        "orderId": to_global_id("Order", checkout.order_id) if checkout.order_id else None,
        "failureCode": checkout.failure_code,
        "failureMessage": checkout.failure_message,
        "expiresAt": checkout.expires_at.isoformat(),
        "metadata": checkout.user_metadata,
        "createdAt": checkout.created_at.isoformat(),
        "modifiedAt": checkout.modified_at.isoformat(),
    }
