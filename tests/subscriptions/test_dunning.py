"""Dunning on the test clock: a failed renewal charge makes the subscription past due and is
retried on the organization's schedule (2, 5, 7, 7 days by default); a retry that succeeds makes
it active again; retries that run out end it as the organization chose (canceled or unpaid);
a hard decline skips the retries that cannot succeed. The processor here is a stand-in that
answers as scripted (localstripe declines only with `card_declined`); the charges go through
the real charge job's code."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

from sqlalchemy import select

from app.models.order import Order
from app.models.organization import Organization
from app.payments.processors import ChargeResult
from app.subscriptions import dunning
from app.subscriptions import service as subscriptions
from tests.conftest import as_owner, tenant_factory
from tests.orders.factories import merchant, rows
from tests.subscriptions.test_renewal import _subscribe


class ScriptedProcessor:
    """Answers each charge with the next scripted outcome: None succeeds, a code declines."""

    name = "stripe"

    def __init__(self, outcomes: list[str | None]) -> None:
        self.outcomes = list(outcomes)
        self.keys: list[str] = []

    async def charge(self, *, customer_id, payment_method, amount, currency, off_session, idempotency_key, metadata) -> ChargeResult:
        self.keys.append(idempotency_key)
        code = self.outcomes.pop(0)
        if code is None:
            return ChargeResult(status="succeeded", payment_id=f"pi_{len(self.keys)}", charge_id=f"ch_{len(self.keys)}", amount=amount, currency=currency)
        return ChargeResult(status="failed", payment_id=f"pi_{len(self.keys)}", amount=amount, currency=currency, failure_code=code, failure_message="declined")


async def _stripe_subscription(session, subject):
    """A subscription on Stripe with a saved card (the rows a Stripe checkout leaves)."""
    from app.models.checkout import PaymentMethod

    subscription = await _subscribe(session, subject)
    method = PaymentMethod(organization_id=subject.organization_id, customer_id=subscription.customer_id, processor="stripe", processor_id="pm_1", processor_customer_id="cus_1")
    session.add(method)
    await session.flush()
    subscription.processor, subscription.payment_method_id = "stripe", method.id
    await session.flush()
    return subscription


async def _renewal_order(session, subscription) -> Order:
    return await session.scalar(select(Order).where(Order.subscription_id == subscription.id, Order.billing_reason == "subscription_cycle"))


async def _run_due_retries(session, scope, processor) -> list[str]:
    """What the dunning sweep and the charge jobs it asks for do, in this session."""
    due = (await session.scalars(select(Order).where(Order.next_payment_attempt_at <= dunning.clock.now()))).all()
    await dunning.retry_due(session, scope)
    return [await subscriptions.charge_order(session, scope, order.id, stripe=processor) for order in due]


async def test_a_failed_renewal_is_retried_on_the_schedule_and_recovers(session_factory, org, clock):
    start = datetime(2027, 1, 10, tzinfo=timezone.utc)
    clock.set(start)
    subject = merchant(org.id)
    async with tenant_factory(session_factory, org.id)() as session:
        subscription = await _stripe_subscription(session, subject)
        processor = ScriptedProcessor(["card_declined", "card_declined", None])
        clock.set(subscription.current_period_end)
        await subscriptions.renew_due(session, subject.scope)
        order = await _renewal_order(session, subscription)
        first = await subscriptions.charge_order(session, subject.scope, order.id, stripe=processor)
        assert first.startswith("declined (card_declined): past due")
        assert (subscription.status, order.status, order.payment_attempts) == ("past_due", "pending", 1)
        assert order.next_payment_attempt_at == clock.now() + timedelta(days=2)
        assert dunning.benefits_until(subscription, 7) == clock.now() + timedelta(days=7)
        clock.advance(timedelta(days=1))
        assert await _run_due_retries(session, subject.scope, processor) == []  # not yet
        clock.advance(timedelta(days=1))
        assert (await _run_due_retries(session, subject.scope, processor))[0].startswith("declined (card_declined)")
        assert order.next_payment_attempt_at == clock.now() + timedelta(days=5)
        clock.advance(timedelta(days=5))
        assert await _run_due_retries(session, subject.scope, processor) == ["paid"]
        assert (subscription.status, subscription.past_due_at, order.status, order.payment_attempts) == ("active", None, "paid", 3)
        assert processor.keys == [f"kassa-order-{order.id}-{n}" for n in (1, 2, 3)]  # a new key for each attempt
        events = [row[0] for row in await rows(session, "SELECT type FROM webhook_events WHERE type LIKE 'subscription.%' ORDER BY sequence")]
        assert events[-4:] == ["subscription.past_due", "subscription.updated", "subscription.active", "subscription.updated"]
        await session.rollback()


async def test_retries_that_run_out_cancel_or_leave_unpaid_as_the_organization_chose(session_factory, org, clock):
    for final in ("canceled", "unpaid"):
        clock.set(datetime(2027, 2, 1, tzinfo=timezone.utc))
        subject = merchant(org.id)
        async with tenant_factory(session_factory, org.id)() as session:
            await dunning.update_settings(session, subject, {"retry_days": [1, 2], "final_status": final})
            subscription = await _stripe_subscription(session, subject)
            processor = ScriptedProcessor(["card_declined"] * 3)
            clock.set(subscription.current_period_end)
            await subscriptions.renew_due(session, subject.scope)
            order = await _renewal_order(session, subscription)
            await subscriptions.charge_order(session, subject.scope, order.id, stripe=processor)
            clock.advance(timedelta(days=1))
            await _run_due_retries(session, subject.scope, processor)
            clock.advance(timedelta(days=2))
            [last] = await _run_due_retries(session, subject.scope, processor)
            assert last == f"declined (card_declined): retries exhausted, subscription {final}"
            assert (subscription.status, order.status, order.next_payment_attempt_at) == (final, "void", None)
            assert (subscription.ended_at is not None) == (final == "canceled")
            assert processor.outcomes == []
            await session.rollback()


async def test_a_hard_decline_skips_the_retries_that_cannot_succeed_and_says_so(session_factory, org, clock):
    clock.set(datetime(2027, 3, 1, tzinfo=timezone.utc))
    subject = merchant(org.id)
    async with tenant_factory(session_factory, org.id)() as session:
        subscription = await _stripe_subscription(session, subject)
        processor = ScriptedProcessor(["expired_card", "expired_card"])
        clock.set(subscription.current_period_end)
        await subscriptions.renew_due(session, subject.scope)
        order = await _renewal_order(session, subscription)
        outcome = await subscriptions.charge_order(session, subject.scope, order.id, stripe=processor)
        assert outcome.startswith("hard decline (expired_card): past due")
        assert order.last_payment_failure == "hard:expired_card"
        assert order.next_payment_attempt_at == clock.now() + timedelta(days=2 + 5 + 7 + 7)  # one last try when the schedule ends
        clock.advance(timedelta(days=21))
        [last] = await _run_due_retries(session, subject.scope, processor)
        assert last == "hard decline (expired_card): retries exhausted, subscription canceled"
        assert len(processor.keys) == 2
        await session.rollback()


async def test_dunning_settings_are_checked(session_factory, org):
    from app.kit.errors import ValidationFailed

    subject = merchant(org.id)
    async with tenant_factory(session_factory, org.id)() as session:
        for changes, path in (({"retry_days": [0]}, "retryDays"), ({"retry_days": [1] * 11}, "retryDays"), ({"final_status": "paused"}, "finalStatus"), ({"grace_days": 61}, "graceDays")):
            try:
                await dunning.update_settings(session, subject, changes)
            except ValidationFailed as exc:
                assert [issue.path for issue in exc.issues] == [(path,)]
            else:
                raise AssertionError(changes)
        async with as_owner(session):
            organization = await session.scalar(select(Organization).where(Organization.id == org.id))
        assert (organization.dunning_retry_days, organization.dunning_final_status, organization.dunning_grace_days) == ([2, 5, 7, 7], "canceled", 7)
        await session.rollback()


async def test_a_revoked_past_due_subscription_is_never_charged_again(session_factory, org, clock):
    """Revoking voids the renewal order waiting for its retry (`order.updated`): the sweep has
    nothing to retry, and a charge job already queued voids instead of charging."""
    clock.set(datetime(2027, 1, 10, tzinfo=timezone.utc))
    subject = merchant(org.id)
    async with tenant_factory(session_factory, org.id)() as session:
        subscription = await _stripe_subscription(session, subject)
        processor = ScriptedProcessor(["card_declined"])
        clock.set(subscription.current_period_end)
        await subscriptions.renew_due(session, subject.scope)
        order = await _renewal_order(session, subscription)
        await subscriptions.charge_order(session, subject.scope, order.id, stripe=processor)
        assert (subscription.status, order.status) == ("past_due", "pending")
        await subscriptions.revoke(session, subject, subscription.id)
        assert (subscription.status, order.status, order.next_payment_attempt_at) == ("canceled", "void", None)
        clock.advance(timedelta(days=30))
        assert await _run_due_retries(session, subject.scope, processor) == []
        assert await subscriptions.charge_order(session, subject.scope, order.id, stripe=processor) == "already void"
        assert processor.keys == [f"kassa-order-{order.id}-1"]
        events = await rows(session, "SELECT type FROM webhook_events ORDER BY sequence DESC LIMIT 3")
    assert [e.type for e in events] == ["subscription.updated", "subscription.revoked", "order.updated"]


async def test_a_charge_job_for_a_subscription_that_ended_voids_its_order(session_factory, org, clock):
    """A job queued before the subscription ended (its order not yet voided) charges nothing."""
    clock.set(datetime(2027, 1, 10, tzinfo=timezone.utc))
    subject = merchant(org.id)
    async with tenant_factory(session_factory, org.id)() as session:
        subscription = await _stripe_subscription(session, subject)
        clock.set(subscription.current_period_end)
        await subscriptions.renew_due(session, subject.scope)
        order = await _renewal_order(session, subscription)
        subscription.status, subscription.ended_at = "canceled", clock.now()  # ended by a path that left the order pending
        await session.flush()
        processor = ScriptedProcessor([None])
        outcome = await subscriptions.charge_order(session, subject.scope, order.id, stripe=processor)
        assert outcome == "void: the subscription has ended (canceled)"
        assert (order.status, processor.keys) == ("void", [])
