"""Auto top-up, on real commits with the worker and localstripe: a balance under the threshold
charges the saved card once, for what refills it to the target, and credits only after the
payment; declines send `wallet.auto_top_up_failed` and pause after N in a row until the card
changes; the cooldown and the monthly cap; a job run twice charges once.

`balance_changed` below stands for the wallet's `wallets.balance_changed` job (another part of
the wallet work), which calls `app.wallets.auto_top_up.consider` after each balance change."""

from __future__ import annotations

import asyncio
import uuid
from datetime import datetime, timedelta, timezone

from app.auth.service import job_scope, operator_scope
from app.kit import jobs
from app.kit.ids import from_global_id
from app.kit.tenancy import tenant_session
from app.models import Customer
from app.payments import methods
from app.wallets import auto_top_up
from app.wallets import repository as wallets_repository
from tests.checkout_flow.operations import stripe_api
from tests.conftest import make_org
from tests.localstripe_server import STRIPE_KEY, card, stripe_processor
from tests.operations import create_customer
from tests.wallets.top_up_operations import CONFIGURE_AUTO_TOP_UP, balance_of, manual_top_up, spend, sql, wallet_events, wallet_of

ATTACHES_THEN_DECLINES = "4000000000000341"  # localstripe: saved, then every charge declined


def _uuid(gid: str) -> uuid.UUID:
    return from_global_id(gid)[1]


async def save_card(live, localstripe, org, customer: dict, number: str = "4242424242424242"):
    """The customer saves a card at Stripe (as a checkout or a subscription's payment method change does)."""
    processor = stripe_processor(localstripe)
    scope = operator_scope(org.id)
    async with tenant_session(live.session_factory, scope) as session:
        row = await session.get(Customer, _uuid(customer["id"]))
        processor_customer = await methods.processor_customer(session, row, processor)
        method = await processor.save_payment_method(customer_id=processor_customer, payment_method=await card(localstripe, number))
        saved = await methods.record_saved(session, scope, row, processor, processor_customer, method)
        await session.commit()
    return saved


async def balance_changed(live, org, customer: dict, currency: str = "usd"):
    """What the wallet's balance-changed job does for auto top-up: `consider`, then commit (the
    charge job it asks for is relayed to the queue)."""
    scope = operator_scope(org.id)
    async with tenant_session(live.session_factory, scope) as session:
        wallet = await wallets_repository.wallet_by_customer(session, scope, _uuid(customer["id"]), currency)
        attempt = await auto_top_up.consider(session, scope, wallet)
        await jobs.commit(session, live.redis)
    return attempt


async def configure(api, token: str, customer: dict, **input) -> dict:
    result = (await api.data(CONFIGURE_AUTO_TOP_UP, {"input": {"customerId": customer["id"], "currency": "usd", **input}}, token=token))
    return result["configureWalletAutoTopUp"]


async def run_worker(live, localstripe) -> None:
    await live.run_worker(stripe_secret_key=STRIPE_KEY, stripe_api_base=localstripe.url)


async def intents_of(localstripe, processor_customer_id: str) -> list[dict]:
    everything = (await stripe_processor(localstripe).client.v1.payment_intents.list_async(params={"limit": 100})).to_dict()["data"]
    return [i for i in everything if i["customer"] == processor_customer_id and "kassa_wallet_auto_top_up_id" in (i.get("metadata") or {})]


async def attempts(live) -> list[tuple]:
    return [tuple(r) for r in await sql(live.session_factory, "SELECT amount, status, failure FROM wallet_auto_top_ups ORDER BY created_at, id")]


async def _setup(live, localstripe, api, org, *, balance: int, number: str = "4242424242424242", **settings) -> tuple[dict, object]:
    customer = await create_customer(api, org.token, email=f"{uuid.uuid4().hex[:8]}@example.com")
    if balance:
        await manual_top_up(api, org.token, customer["id"], balance)
    method = await save_card(live, localstripe, org, customer, number)
    configured = await configure(api, org.token, customer, enabled=True, **settings)
    assert configured["__typename"] == "ConfigureWalletAutoTopUpSuccess", configured
    return customer, method


async def test_a_fall_under_the_threshold_charges_once_for_the_target_and_credits_after_payment(live, localstripe, clock):
    org = await make_org(live.session_factory, name="Seller")
    async with stripe_api(live.settings, live.session_factory, live.redis, localstripe) as api:
        customer, method = await _setup(live, localstripe, api, org, balance=3000, threshold=1000, target=5000)
        assert await balance_changed(live, org, customer) is None  # 3000: above the threshold
        await spend(api, org.token, customer["id"], 2300)
        attempt = await balance_changed(live, org, customer)
        assert (attempt.amount, attempt.status) == (4300, "pending")
        assert await balance_changed(live, org, customer) is None  # one pending attempt at a time
        assert await balance_of(api, org.token, customer["id"]) == 700  # nothing credited before the payment

        await run_worker(live, localstripe)
        assert await balance_of(api, org.token, customer["id"]) == 5000
        assert await attempts(live) == [(4300, "succeeded", None)]
        [intent] = await intents_of(localstripe, method.processor_customer_id)
        assert (intent["amount"], intent["status"], intent["payment_method"]) == (4300, "succeeded", method.processor_id)
        orders = await sql(live.session_factory, "SELECT billing_reason, status, due_amount, payment_id FROM orders WHERE metadata ? 'wallet_auto_top_up_id'")
        assert orders == [("wallet_top_up", "paid", 4300, intent["id"])]
        [(kind, payload)] = await wallet_events(live.session_factory)
        assert kind == "wallet.auto_top_up_succeeded"
        assert (payload["data"]["amount"], payload["data"]["balance"]["amount"]) == ({"amount": 4300, "currency": "usd"}, 5000)

        # the job again, twice at once: nothing more is charged or credited
        for _ in range(2):
            await live.redis.enqueue_job("wallets.auto_top_up", str(org.id), str(attempt.id))
        await run_worker(live, localstripe)
        assert len(await intents_of(localstripe, method.processor_customer_id)) == 1
        assert await balance_of(api, org.token, customer["id"]) == 5000


async def test_two_runs_of_the_charge_at_once_charge_once(live, localstripe, clock):
    """Both runs reach the processor before either records the outcome: the attempt's id as the
    idempotency key makes it one payment, and only one run settles the attempt."""
    from workers.wallet_top_ups import auto_top_up as job

    org = await make_org(live.session_factory, name="Seller")
    async with stripe_api(live.settings, live.session_factory, live.redis, localstripe) as api:
        customer, method = await _setup(live, localstripe, api, org, balance=0, threshold=1000, target=3000)
        [(amount, status, _)] = await attempts(live)  # configuring an empty wallet asks at once
        assert (amount, status) == (3000, "pending")
        [(attempt_id,)] = await sql(live.session_factory, "SELECT id FROM wallet_auto_top_ups")
        ctx = {"settings": live.worker_settings(stripe_secret_key=STRIPE_KEY, stripe_api_base=localstripe.url), "session_factory": live.session_factory, "redis": live.redis}
        scope = job_scope(org.id)
        outcomes = await asyncio.gather(*(job(ctx, scope, str(attempt_id)) for _ in range(2)))
        assert sorted(outcomes) in (["already succeeded", "succeeded"], ["busy: another run is charging it", "succeeded"])
        assert len(await intents_of(localstripe, method.processor_customer_id)) == 1
        assert await balance_of(api, org.token, customer["id"]) == 3000
        assert (await sql(live.session_factory, "SELECT count(*) FROM orders WHERE billing_reason = 'wallet_top_up'"))[0][0] == 1


async def test_declines_send_failed_webhooks_pause_after_n_and_a_new_card_restarts(live, localstripe, clock):
    org = await make_org(live.session_factory, name="Seller")
    async with stripe_api(live.settings, live.session_factory, live.redis, localstripe) as api:
        customer, method = await _setup(
            live, localstripe, api, org, balance=2000, number=ATTACHES_THEN_DECLINES, threshold=1000, target=4000, cooldownSeconds=60, maxFailures=2
        )
        await spend(api, org.token, customer["id"], 1500)
        assert (await balance_changed(live, org, customer)).amount == 3500
        await run_worker(live, localstripe)
        assert await balance_of(api, org.token, customer["id"]) == 500  # no credit
        clock.advance(timedelta(seconds=30))
        assert await balance_changed(live, org, customer) is None  # within the cooldown, even after a failure
        clock.advance(timedelta(seconds=31))
        assert await balance_changed(live, org, customer) is not None
        await run_worker(live, localstripe)
        events = await wallet_events(live.session_factory)
        assert [(k, p["data"]["reason"], p["data"]["failuresInARow"], p["data"]["paused"]) for k, p in events] == [
            ("wallet.auto_top_up_failed", "card_declined", 1, False),
            ("wallet.auto_top_up_failed", "card_declined", 2, True),
        ]
        wallet = await wallet_of(api, org.token, customer["id"])
        assert wallet["autoTopUp"]["pausedAt"] is not None and wallet["autoTopUp"]["failuresInARow"] == 2
        assert wallet["balance"]["amount"] == 500
        clock.advance(timedelta(hours=2))
        assert await balance_changed(live, org, customer) is None  # paused: the same card is not tried again
        assert [s for _, s, _ in await attempts(live)] == ["failed", "failed"]
        assert (await sql(live.session_factory, "SELECT count(*) FROM orders WHERE billing_reason = 'wallet_top_up' AND metadata ? 'wallet_auto_top_up_id'"))[0][0] == 0

        clock.advance(timedelta(seconds=1))
        await save_card(live, localstripe, org, customer)  # a new payment method
        assert (await balance_changed(live, org, customer)).amount == 3500
        await run_worker(live, localstripe)
        wallet = await wallet_of(api, org.token, customer["id"])
        assert (wallet["balance"]["amount"], wallet["autoTopUp"]["pausedAt"], wallet["autoTopUp"]["failuresInARow"]) == (4000, None, 0)
        assert [k for k, _ in await wallet_events(live.session_factory)][-1] == "wallet.auto_top_up_succeeded"


async def test_no_saved_payment_method_fails_and_reconfiguring_restarts_a_paused_wallet(live, localstripe, clock):
    org = await make_org(live.session_factory, name="Seller")
    async with stripe_api(live.settings, live.session_factory, live.redis, localstripe) as api:
        customer = await create_customer(api, org.token, email="nm@example.com")
        result = await configure(api, org.token, customer, enabled=True, threshold=500, target=2000, maxFailures=1, cooldownSeconds=0)
        assert result["wallet"]["autoTopUp"]["enabled"] is True
        await run_worker(live, localstripe)  # the empty wallet was considered at once: no card to charge
        [(kind, payload)] = await wallet_events(live.session_factory)
        assert (kind, payload["data"]["reason"], payload["data"]["paused"]) == ("wallet.auto_top_up_failed", "no_payment_method", True)
        assert await balance_changed(live, org, customer) is None  # paused, and still no payment method
        again = await configure(api, org.token, customer, enabled=True, threshold=500, target=2000)  # the merchant restarts it
        assert again["wallet"]["autoTopUp"]["pausedAt"] is None
        assert sorted(s for _, s, _ in await attempts(live)) == ["failed", "pending"]


async def test_the_cooldown_and_the_monthly_cap(live, localstripe, clock):
    org = await make_org(live.session_factory, name="Seller")
    async with stripe_api(live.settings, live.session_factory, live.redis, localstripe) as api:
        customer, method = await _setup(
            live, localstripe, api, org, balance=5000, threshold=1000, target=5000, cooldownSeconds=600, monthlyCap=7000
        )
        await spend(api, org.token, customer["id"], 4500)
        assert (await balance_changed(live, org, customer)).amount == 4500
        await run_worker(live, localstripe)
        assert await balance_of(api, org.token, customer["id"]) == 5000
        await spend(api, org.token, customer["id"], 4600)  # a second fall, within the cooldown
        assert await balance_changed(live, org, customer) is None
        clock.advance(timedelta(seconds=601))
        attempt = await balance_changed(live, org, customer)
        assert attempt.amount == 2500  # the cap leaves 7000 - 4500, not the 4600 the target asks for
        await run_worker(live, localstripe)
        assert await balance_of(api, org.token, customer["id"]) == 2900
        await spend(api, org.token, customer["id"], 2500)
        clock.advance(timedelta(seconds=601))
        assert await balance_changed(live, org, customer) is None  # the cap is reached this month
        clock.set(datetime(2024, 3, 1, 0, 0, 1, tzinfo=timezone.utc))  # a new month
        assert (await balance_changed(live, org, customer)).amount == 4600
        await run_worker(live, localstripe)
        assert await balance_of(api, org.token, customer["id"]) == 5000
        assert [(a, s) for a, s, _ in await attempts(live)] == [(4500, "succeeded"), (2500, "succeeded"), (4600, "succeeded")]
        assert len(await intents_of(localstripe, method.processor_customer_id)) == 3


async def test_the_amount_respects_the_organizations_bounds(live, localstripe, clock):
    org = await make_org(live.session_factory, name="Seller")
    await sql(live.session_factory, "UPDATE organizations SET wallet_minimum_top_up = 1000, wallet_maximum_top_up = 3000 WHERE id = :id", id=org.id)
    async with stripe_api(live.settings, live.session_factory, live.redis, localstripe) as api:
        customer, _ = await _setup(live, localstripe, api, org, balance=2000, threshold=1500, target=9000, cooldownSeconds=0)
        await spend(api, org.token, customer["id"], 600)
        assert (await balance_changed(live, org, customer)).amount == 3000  # at most the maximum
        await run_worker(live, localstripe)
        assert await balance_of(api, org.token, customer["id"]) == 4400
        small = await create_customer(api, org.token, email="small@example.com")
        await save_card(live, localstripe, org, small)
        await configure(api, org.token, small, enabled=True, threshold=400, target=500, cooldownSeconds=0)
        [(amount,)] = await sql(
            live.session_factory, "SELECT a.amount FROM wallet_auto_top_ups a JOIN wallets w ON w.id = a.wallet_id WHERE w.customer_id = :c", c=_uuid(small["id"])
        )
        assert amount == 1000  # at least the minimum


async def test_configuration_is_validated(api, org, session_factory):
    customer = await create_customer(api, org.token, email="va@example.com")
    result = await configure(api, org.token, customer, enabled=True, threshold=1000, target=1000)
    assert [(f["path"], f["code"]) for f in result["fields"]] == [(["target"], "not_above_threshold")]
    result = await configure(api, org.token, customer, enabled=True, threshold=-1, target=10, monthlyCap=0, cooldownSeconds=-5, maxFailures=0)
    assert sorted(tuple(f["path"]) for f in result["fields"]) == [("cooldownSeconds",), ("maxFailures",), ("monthlyCap",), ("threshold",)]
    missing = await configure(api, org.token, {"id": "nope"}, enabled=True, threshold=1, target=10)
    assert missing["__typename"] == "NotFoundError"
    ok = await configure(api, org.token, customer, enabled=False, threshold=0, target=10, monthlyCap=100, cooldownSeconds=0, maxFailures=5)
    settings = ok["wallet"]["autoTopUp"]
    assert (settings["enabled"], settings["threshold"], settings["target"], settings["monthlyCap"], settings["cooldownSeconds"], settings["maxFailures"]) == (
        False, {"amount": 0}, {"amount": 10}, {"amount": 100}, 0, 5,
    )
    assert (await sql(session_factory, "SELECT count(*) FROM wallet_auto_top_ups"))[0][0] == 0
