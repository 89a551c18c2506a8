"""Dunning: what follows a failed renewal charge.

The subscription becomes `past_due` at the first failure and its order is tried again on the
organization's schedule (`dunning_retry_days`, by default 2, 5, 7 and 7 days after each failure;
the worker's `subscriptions.dunning` sweep asks for the charge when one is due). A charge that
succeeds makes the subscription `active` again. When the retries run out, the subscription
becomes the organization's `dunning_final_status` (`canceled`, ended now; or `unpaid`, kept) and
the order `void`. During `dunning_grace_days` after it became past due, a subscription's benefits
are kept (the benefits work reads `benefits_until`).

A **hard decline** (an expired, lost or stolen card; no payment method at all) cannot succeed on
a retry with the same card: the retries in between are skipped, and the order is tried once more
only when the whole schedule would have ended, so that the customer has the same time to give a
new card. The order's `last_payment_failure` says which it was (`hard:expired_card`).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, Mapping

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from app.auth.subject import Subject
from app.kit import clock
from app.kit.errors import FieldIssue, ValidationFailed
from app.kit.jobs import enqueue_after_commit
from app.kit.repository import scoped
from app.kit.tenancy import TenantScope
from app.models import Organization
from app.models.order import Order, OrderStatus
from app.models.subscription import Subscription, SubscriptionStatus
from app.organizations import repository as organizations

# Declines no retry with the same payment method can turn into a payment (Stripe's decline codes).
HARD_DECLINES = frozenset(
    {
        "expired_card",
        "lost_card",
        "stolen_card",
        "pickup_card",
        "fraudulent",
        "incorrect_number",
        "invalid_account",
        "card_not_supported",
        "restricted_card",
        "revocation_of_authorization",
        "revocation_of_all_authorizations",
        "no_payment_method",
    }
)
MAX_RETRIES = 10
MAX_DAYS = 60
RETRY_BATCH = 200


@dataclass(frozen=True)
class Outcome:
    """What a failure led to: `retry_at` (a retry is scheduled), or `final_status` (dunning ended)."""

    retry_at: datetime | None
    final_status: str | None
    hard: bool

    def describe(self, failure: str) -> str:
        kind = "hard decline" if self.hard else "declined"
        if self.final_status is not None:
            return f"{kind} ({failure}): retries exhausted, subscription {self.final_status}"
        return f"{kind} ({failure}): past due, next attempt {self.retry_at.isoformat() if self.retry_at else 'none'}"


async def _settings(session: AsyncSession, scope: TenantScope) -> Organization:
    organization = await organizations.get(session, scope)
    assert organization is not None
    return organization


def benefits_until(subscription: Subscription, grace_days: int) -> datetime | None:
    """Until when a past-due subscription keeps its benefits (None: it is not past due)."""
    if subscription.status != SubscriptionStatus.past_due.value or subscription.past_due_at is None:
        return None
    return subscription.past_due_at + timedelta(days=grace_days)


async def charge_failed(session: AsyncSession, scope: TenantScope, order: Order, subscription: Subscription, *, failure_code: str | None) -> Outcome:
    """Record a failed charge of the renewal `order` (its `payment_attempts` already counts it)
    and decide what follows (the module's docstring). The caller makes the subscription past due
    (and emits) when this returns a retry; a final status is applied here, with its events by the
    caller too (`final_status`)."""
    organization = await _settings(session, scope)
    schedule = list(organization.dunning_retry_days)
    failure = failure_code or "payment_failed"
    hard = failure in HARD_DECLINES
    retries_done = max(order.payment_attempts - 1, 0)  # the first attempt was the renewal's own charge
    now = clock.now()
    if hard and retries_done < len(schedule):
        # skip the retries that cannot succeed; one last try when the schedule would have ended
        wait = sum(schedule[retries_done:])
        order.payment_attempts = len(schedule)
        retry_at = now + timedelta(days=wait)
    elif retries_done < len(schedule):
        retry_at = now + timedelta(days=schedule[retries_done])
    else:
        retry_at = None
    order.last_payment_failure = (("hard:" if hard else "") + failure)[:128]
    order.next_payment_attempt_at = retry_at
    if retry_at is not None:
        await session.flush()
        return Outcome(retry_at=retry_at, final_status=None, hard=hard)
    order.status = OrderStatus.void.value
    subscription.status = organization.dunning_final_status
    if subscription.status == SubscriptionStatus.canceled.value:
        subscription.canceled_at = subscription.canceled_at or now
        subscription.ended_at = now
    await session.flush()
    return Outcome(retry_at=None, final_status=subscription.status, hard=hard)


async def retry_due(session: AsyncSession, scope: TenantScope) -> int:
    """Ask for the charge of the organization's renewal orders whose next attempt is due (a
    batch, rows locked; the charge job takes them on). Returns how many."""
    statement = (
        scoped(select(Order), Order, scope)
        .where(Order.next_payment_attempt_at <= clock.now(), Order.status == OrderStatus.pending.value)
        .order_by(Order.next_payment_attempt_at)
        .limit(RETRY_BATCH)
        .with_for_update(skip_locked=True)
    )
    due = list((await session.scalars(statement)).all())
    for order in due:
        order.next_payment_attempt_at = None
        enqueue_after_commit(session, "subscriptions.charge_order", order.id)
    await session.flush()
    return len(due)


async def update_settings(session: AsyncSession, subject: Subject, changes: Mapping[str, Any]) -> Organization:
    """Change the organization's dunning: `retry_days` (0 to 10 waits of 1 to 60 days),
    `final_status` (canceled or unpaid), `grace_days` (0 to 60). Applies to failures from now on."""
    organization = await _settings(session, subject.scope)
    issues: list[FieldIssue] = []
    if "retry_days" in changes:
        days = changes["retry_days"]
        if days is None or len(days) > MAX_RETRIES or any(isinstance(d, bool) or not isinstance(d, int) or not 1 <= d <= MAX_DAYS for d in days):
            issues.append(FieldIssue(("retryDays",), f"must be at most {MAX_RETRIES} waits of 1 to {MAX_DAYS} days", "out_of_range"))
        else:
            organization.dunning_retry_days = list(days)
    if "final_status" in changes:
        if changes["final_status"] not in (SubscriptionStatus.canceled.value, SubscriptionStatus.unpaid.value):
            issues.append(FieldIssue(("finalStatus",), "must be canceled or unpaid", "invalid_value"))
        else:
            organization.dunning_final_status = changes["final_status"]
    if "grace_days" in changes:
        grace = changes["grace_days"]
        if isinstance(grace, bool) or not isinstance(grace, int) or not 0 <= grace <= MAX_DAYS:
            issues.append(FieldIssue(("graceDays",), f"must be 0 to {MAX_DAYS} days", "out_of_range"))
        else:
            organization.dunning_grace_days = grace
    if issues:
        raise ValidationFailed(issues)
    await session.flush()
    return organization
