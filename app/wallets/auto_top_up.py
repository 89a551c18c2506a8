"""Auto top-up: when a wallet's balance falls under its threshold, the customer's saved payment
method is charged off-session, once, for what refills it to the target; the wallet is credited
only after the payment succeeded.

Never a loop of charges:
- `consider` (after every balance change, from the `wallets.balance_changed` job) makes at most
  one pending attempt per wallet (under the wallet's row lock, and a unique index), at most one
  per cooldown (`auto_top_up_last_at`, set when an attempt is made, whatever its outcome), and
  only within the monthly cap (this calendar month's succeeded and pending attempts, UTC).
- `run` (the job `wallets.auto_top_up`) holds the attempt's row (SKIP LOCKED) from before the
  charge until its outcome is committed, and charges only a pending attempt: a second run, at
  the same time or later, charges nothing. The processor's idempotency key is the attempt's id,
  so a rerun after a crash between the charge and the commit gets the same payment back.
- After `auto_top_up_max_failures` failures in a row it pauses (`auto_top_up_paused_at`, with
  the payment method that failed); it restarts when the customer's saved payment method changes
  or the merchant configures it again.
"""

from __future__ import annotations

import uuid
from datetime import timedelta
from typing import Any, Callable

from sqlalchemy.ext.asyncio import AsyncSession

from app.auth.subject import Subject
from app.kit import clock
from app.kit.errors import FieldIssue, ValidationFailed
from app.kit.ids import to_global_id
from app.kit.jobs import enqueue_after_commit
from app.kit.money import check_amount
from app.kit.tenancy import TenantScope
from app.models.checkout import PaymentMethod
from app.models.order import BillingReason
from app.models.wallet import Wallet, WalletAutoTopUp
from app.models.webhook import WebhookEventType
from app.orders import service as orders
from app.orders.service import OrderAmounts, OrderLine
from app.payments.processors import ChargeResult, PaymentProcessor
from app.wallets import repository, service
from app.wallets.top_ups import organization_of
from app.webhooks import service as webhooks

JOB = "wallets.auto_top_up"
MAX_COOLDOWN_SECONDS = 90 * 24 * 3600
MAX_FAILURES = 100
PENDING, SUCCEEDED, FAILED = "pending", "succeeded", "failed"


def _check_count(issues: list[FieldIssue], field: str, value: Any, low: int, high: int, what: str) -> int | None:
    """An optional whole number (seconds, a count) from `low` to `high`."""
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
        issues.append(FieldIssue((field,), f"must be {what} from {low} to {high}", "out_of_range"))
        return None
    return value


async def configure(
    session: AsyncSession,
    subject: Subject,
    customer_id: uuid.UUID,
    currency: Any,
    *,
    enabled: bool,
    threshold: Any,
    target: Any,
    monthly_cap: Any = None,
    cooldown_seconds: Any = None,
    max_failures: Any = None,
) -> Wallet:
    """Set the wallet's auto top-up (target above the threshold; a cap of null: no monthly cap;
    the cooldown and the failures before pausing keep their values when not given). Configuring
    restarts a paused auto top-up (its failures count from zero), and a wallet already under its
    threshold is considered at once."""
    issues: list[FieldIssue] = []
    threshold = check_amount(issues, ("threshold",), threshold, minimum=0)
    target = check_amount(issues, ("target",), target, minimum=1)
    if not issues and target <= threshold:  # type: ignore[operator]
        issues.append(FieldIssue(("target",), f"must be greater than the threshold ({threshold})", "not_above_threshold"))
    monthly_cap = check_amount(issues, ("monthlyCap",), monthly_cap, minimum=1, required=False)
    cooldown = _check_count(issues, "cooldownSeconds", cooldown_seconds, 0, MAX_COOLDOWN_SECONDS, "a number of seconds")
    failures = _check_count(issues, "maxFailures", max_failures, 1, MAX_FAILURES, "a count")
    if issues:
        raise ValidationFailed(issues)
    _customer, wallet = await service.customer_wallet(session, subject, customer_id, currency, lock=True)
    wallet.auto_top_up_enabled = bool(enabled)
    wallet.auto_top_up_threshold = threshold
    wallet.auto_top_up_target = target
    wallet.auto_top_up_monthly_cap = monthly_cap
    if cooldown is not None:
        wallet.auto_top_up_cooldown_seconds = cooldown
    if failures is not None:
        wallet.auto_top_up_max_failures = failures
    wallet.auto_top_up_failures = 0
    wallet.auto_top_up_paused_at = None
    wallet.auto_top_up_paused_method = None
    await session.flush()
    await consider(session, subject.scope, wallet)
    return wallet


def _under_threshold(wallet: Wallet) -> bool:
    return (
        wallet.auto_top_up_enabled and wallet.auto_top_up_threshold is not None and wallet.auto_top_up_target is not None
        and wallet.balance < wallet.auto_top_up_threshold
    )


async def consider(session: AsyncSession, scope: TenantScope, wallet: Wallet) -> WalletAutoTopUp | None:
    """Called by the wallet's `wallets.balance_changed` job (and by `configure`): when auto
    top-up is on, not paused (or its payment method changed since it paused), the balance is
    under the threshold, no attempt is pending, the cooldown has passed and the monthly cap
    leaves room, make an attempt (pending) and ask for its charge (`wallets.auto_top_up`) after
    commit. The attempt (or None). Never commits."""
    if not _under_threshold(wallet):  # the common case, without taking the wallet's row lock
        return None
    wallet = await repository.get(session, scope, wallet.id, lock=True) or wallet
    if not _under_threshold(wallet):
        return None
    if wallet.auto_top_up_paused_at is not None:
        method = await repository.current_payment_method(session, scope, wallet.customer_id)
        if method is None or method.processor_id == wallet.auto_top_up_paused_method:
            return None
        wallet.auto_top_up_paused_at = None  # a new payment method: try again
        wallet.auto_top_up_paused_method = None
        wallet.auto_top_up_failures = 0
    if await repository.pending_auto_top_up(session, scope, wallet.id) is not None:
        return None
    now = clock.now()
    if wallet.auto_top_up_last_at is not None and now < wallet.auto_top_up_last_at + timedelta(seconds=wallet.auto_top_up_cooldown_seconds):
        return None
    organization = await organization_of(session, scope)
    amount = max(min(wallet.auto_top_up_target - wallet.balance, organization.wallet_maximum_top_up), organization.wallet_minimum_top_up)
    if wallet.auto_top_up_monthly_cap is not None:
        left = wallet.auto_top_up_monthly_cap - await repository.auto_top_ups_since(session, scope, wallet.id, service.period_start("month", now))
        amount = min(amount, left)
        if amount < organization.wallet_minimum_top_up:
            return None  # the cap is reached this month
    attempt = WalletAutoTopUp(
        id=uuid.uuid4(), organization_id=scope.organization_id, wallet_id=wallet.id, amount=amount, status=PENDING,
        details={"balance": wallet.balance, "threshold": wallet.auto_top_up_threshold, "target": wallet.auto_top_up_target},
    )
    await repository.add_auto_top_up(session, attempt)
    wallet.auto_top_up_last_at = now
    await session.flush()
    enqueue_after_commit(session, JOB, attempt.id)
    return attempt


# -- the charge (the job `wallets.auto_top_up`) ----------------------------------------------------


def idempotency_key(attempt: WalletAutoTopUp) -> str:
    return f"kassa-wallet-auto-top-up-{attempt.id}"


async def charge(attempt: WalletAutoTopUp, wallet: Wallet, method: PaymentMethod, processor: PaymentProcessor) -> ChargeResult:
    """Charge the saved method off-session for the attempt's amount, its id the idempotency key
    (asked again after a crash, the processor answers the same payment); a payment already made
    and still processing is asked about instead."""
    if attempt.payment_id is not None:
        return await processor.payment_status(payment_id=attempt.payment_id)
    return await processor.charge(
        customer_id=method.processor_customer_id,
        payment_method=method.processor_id,
        amount=attempt.amount,
        currency=wallet.currency,
        off_session=True,
        idempotency_key=idempotency_key(attempt),
        metadata={"kassa_organization_id": str(wallet.organization_id), "kassa_wallet_auto_top_up_id": str(attempt.id)},
    )


async def run(session: AsyncSession, scope: TenantScope, attempt_id: uuid.UUID, *, processor_for: Callable[[str], PaymentProcessor | None]) -> str:
    """Charge a pending attempt and record the outcome (`settle`), once: the attempt's row is
    locked (SKIP LOCKED: a second run at the same time finds it busy and leaves) from before the
    charge until the outcome is committed, and a settled attempt is not charged again. A
    processor that cannot be reached raises: the caller rolls back, the attempt stays pending
    and the job is retried with the same idempotency key. Never commits."""
    attempt = await repository.auto_top_up(session, scope, attempt_id, lock=True, skip_locked=True)
    if attempt is None:
        if await repository.auto_top_up(session, scope, attempt_id) is not None:
            return "busy: another run is charging it"
        return "ignored: no such attempt"
    if attempt.status != PENDING:
        return f"already {attempt.status}"
    wallet = await repository.get(session, scope, attempt.wallet_id)
    assert wallet is not None
    method = await repository.current_payment_method(session, scope, wallet.customer_id)
    result, failure = None, None
    if method is None:
        failure = "no_payment_method"
    else:
        processor = processor_for(method.processor)
        if processor is None:
            failure = "processor_not_configured"
        else:
            result = await charge(attempt, wallet, method, processor)
    return await settle(session, scope, attempt, method=method, result=result, failure=failure)


def _data(wallet: Wallet, attempt: WalletAutoTopUp, **more: Any) -> dict[str, Any]:
    return {
        "id": str(attempt.id),
        "walletId": to_global_id("Wallet", wallet.id),
        "customerId": to_global_id("Customer", wallet.customer_id),
        "amount": {"amount": attempt.amount, "currency": wallet.currency},
        "status": attempt.status.upper(),
        "balance": {"amount": wallet.balance, "currency": wallet.currency},
        **more,
    }


async def settle(
    session: AsyncSession, scope: TenantScope, attempt: WalletAutoTopUp, *, method: PaymentMethod | None, result: ChargeResult | None, failure: str | None = None
) -> str:
    """Record the outcome of the pending attempt's charge (its row locked by the caller; the
    wallet's is taken here). Succeeded: the paid order, the wallet credited, the failures reset,
    `wallet.auto_top_up_succeeded`. Failed (`failure`, or a declined or unfinished charge): the
    attempt failed, one more failure in a row (pausing at the wallet's limit),
    `wallet.auto_top_up_failed`. Still processing: left pending with its payment. Never commits."""
    wallet = await repository.get(session, scope, attempt.wallet_id, lock=True)
    assert wallet is not None
    if result is not None and result.payment_id:
        attempt.payment_id = result.payment_id
    if failure is None and result is not None and result.status == "processing":
        await session.flush()
        return "waiting: the payment is processing"
    if failure is None and result is not None and result.status == "succeeded":
        assert method is not None
        order = await orders.create_order(
            session, scope, customer_id=wallet.customer_id, product_id=None, billing_reason=BillingReason.wallet_top_up,
            amounts=OrderAmounts(currency=wallet.currency, subtotal=attempt.amount, discount=0, tax=0),
            lines=[OrderLine(label="Wallet top-up (automatic)", unit_amount=attempt.amount, quantity=1)],
            processor=method.processor, metadata={"wallet_auto_top_up_id": str(attempt.id)},
        )
        await orders.mark_paid(
            session, scope, order, processor=method.processor, payment_id=result.payment_id, charge_id=result.charge_id, amount=attempt.amount, fee=result.fee
        )
        await service.credit_top_up(session, scope, wallet.customer_id, wallet.currency, attempt.amount, order_id=order.id)
        attempt.status, attempt.order_id = SUCCEEDED, order.id
        wallet.auto_top_up_failures = 0
        await session.flush()
        await webhooks.emit(session, scope, WebhookEventType.wallet_auto_top_up_succeeded, _data(wallet, attempt, orderId=to_global_id("Order", order.id)))
        return "succeeded"
    reason = failure or (result.failure_code if result is not None else None) or (
        "authentication_required" if result is not None and result.status == "requires_action" else "payment_failed"
    )
    attempt.status, attempt.failure = FAILED, reason[:512]
    wallet.auto_top_up_failures += 1
    paused = wallet.auto_top_up_failures >= wallet.auto_top_up_max_failures
    if paused:
        wallet.auto_top_up_paused_at = clock.now()
        wallet.auto_top_up_paused_method = method.processor_id if method is not None else None
    await session.flush()
    await webhooks.emit(
        session, scope, WebhookEventType.wallet_auto_top_up_failed,
        _data(wallet, attempt, reason=reason, failuresInARow=wallet.auto_top_up_failures, paused=paused),
    )
    return f"failed: {reason}" + (" (paused)" if paused else "")
