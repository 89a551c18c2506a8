"""Renewals run by the workers on real commits: exactly once per subscription and period with two
workers at once, with a job run twice, and with a worker killed mid-batch (an exception, a
cancelled task, a process killed for real); and Stripe renewals against localstripe (paid
off-session with the saved card; a card that declines; a trial without a payment method).

Time is the kit's clock; the workers run in this process (arq's Worker, in burst mode, on the
test's Redis queue), except the one that is killed for real, which is a process of its own."""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
import uuid
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select

from app.auth.service import job_scope
from app.catalog.service import PriceDraft
from app.checkouts import service as checkouts
from app.checkouts.service import CheckoutDraft, CustomerData
from app.kit import jobs
from app.kit.ids import to_global_id
from app.kit.jobs import JobRequest
from app.kit.tenancy import tenant_session
from app.models.checkout import PaymentMethod
from app.models.order import Order
from app.models.subscription import Subscription
from app.subscriptions import repository as subscriptions_repository
from app.subscriptions import service as subscriptions
from tests.conftest import make_org
from tests.localstripe_server import STRIPE_KEY, card, stripe_processor
from tests.orders.factories import client, make_product, merchant, rows
from tests.subscriptions.factories import due_subscriptions, renewal_state
from workers import subscriptions as subscription_jobs
from workers.outbox_relay import relay_outbox

NOW = datetime(2027, 5, 10, 12, 0, tzinfo=timezone.utc)
PERIOD_END = NOW - timedelta(minutes=1)  # every subscription of these tests is due by a minute
COUNT = 500
ROUNDS = 3  # the two-worker race, run again: a race lost once in a while is still a race


def _job_context(live, **settings: Any) -> dict[str, Any]:
    """What a worker hands a job (workers/settings.py `startup`)."""
    return {"session_factory": live.session_factory, "redis": live.redis, "settings": live.worker_settings(**settings)}


async def _run_workers(live, count: int = 2, *, max_jobs: int = 1, **settings: Any) -> None:
    """`count` arq workers at once on the test's queue, each a Worker of its own (burst: until the
    queue is empty). One job at a time each, so that both renewal jobs are taken, one by each."""
    from arq.worker import Worker

    import workers.settings  # noqa: F401 - registers every job
    from workers.registry import REGISTRY

    workers = [
        Worker(
            functions=list(REGISTRY.values()),
            redis_pool=live.redis,
            burst=True,
            handle_signals=False,
            poll_delay=0.01,
            keep_result=0,
            max_jobs=max_jobs,
            ctx=_job_context(live, **settings),
        )
        for _ in range(count)
    ]
    await asyncio.gather(*(worker.main() for worker in workers))


async def _ask(live, name: str, *args: Any) -> None:
    """Queue a job as the outbox relay would (a job id of its own)."""
    assert await jobs.enqueue(live.redis, [JobRequest(name=name, args=tuple(str(a) for a in args), job_id=uuid.uuid4().hex)]) == 1


async def _due(live, count: int = COUNT, **fields: Any):
    org = await make_org(live.session_factory, name="Renewals")
    subject = merchant(org.id)
    async with tenant_session(live.session_factory, subject.scope) as session:
        ids = await due_subscriptions(session, subject, count, period_end=PERIOD_END, **fields)
        await session.commit()
    return org, subject, ids


async def _job_failures(live) -> list[tuple]:
    async with live.session_factory() as session:
        return await rows(session, "SELECT job_name, error FROM job_failures")


# -- two workers at once ---------------------------------------------------------------------


async def test_two_workers_renew_500_due_subscriptions_each_exactly_once(live, clock, monkeypatch):
    """The cron's sweep asks for two renewal jobs; two workers take one each. Both hold a batch
    of claimed rows at the same time (the test makes the first claim wait for the second), so
    SKIP LOCKED really shares the rows. Each subscription is cycled once: period 1, one cycle
    entry, one renewal order; every order is then paid by the charge jobs, once; invoice
    numbers 1..500 with no gap. Several rounds, each with its own 500 subscriptions."""
    clock.set(NOW)
    real_claim = subscriptions_repository.claim_due
    for round in range(ROUNDS):
        org, subject, ids = await _due(live)
        claims: list[int] = []
        both_claimed = asyncio.Event()

        async def claim_due(session, scope, now, limit):
            claimed = await real_claim(session, scope, now, limit)
            if claimed:
                claims.append(len(claimed))
                if len(claims) == 2:
                    both_claimed.set()
                if len(claims) <= 2:  # the first two batches are held at once, each by its job
                    await asyncio.wait_for(both_claimed.wait(), 20)
            return claimed

        monkeypatch.setattr(subscriptions_repository, "claim_due", claim_due)
        await _ask(live, "subscriptions.renew")  # what the cron runs: two renew_batch jobs per organization
        await _run_workers(live)

        state = await renewal_state(live.session_factory, org.id, ids)
        assert state.cycled == COUNT, f"round {round}: {COUNT - state.cycled} not cycled"
        state.assert_consistent()
        assert len(claims) >= 3 and sum(claims) == COUNT, claims  # 500 in batches of at most 200, each claimed once
        assert (state.paid_orders, state.payments) == (COUNT, COUNT)
        assert state.invoice_numbers == list(range(1, COUNT + 1))
        assert (state.events["subscription.cycled"], state.events["order.paid"]) == (COUNT, COUNT)
        assert await _job_failures(live) == []
        async with tenant_session(live.session_factory, subject.scope) as session:
            renewed = (await session.scalars(select(Subscription).where(Subscription.id.in_(ids)))).all()
        assert {(s.status, s.current_period_start, s.current_period_end) for s in renewed} == {("active", PERIOD_END, datetime(2027, 6, 10, 11, 59, tzinfo=timezone.utc))}


# -- the same job twice ----------------------------------------------------------------------


async def test_the_same_jobs_run_twice_have_one_effect(live, clock):
    """A renewal job run again (a retry after the worker died between the commit and recording
    the job's end, or the relay sending it twice) finds nothing due; a charge job run again finds
    its orders paid. Nothing is written the second time: no order, no entry, no event, no job."""
    clock.set(NOW)
    org, subject, ids = await _due(live, 250)
    ctx = _job_context(live)
    assert await subscription_jobs.renew_batch(ctx, subject.scope) == 250
    after_first = await renewal_state(live.session_factory, org.id, ids)
    assert after_first.cycled == 250
    after_first.assert_consistent()
    assert await subscription_jobs.renew_batch(ctx, subject.scope) == 0
    assert await renewal_state(live.session_factory, org.id, ids) == after_first

    await live.run_worker()  # the charge jobs the renewal asked for
    paid = await renewal_state(live.session_factory, org.id, ids)
    assert (paid.paid_orders, paid.payments) == (250, 250)
    async with tenant_session(live.session_factory, subject.scope) as session:
        order_ids = [o.id for o in (await session.scalars(select(Order).where(Order.billing_reason == "subscription_cycle"))).all()]
    for order_id in order_ids[:5]:  # each charge job again
        assert await subscription_jobs.charge_order(ctx, subject.scope, str(order_id)) == "already paid"
    # and the renewal jobs again, through the workers this time
    await _ask(live, "subscriptions.renew_batch", org.id)
    await _ask(live, "subscriptions.renew_batch", org.id)
    await _run_workers(live)
    assert await renewal_state(live.session_factory, org.id, ids) == paid
    assert await _job_failures(live) == []


async def test_a_long_backlog_is_handed_from_job_to_job(live, clock, monkeypatch):
    """A renewal job stops after RENEW_JOB_BATCHES batches and its last batch asks for the next
    job (here after one batch of 200): the 500 are renewed by a chain of short jobs, once each."""
    clock.set(NOW)
    monkeypatch.setattr(subscription_jobs, "RENEW_JOB_BATCHES", 1)
    org, subject, ids = await _due(live)
    assert await subscription_jobs.renew_batch(_job_context(live), subject.scope) == subscriptions.RENEW_BATCH
    async with live.session_factory() as session:
        asked = [args for (requests,) in await rows(session, "SELECT jobs FROM job_outbox") for name, args, *_rest in requests if name == "subscriptions.renew_batch"]
    assert asked == [[str(org.id)]]  # with the first batch, in its transaction
    await _run_workers(live)
    state = await renewal_state(live.session_factory, org.id, ids)
    assert state.cycled == COUNT
    state.assert_consistent()
    assert (state.paid_orders, state.payments) == (COUNT, COUNT)
    assert await _job_failures(live) == []


# -- a worker killed mid-batch ---------------------------------------------------------------


class Crash(Exception):
    """The worker dies here."""


async def _finish_and_check(live, org, ids, before_kill) -> None:
    """What every kill scenario ends with: the state is consistent, the next run cycles the rest,
    each exactly once, and the charges pay every renewal order. A worker killed between a
    batch's COMMIT and handing its jobs to arq leaves them in the job outbox: the relay every
    worker runs beside its jobs sends them (here run by hand, as the burst worker does not)."""
    before_kill.assert_consistent()
    assert await subscription_jobs.renew_batch(_job_context(live), job_scope(org.id)) == COUNT - before_kill.cycled
    renewed = await renewal_state(live.session_factory, org.id, ids)
    assert renewed.cycled == COUNT
    renewed.assert_consistent()
    while await relay_outbox(live.session_factory, live.redis, older_than=0):
        pass
    await live.run_worker()
    final = await renewal_state(live.session_factory, org.id, ids)
    final.assert_consistent(outbox=False)  # the relay has emptied the outbox
    assert (final.paid_orders, final.payments) == (COUNT, COUNT)
    assert await _job_failures(live) == []


async def test_an_exception_mid_batch_keeps_nothing_of_that_batch(live, clock, monkeypatch):
    """The first batch (200) commits; the second fails while cycling its 50th subscription: none
    of the second batch is kept (subscriptions, entries, orders, invoice numbers, events, jobs)."""
    clock.set(NOW)
    org, subject, ids = await _due(live)
    real_bounds = subscriptions.period_bounds
    calls = 0

    def period_bounds(*args, **kwargs):
        nonlocal calls
        calls += 1
        if calls == subscriptions.RENEW_BATCH + 50:
            raise Crash("in the middle of the second batch")
        return real_bounds(*args, **kwargs)

    monkeypatch.setattr(subscriptions, "period_bounds", period_bounds)
    with pytest.raises(Crash):
        await subscription_jobs.renew_batch(_job_context(live), subject.scope)
    monkeypatch.setattr(subscriptions, "period_bounds", real_bounds)
    state = await renewal_state(live.session_factory, org.id, ids)
    assert state.cycled == subscriptions.RENEW_BATCH
    assert len(state.charges_asked) == subscriptions.RENEW_BATCH  # the first batch's charges only: the second's were never written
    await _finish_and_check(live, org, ids, state)


async def test_a_crash_after_the_batch_is_written_before_its_commit_keeps_nothing_of_it(live, clock, monkeypatch):
    clock.set(NOW)
    org, subject, ids = await _due(live)
    real = subscriptions.renew_due
    batches = 0

    async def renew_due(session, scope, **kwargs):
        nonlocal batches
        batches += 1
        renewed = await real(session, scope, **kwargs)
        if batches == 2:
            assert renewed == subscriptions.RENEW_BATCH  # all written (flushed), not committed
            raise Crash("between the batch's writes and its commit")
        return renewed

    monkeypatch.setattr(subscriptions, "renew_due", renew_due)
    with pytest.raises(Crash):
        await subscription_jobs.renew_batch(_job_context(live), subject.scope)
    monkeypatch.setattr(subscriptions, "renew_due", real)
    state = await renewal_state(live.session_factory, org.id, ids)
    assert state.cycled == subscriptions.RENEW_BATCH
    await _finish_and_check(live, org, ids, state)


@pytest.mark.parametrize("after_seconds", [0.02, 0.07, 0.12, 0.17, 0.25, 0.35])
async def test_a_renewal_job_cancelled_at_any_moment_keeps_whole_batches_only(live, clock, after_seconds):
    """arq cancels a job that runs past its timeout: wherever the cancellation lands (a claim,
    a write, the commit), each subscription is cycled entirely or not at all."""
    clock.set(NOW)
    org, subject, ids = await _due(live)
    try:
        await asyncio.wait_for(subscription_jobs.renew_batch(_job_context(live), subject.scope), after_seconds)
    except asyncio.TimeoutError:
        pass
    state = await renewal_state(live.session_factory, org.id, ids)
    assert state.cycled % subscriptions.RENEW_BATCH == 0 or state.cycled == COUNT  # whole batches
    await _finish_and_check(live, org, ids, state)


async def test_a_worker_process_killed_mid_batch_keeps_nothing_of_that_batch(live, clock):
    """A real worker process, SIGKILLed while its second batch is written and not committed:
    PostgreSQL rolls that batch back when the connection drops; the next run renews it once."""
    clock.set(NOW)
    org, subject, ids = await _due(live)
    done = subprocess.run(
        [sys.executable, "-m", "tests.subscriptions.killed_worker", live.settings.database_url, live.settings.redis_url, str(org.id), NOW.isoformat(), "2"],
        cwd=Path(__file__).resolve().parents[2],
        capture_output=True,
        text=True,
        timeout=120,
        env={**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parents[2])},
    )
    assert done.returncode == -9, (done.returncode, done.stdout, done.stderr)
    assert f"renewed {subscriptions.RENEW_BATCH}" in done.stdout, done.stdout
    backend = int(done.stdout.split("backend ")[1].split()[0])
    async with live.session_factory() as session:  # until the server has noticed the dead connection
        for _ in range(200):
            if not await rows(session, "SELECT 1 FROM pg_stat_activity WHERE pid = :pid", pid=backend):
                break
            await session.rollback()
            await asyncio.sleep(0.05)
        else:
            pytest.fail(f"backend {backend} still there")
    state = await renewal_state(live.session_factory, org.id, ids)
    assert state.cycled == subscriptions.RENEW_BATCH  # the first batch, committed; not the second
    await _finish_and_check(live, org, ids, state)


# -- Stripe renewals against localstripe -----------------------------------------------------

ATTACHES_THEN_DECLINES = "4000000000000341"  # saved without trouble, every charge declined


async def _stripe_subscription(live, localstripe, subject, *, trial_days: int | None = None, payment_method: str | None = "pm_card_visa") -> Subscription:
    """A Stripe checkout of a monthly product (10.00), confirmed by the customer's browser,
    committed; the subscription it started."""
    stripe = stripe_processor(localstripe)
    async with tenant_session(live.session_factory, subject.scope) as session:
        _, price = await make_product(session, subject, PriceDraft(type="fixed", amount=1000), recurring_interval="month", trial_days=trial_days)
        checkout = await checkouts.create_checkout(
            session,
            subject,
            CheckoutDraft(product_price_id=price.id, customer=CustomerData(email="renews@example.com", name="Ren"), payment_processor="stripe"),
            stripe_configured=True,
        )
        done = await checkouts.confirm_checkout(session, client(subject.organization_id, checkout.id), checkout.id, payment_method=payment_method, processor=stripe if payment_method else None)
        assert done.status == "succeeded", (done.failure_code, done.failure_message)
        await session.commit()
        return await session.scalar(select(Subscription).where(Subscription.checkout_id == checkout.id))


async def _renew_and_charge(live, localstripe, clock, subject, subscription: Subscription) -> tuple[Order, str]:
    """The clock past the period's end; the renewal job; then the renewal order's charge job (its
    outcome returned), as the worker runs them, with Stripe configured."""
    clock.set(subscription.current_period_end + timedelta(seconds=30))
    ctx = _job_context(live, stripe_secret_key=STRIPE_KEY, stripe_api_base=localstripe.url)
    assert await subscription_jobs.renew_batch(ctx, subject.scope) == 1
    async with tenant_session(live.session_factory, subject.scope) as session:
        [order] = (await session.scalars(select(Order).where(Order.subscription_id == subscription.id, Order.billing_reason == "subscription_cycle"))).all()
    outcome = await subscription_jobs.charge_order(ctx, subject.scope, str(order.id))
    async with tenant_session(live.session_factory, subject.scope) as session:
        return await session.get(Order, order.id), outcome


async def _events(live, subject, type: str) -> list[dict]:
    async with tenant_session(live.session_factory, subject.scope) as session:
        return [r[0] for r in await rows(session, "SELECT payload FROM webhook_events WHERE organization_id = :org AND type = :type ORDER BY sequence", org=subject.organization_id, type=type)]


async def test_a_stripe_renewal_is_paid_off_session_with_the_saved_card(live, localstripe, clock):
    clock.set(NOW)
    subject = merchant((await make_org(live.session_factory)).id)
    subscription = await _stripe_subscription(live, localstripe, subject)
    async with tenant_session(live.session_factory, subject.scope) as session:
        method = await session.get(PaymentMethod, subscription.payment_method_id)
    assert method is not None and method.processor_id.startswith("pm_")

    order, outcome = await _renew_and_charge(live, localstripe, clock, subject, subscription)
    assert outcome == "paid"
    assert (order.status, order.processor, order.due_amount, order.balance_amount) == ("paid", "stripe", 1000, 1000)
    intent = (await stripe_processor(localstripe).client.v1.payment_intents.retrieve_async(order.payment_id)).to_dict()
    assert (intent["status"], intent["amount"], intent["customer"], intent["payment_method"]) == ("succeeded", 1000, method.processor_customer_id, method.processor_id)
    assert intent["metadata"] == {"kassa_organization_id": str(subject.organization_id), "kassa_order_id": str(order.id)}
    assert order.charge_id.startswith("ch_")
    # the job again (the worker runs the charge job the renewal queued): one payment, one intent
    await live.run_worker(stripe_secret_key=STRIPE_KEY, stripe_api_base=localstripe.url)
    async with tenant_session(live.session_factory, subject.scope) as session:
        payments = await rows(session, "SELECT amount FROM transactions WHERE order_id = :id AND type = 'payment'", id=order.id)
        renewed = await session.get(Subscription, subscription.id)
    assert payments == [(1000,)]
    assert (renewed.status, renewed.period_number) == ("active", 1)
    everything = (await stripe_processor(localstripe).client.v1.payment_intents.list_async(params={"limit": 100})).to_dict()["data"]
    intents = [i for i in everything if i["customer"] == method.processor_customer_id]
    assert sorted(i["metadata"].get("kassa_order_id", "checkout") for i in intents) == sorted([str(order.id), "checkout"])
    assert await _job_failures(live) == []


async def test_a_card_that_declines_at_renewal_makes_the_subscription_past_due(live, localstripe, clock):
    """A trial started with a card that attaches and then declines every charge: at the trial's
    end the first charge is declined, the subscription is past_due, and merchants are told."""
    clock.set(NOW)
    subject = merchant((await make_org(live.session_factory)).id)
    subscription = await _stripe_subscription(live, localstripe, subject, trial_days=14, payment_method=await card(localstripe, ATTACHES_THEN_DECLINES))
    assert (subscription.status, subscription.payment_method_id is not None) == ("trialing", True)

    order, outcome = await _renew_and_charge(live, localstripe, clock, subject, subscription)
    assert outcome.startswith("declined (card_declined): past due, next attempt "), outcome  # dunning retries it
    assert (order.status, order.balance_amount) == ("pending", 0)
    async with tenant_session(live.session_factory, subject.scope) as session:
        renewed = await session.get(Subscription, subscription.id)
        assert await rows(session, "SELECT 1 FROM transactions WHERE order_id = :id", id=order.id) == []
    assert (renewed.status, renewed.period_number, renewed.past_due_at) == ("past_due", 0, clock.now())
    [past_due] = await _events(live, subject, "subscription.past_due")
    assert (past_due["data"]["id"], past_due["data"]["status"]) == (to_global_id("Subscription", subscription.id), "PAST_DUE")
    assert await _job_failures(live) == []


async def test_a_trial_started_without_a_payment_method_is_past_due_at_its_end(live, localstripe, clock):
    clock.set(NOW)
    subject = merchant((await make_org(live.session_factory)).id)
    subscription = await _stripe_subscription(live, localstripe, subject, trial_days=7, payment_method=None)
    assert (subscription.status, subscription.payment_method_id, subscription.processor) == ("trialing", None, "stripe")

    order, outcome = await _renew_and_charge(live, localstripe, clock, subject, subscription)
    # no card to retry with: a hard decline, tried once more when the dunning schedule would end
    assert outcome == f"hard decline (no_payment_method): past due, next attempt {(clock.now() + timedelta(days=21)).isoformat()}"
    assert order.status == "pending"
    async with tenant_session(live.session_factory, subject.scope) as session:
        renewed = await session.get(Subscription, subscription.id)
    assert (renewed.status, renewed.current_period_start) == ("past_due", subscription.trial_end)
    assert len(await _events(live, subject, "subscription.past_due")) == 1


async def test_a_card_given_after_the_trial_pays_the_past_due_renewal_at_once(live, localstripe, clock):
    """A trial started without a card is past due at its end; `set_payment_method` saves a card
    at Stripe and the renewal order's charge job runs at once with it: paid, active again. A
    declined card is refused and changes nothing; a manual subscription has no card to set."""
    from app.payments.processors import PaymentMethodRefused

    clock.set(NOW)
    subject = merchant((await make_org(live.session_factory)).id)
    subscription = await _stripe_subscription(live, localstripe, subject, trial_days=7, payment_method=None)
    order, _ = await _renew_and_charge(live, localstripe, clock, subject, subscription)
    assert order.status == "pending"
    stripe = stripe_processor(localstripe)

    async with tenant_session(live.session_factory, subject.scope) as session:
        with pytest.raises(PaymentMethodRefused):
            await subscriptions.set_payment_method(session, subject, subscription.id, payment_method=await card(localstripe, "4000000000000002"), processor=stripe)
    async with tenant_session(live.session_factory, subject.scope) as session:
        assert (await session.get(Subscription, subscription.id)).payment_method_id is None

    async with tenant_session(live.session_factory, subject.scope) as session:
        changed = await subscriptions.set_payment_method(session, subject, subscription.id, payment_method=await card(localstripe), processor=stripe)
        method_id = changed.payment_method_id
        await session.commit()
    assert method_id is not None
    await live.run_worker(stripe_secret_key=STRIPE_KEY, stripe_api_base=localstripe.url)
    async with tenant_session(live.session_factory, subject.scope) as session:
        paid = await session.get(Order, order.id)
        renewed = await session.get(Subscription, subscription.id)
        payments = await rows(session, "SELECT amount FROM transactions WHERE order_id = :id AND type = 'payment'", id=order.id)
    assert (paid.status, paid.payment_attempts, payments) == ("paid", order.payment_attempts + 1, [(order.due_amount,)])
    assert (renewed.status, renewed.past_due_at, renewed.payment_method_id) == ("active", None, method_id)
    assert len(await _events(live, subject, "subscription.active")) == 2  # at the trial's end, and now it is paid
    assert [e["data"]["status"] for e in await _events(live, subject, "subscription.updated")][-1] == "ACTIVE"
    assert await _job_failures(live) == []


async def test_a_payment_method_is_refused_for_a_manual_or_ended_subscription(live, clock):
    from app.kit.errors import NotFound, ValidationFailed
    from app.subscriptions.errors import SubscriptionNotChangeable

    clock.set(NOW)
    org, subject, [manual, ended] = await _due(live, 2)
    other = merchant((await make_org(live.session_factory, name="Other")).id)
    async with tenant_session(live.session_factory, subject.scope) as session:
        with pytest.raises(ValidationFailed) as refused:
            await subscriptions.set_payment_method(session, subject, manual, payment_method="pm_card_visa", processor=None)
        assert [(i.path, i.code) for i in refused.value.issues] == [(("paymentMethod",), "manual_processor")]
        with pytest.raises(ValidationFailed):
            await subscriptions.set_payment_method(session, subject, manual, payment_method="  ", processor=None)
        await subscriptions.revoke(session, subject, ended)
        with pytest.raises(SubscriptionNotChangeable):
            await subscriptions.set_payment_method(session, subject, ended, payment_method="pm_card_visa", processor=None)
    async with tenant_session(live.session_factory, other.scope) as session:
        with pytest.raises(NotFound):
            await subscriptions.set_payment_method(session, other, manual, payment_method="pm_card_visa", processor=None)


async def test_an_invoiced_upgrade_is_charged_at_stripe_exactly_the_previewed_amount(live, localstripe, clock):
    """A Stripe subscription upgraded mid-period with `invoice`: the preview's `due_now` is the
    order's due amount, and the worker's charge job takes exactly that off-session with the saved
    card (one PaymentIntent of that amount); the job run again charges nothing more."""
    from app.subscriptions import changes
    from app.subscriptions.changes import ChangeRequest, ProrationBehavior

    clock.set(NOW)
    subject = merchant((await make_org(live.session_factory)).id)
    subscription = await _stripe_subscription(live, localstripe, subject)
    async with tenant_session(live.session_factory, subject.scope) as session:
        pro, _ = await make_product(session, subject, PriceDraft(type="fixed", amount=2900), recurring_interval="month")
        await session.commit()
    clock.set(subscription.current_period_start + (subscription.current_period_end - subscription.current_period_start) / 3)
    request = ChangeRequest(behavior=ProrationBehavior.invoice, product_id=pro.id)
    async with tenant_session(live.session_factory, subject.scope) as session:
        preview = await changes.preview_update(session, subject, subscription.id, request)
    remaining = (subscription.current_period_end - clock.now()).total_seconds()
    length = (subscription.current_period_end - subscription.current_period_start).total_seconds()
    from app.kit.money import prorate

    assert preview.due_now == prorate(2900, int(remaining), int(length)) - prorate(1000, int(remaining), int(length)) > 0
    async with tenant_session(live.session_factory, subject.scope) as session:
        _, order, plan = await changes.update(session, subject, subscription.id, request)
        assert order is not None and (order.due_amount, plan.due_now) == (preview.due_now, preview.due_now)
        order_id = order.id
        await session.commit()
    while await relay_outbox(live.session_factory, live.redis, older_than=0):  # the charge job asked for at commit
        pass
    await live.run_worker(stripe_secret_key=STRIPE_KEY, stripe_api_base=localstripe.url)
    await subscription_jobs.charge_order(_job_context(live, stripe_secret_key=STRIPE_KEY, stripe_api_base=localstripe.url), subject.scope, str(order_id))  # again
    await live.run_worker(stripe_secret_key=STRIPE_KEY, stripe_api_base=localstripe.url)
    async with tenant_session(live.session_factory, subject.scope) as session:
        paid = await session.get(Order, order_id)
        payments = await rows(session, "SELECT amount FROM transactions WHERE order_id = :id AND type = 'payment'", id=order_id)
    assert (paid.status, paid.billing_reason, payments) == ("paid", "subscription_update", [(preview.due_now,)])
    everything = (await stripe_processor(localstripe).client.v1.payment_intents.list_async(params={"limit": 100})).to_dict()["data"]
    assert [i["amount"] for i in everything if i["metadata"].get("kassa_order_id") == str(order_id)] == [preview.due_now]
    assert await _job_failures(live) == []
