"""Expiry, by moving the kit's clock: past `expiresAt` a checkout can no longer be changed or paid
(even before the sweep marks it), the worker's `checkouts.expire` sweep marks open and failed ones
EXPIRED with a `checkout.expired` webhook event each (once), and one not yet due stays open."""

from __future__ import annotations

from datetime import timedelta

from tests.checkout_flow.operations import (
    DECLINED,
    GET_CHECKOUT,
    LIST_CHECKOUTS,
    UPDATE_CHECKOUT,
    card,
    confirm_session,
    create_checkout,
    flow_counts,
    one_time_product,
    stripe_api,
    stripe_client,
    update_session,
    webhook_events,
)
from tests.conftest import FROZEN_AT, make_org


async def _sweep(live) -> None:
    """The sweep, as the worker runs it (its cron job, asked for now)."""
    await live.redis.enqueue_job("checkouts.expire")
    await live.run_worker()


async def test_checkouts_expire_by_the_clock_and_then_cannot_be_paid(live, localstripe, clock):
    org = await make_org(live.session_factory, name="Seller")
    async with stripe_api(live.settings, live.session_factory, live.redis, localstripe) as api:
        product = await one_time_product(api, org.token)
        price_id = product["prices"][0]["id"]
        soon = await create_checkout(api, org.token, productPriceId=price_id, expiresInSeconds=60, customer={"email": "sam@example.com"})
        failed = await create_checkout(api, org.token, productPriceId=price_id, expiresInSeconds=120, customer={"email": "tia@example.com"})
        declined = await confirm_session(api, failed["clientSecret"], paymentMethod=await card(localstripe, DECLINED))
        assert declined["checkout"]["status"] == "FAILED", declined
        later = await create_checkout(api, org.token, productPriceId=price_id)  # an hour

        clock.advance(timedelta(seconds=59))
        await _sweep(live)
        assert await _statuses(api, org, soon, failed, later) == ["OPEN", "FAILED", "OPEN"]

        clock.advance(timedelta(seconds=62))  # 121 s: past both, before the sweep has run
        card_id = await card(localstripe)
        early = await confirm_session(api, soon["clientSecret"], paymentMethod=card_id)
        assert (early["__typename"], early["status"]) == ("CheckoutNotOpenError", "EXPIRED"), early
        assert (await stripe_client(localstripe).v1.payment_methods.retrieve_async(card_id)).customer is None  # Stripe was never asked

        await _sweep(live)
        assert await _statuses(api, org, soon, failed, later) == ["EXPIRED", "EXPIRED", "OPEN"]
        expired = [(type, payload["data"]) for type, payload in await webhook_events(live.session_factory) if type == "checkout.expired"]
        assert sorted(data["id"] for _, data in expired) == sorted([soon["id"], failed["id"]])
        assert {data["status"] for _, data in expired} == {"EXPIRED"}
        assert {data["expiresAt"] for _, data in expired} == {
            (FROZEN_AT + timedelta(seconds=60)).isoformat(),
            (FROZEN_AT + timedelta(seconds=120)).isoformat(),
        }
        listed = (await api.data(LIST_CHECKOUTS, {"filter": {"status": "EXPIRED"}}, token=org.token))["checkouts"]
        assert listed["totalCount"] == 2

        counts = await flow_counts(live.session_factory)
        for checkout in (soon, failed):
            answer = await confirm_session(api, checkout["clientSecret"], paymentMethod=await card(localstripe))
            assert (answer["__typename"], answer["code"], answer["status"]) == ("CheckoutNotOpenError", "CHECKOUT_NOT_OPEN", "EXPIRED"), answer
            answer = await update_session(api, checkout["clientSecret"], customer={"name": "Late"})
            assert (answer["__typename"], answer["status"]) == ("CheckoutNotOpenError", "EXPIRED"), answer
            answer = (await api.data(UPDATE_CHECKOUT, {"input": {"id": checkout["id"], "metadata": {"late": True}}}, token=org.token))["updateCheckout"]
            assert (answer["__typename"], answer["status"]) == ("CheckoutNotOpenError", "EXPIRED"), answer
        assert await flow_counts(live.session_factory) == counts

        # The sweep again, and later: nothing more to expire, no event twice.
        clock.advance(timedelta(minutes=30))
        await _sweep(live)
        assert len([type for type, _ in await webhook_events(live.session_factory) if type == "checkout.expired"]) == 2

        # The one not due yet is still payable until its hour is up.
        paid = await update_session(api, later["clientSecret"], customer={"email": "uma@example.com"})
        assert paid["__typename"] == "UpdateCheckoutSuccess", paid
        answer = await confirm_session(api, later["clientSecret"], paymentMethod=await card(localstripe))
        assert answer["__typename"] == "ConfirmCheckoutSuccess" and answer["checkout"]["status"] == "SUCCEEDED", answer


async def _statuses(api, org, *checkouts) -> list[str]:
    return [(await api.data(GET_CHECKOUT, {"id": c["id"]}, token=org.token))["checkout"]["status"] for c in checkouts]
