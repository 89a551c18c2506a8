"""Webhook `data` of subscriptions: the object as the GraphQL API shows it."""

from __future__ import annotations

from typing import Any

from app.kit.ids import to_global_id
from app.models.subscription import Subscription


def _time(value) -> str | None:
    return value.isoformat() if value is not None else None


def subscription_data(subscription: Subscription) -> dict[str, Any]:
    return {
        "id": to_global_id("Subscription", subscription.id),
        "status": subscription.status.upper(),
        "customerId": to_global_id("Customer", subscription.customer_id),
        "memberId": to_global_id("Member", subscription.member_id) if subscription.member_id else None,
        "productId": to_global_id("Product", subscription.product_id),
        "productPriceId": to_global_id("ProductPrice", subscription.product_price_id),
        "checkoutId": to_global_id("Checkout", subscription.checkout_id) if subscription.checkout_id else None,
        "discountId": to_global_id("Discount", subscription.discount_id) if subscription.discount_id else None,
        "currency": subscription.currency,
        "amount": subscription.amount,
        "seats": subscription.seats,
        "recurringInterval": subscription.recurring_interval.upper(),
        "currentPeriodStart": _time(subscription.current_period_start),
        "currentPeriodEnd": _time(subscription.current_period_end),
        "trialStart": _time(subscription.trial_start),
        "trialEnd": _time(subscription.trial_end),
        "cancelAtPeriodEnd": subscription.cancel_at_period_end,
        "canceledAt": _time(subscription.canceled_at),
        "endedAt": _time(subscription.ended_at),
        "startedAt": _time(subscription.started_at),
        "pastDueAt": _time(subscription.past_due_at),
        "metadata": subscription.user_metadata,
    }
