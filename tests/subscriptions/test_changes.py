"""Pause and resume, and the guards of product and seat changes, through GraphQL: a pause waits
for the period's end, where the renewal pauses instead of renewing (no order), and the sweep never
picks a paused subscription; resuming starts a new period charged like a renewal; every new
operation answers typed errors and changes nothing on bad input or another organization's id; a
replayed idempotency key answers the first result with one effect; two concurrent changes of one
subscription apply once."""

from __future__ import annotations

import asyncio
import uuid
from datetime import datetime, timedelta, timezone

from app.auth.service import operator_scope
from app.kit.ids import from_global_id, to_global_id
from app.subscriptions import seats
from app.subscriptions import service as subscriptions
from tests.checkout_flow.operations import webhook_events
from tests.conftest import make_org, tenant_factory
from tests.orders.factories import merchant, rows
from tests.subscriptions.changes_operations import GET, PAUSE, PREVIEW, RESUME, UPDATE, answer, plan, subscribed

START = datetime(2027, 3, 1, tzinfo=timezone.utc)
END = datetime(2027, 4, 1, tzinfo=timezone.utc)


async def _renew(session_factory, org_id, clock, at: datetime) -> int:
    clock.set(at)
    async with tenant_factory(session_factory, org_id)() as session:
        claimed = await subscriptions.renew_due(session, operator_scope(org_id))
        await session.commit()
    return claimed


async def _types(session_factory) -> list[str]:
    return [type for type, _ in await webhook_events(session_factory, prefixes=("subscription.",))]


async def test_pause_at_the_period_end_then_resume_into_a_charged_period(api, org, session_factory, clock):
    clock.set(START)
    basic = await plan(session_factory, org.id, name="Basic", amount=1000)
    subscription = await subscribed(session_factory, org.id, basic, start=START, end=END, amount=1000)
    clock.set(START + timedelta(days=10))

    paused = await answer(api, org.token, PAUSE, {"id": subscription})
    assert paused["__typename"] == "PauseSubscriptionSuccess", paused
    assert (paused["subscription"]["status"], paused["subscription"]["pauseAtPeriodEnd"]) == ("ACTIVE", True)
    again = await answer(api, org.token, PAUSE, {"id": subscription})
    assert again["subscription"] == paused["subscription"]
    assert await _types(session_factory) == ["subscription.updated"]  # twice: one event

    # the renewal pauses it: no order, no entry
    assert await _renew(session_factory, org.id, clock, END + timedelta(seconds=30)) == 1
    state = (await api.data(GET, {"id": subscription}, token=org.token))["subscription"]
    assert (state["status"], state["pausedAt"], state["pauseAtPeriodEnd"], state["orders"], state["billingEntries"]) == ("PAUSED", END.isoformat(), False, [], [])
    events = await webhook_events(session_factory, prefixes=("subscription.",))
    assert [t for t, _ in events] == ["subscription.updated", "subscription.paused", "subscription.updated"]
    assert events[1][1]["data"]["status"] == "PAUSED"
    # the sweep never picks it again, however late
    assert await _renew(session_factory, org.id, clock, END + timedelta(days=90)) == 0
    # a paused subscription cannot change product or seats
    refused = await answer(api, org.token, UPDATE, {"id": subscription, "productId": basic.product_id, "prorationBehavior": "PRORATE", "idempotencyKey": "x"})
    assert (refused["__typename"], refused["status"]) == ("SubscriptionNotChangeableError", "PAUSED")

    resume_at = datetime(2027, 7, 15, 12, tzinfo=timezone.utc)
    clock.set(resume_at)
    resumed = await answer(api, org.token, RESUME, {"id": subscription, "idempotencyKey": "resume-1"})
    assert resumed["__typename"] == "ResumeSubscriptionSuccess", resumed
    state = resumed["subscription"]
    assert (state["status"], state["pausedAt"], state["currentPeriodStart"], state["currentPeriodEnd"]) == (
        "ACTIVE", None, resume_at.isoformat(), "2027-08-15T12:00:00+00:00"  # anchored again at the resumption
    )
    order = resumed["order"]
    assert (order["billingReason"], order["status"], order["dueAmount"]) == ("SUBSCRIPTION_CYCLE", "PENDING", 1000)
    # its charge was asked for as a renewal's, and is paid by the charge job
    async with tenant_factory(session_factory, org.id)() as session:
        jobs = [name for (requests,) in await rows(session, "SELECT jobs FROM job_outbox") for name, *_ in requests]
        assert "subscriptions.charge_orders" in jobs
        assert await subscriptions.charge_order(session, operator_scope(org.id), from_global_id(order["id"])[1], stripe=None) == "paid"
        await session.commit()
    # the same key again: the first answer, no second order
    replay = await answer(api, org.token, RESUME, {"id": subscription, "idempotencyKey": "resume-1"})
    assert replay["order"]["id"] == order["id"]
    state = (await api.data(GET, {"id": subscription}, token=org.token))["subscription"]
    assert [(o["status"], o["dueAmount"]) for o in state["orders"]] == [("PAID", 1000)]
    assert [(e["type"], e["startAt"]) for e in state["billingEntries"]] == [("CYCLE", resume_at.isoformat())]
    assert (await _types(session_factory))[-2:] == ["subscription.resumed", "subscription.updated"]
    # the next renewal is a month after the resumption
    assert await _renew(session_factory, org.id, clock, datetime(2027, 8, 15, 12, 0, 1, tzinfo=timezone.utc)) == 1


async def test_resume_takes_a_scheduled_pause_back_and_cancel_ends_a_paused_one(api, org, session_factory, clock):
    clock.set(START)
    basic = await plan(session_factory, org.id, name="Basic", amount=1000)
    first = await subscribed(session_factory, org.id, basic, start=START, end=END, amount=1000)
    second = await subscribed(session_factory, org.id, basic, start=START, end=END, amount=1000)
    await answer(api, org.token, PAUSE, {"id": first})
    taken_back = await answer(api, org.token, RESUME, {"id": first, "idempotencyKey": "r"})
    assert (taken_back["subscription"]["pauseAtPeriodEnd"], taken_back["order"]) == (False, None)
    assert await _types(session_factory) == ["subscription.updated", "subscription.resumed", "subscription.updated"]

    await answer(api, org.token, PAUSE, {"id": second})
    clock.set(END + timedelta(seconds=5))
    async with tenant_factory(session_factory, org.id)() as session:
        assert await subscriptions.renew_due(session, operator_scope(org.id)) == 2  # one renewed, one paused
        await session.commit()
    renewed = (await api.data(GET, {"id": first}, token=org.token))["subscription"]
    assert (renewed["status"], len(renewed["orders"])) == ("ACTIVE", 1)
    cancel = "mutation($input: CancelSubscriptionInput!) { cancelSubscription(input: $input) { __typename ... on CancelSubscriptionSuccess { subscription { status endedAt } } } }"
    canceled = (await api.data(cancel, {"input": {"id": second}}, token=org.token))["cancelSubscription"]
    assert canceled["subscription"] == {"status": "CANCELED", "endedAt": clock.now().isoformat()}
    refused = await answer(api, org.token, PAUSE, {"id": second})
    assert (refused["__typename"], refused["code"], refused["status"]) == ("SubscriptionNotChangeableError", "SUBSCRIPTION_NOT_CHANGEABLE", "CANCELED")
    refused = await answer(api, org.token, RESUME, {"id": second, "idempotencyKey": "r2"})
    assert (refused["__typename"], refused["status"]) == ("SubscriptionNotChangeableError", "CANCELED")


async def test_bad_input_and_other_organizations_ids_are_typed_errors_that_change_nothing(api, org, session_factory, clock):
    clock.set(START)
    other = await make_org(session_factory, name="Other")
    basic = await plan(session_factory, org.id, name="Basic", amount=1000)
    team = await plan(session_factory, org.id, name="Team", per_seat=1000)
    yearly = await plan(session_factory, org.id, name="Yearly", amount=10000, interval="year")
    euro = await plan(session_factory, org.id, name="Euro", amount=1000, currency="eur")
    archived = await plan(session_factory, org.id, name="Old", amount=500)
    theirs_plan = await plan(session_factory, other.id, name="Theirs", amount=2000)
    mine = await subscribed(session_factory, org.id, basic, start=START, end=END, amount=1000)
    seated = await subscribed(session_factory, org.id, team, start=START, end=END, amount=3000, seats=3)
    theirs = await subscribed(session_factory, other.id, theirs_plan, start=START, end=END, amount=2000)
    clock.set(START + timedelta(days=3))
    before = (await api.data(GET, {"id": mine}, token=org.token))["subscription"], (await api.data(GET, {"id": seated}, token=org.token))["subscription"]
    events = await _types(session_factory)
    unknown = to_global_id("Subscription", uuid.uuid4())

    def change(id: str, **fields) -> dict:
        return {"id": id, "prorationBehavior": "INVOICE"} | fields

    for id in (unknown, theirs, "not an id"):
        for operation, input in ((PAUSE, {"id": id}), (RESUME, {"id": id, "idempotencyKey": f"r-{id}"}), (UPDATE, change(id, seats=4, idempotencyKey=f"u-{id}")), (PREVIEW, change(id, seats=4))):
            result = await answer(api, org.token, operation, input)
            assert (result["__typename"], result["code"]) == ("NotFoundError", "NOT_FOUND"), (id, operation, result)

    cases = [
        (change(seated, seats=0), ("ValidationError", ["seats"])),
        (change(seated, seats=10001), ("ValidationError", ["seats"])),
        (change(mine, seats=2), ("SubscriptionChangeNotAllowedError", "NOT_SEAT_PRICED")),
        (change(mine, productId=to_global_id("Product", uuid.uuid4())), ("ValidationError", ["productId"])),
        (change(mine, productId=theirs_plan.product_id), ("ValidationError", ["productId"])),  # another organization's product: not found
        (change(mine, productId=mine), ("ValidationError", ["productId"])),  # not a product id
        (change(mine, productId=yearly.product_id), ("SubscriptionChangeNotAllowedError", "OTHER_INTERVAL")),
        (change(mine, productId=euro.product_id), ("SubscriptionChangeNotAllowedError", "OTHER_CURRENCY")),
        (change(mine, productId=basic.product_id), ("SubscriptionChangeNotAllowedError", "SAME_AS_CURRENT")),
        (change(seated, seats=3), ("SubscriptionChangeNotAllowedError", "SAME_AS_CURRENT")),
        (change(mine), ("SubscriptionChangeNotAllowedError", "SAME_AS_CURRENT")),
    ]
    for input, expected in cases:
        for operation, extra in ((PREVIEW, {}), (UPDATE, {"idempotencyKey": str(uuid.uuid4())})):
            result = await answer(api, org.token, operation, input | extra)
            got = (result["__typename"], [f["path"][0] for f in result["fields"]] if result["__typename"] == "ValidationError" else result.get("reason"))
            assert got == expected, (input, operation, result)
    # seats below the seats held (two given): SeatsBelowHeldError, with both counts
    async with tenant_factory(session_factory, org.id)() as session:
        for n in range(2):
            await seats.assign_seat(session, merchant(org.id), from_global_id(seated)[1], email=f"p{n}@example.com")
        await session.commit()
    before = before[0], (await api.data(GET, {"id": seated}, token=org.token))["subscription"]
    events = await _types(session_factory)
    for operation, extra in ((PREVIEW, {}), (UPDATE, {"idempotencyKey": "below"})):
        result = await answer(api, org.token, operation, change(seated, seats=1) | extra)
        assert (result["__typename"], result["code"], result["requestedSeats"], result["seatsHeld"]) == ("SeatsBelowHeldError", "SEATS_BELOW_HELD", 1, 2), result
    # `at` outside the current period
    for at in (START - timedelta(seconds=1), END):
        result = await answer(api, org.token, PREVIEW, change(seated, seats=4, at=at.isoformat()))
        assert (result["__typename"], result["fields"][0]["path"]) == ("ValidationError", ["at"]), result
    # an archived product
    async with tenant_factory(session_factory, org.id)() as session:
        await rows(session, "UPDATE products SET archived_at = now() WHERE id = :id RETURNING id", id=from_global_id(archived.product_id)[1])
        await session.commit()
    result = await answer(api, org.token, UPDATE, change(mine, productId=archived.product_id, idempotencyKey="arch"))
    assert (result["__typename"], result["reason"]) == ("SubscriptionChangeNotAllowedError", "ARCHIVED")

    after = (await api.data(GET, {"id": mine}, token=org.token))["subscription"], (await api.data(GET, {"id": seated}, token=org.token))["subscription"]
    assert after == before and await _types(session_factory) == events  # nothing changed, nothing emitted
    assert (await api.data(GET, {"id": theirs}, token=other.token))["subscription"]["seats"] is None

    # an ended subscription
    revoke = "mutation($input: RevokeSubscriptionInput!) { revokeSubscription(input: $input) { __typename } }"
    await api.data(revoke, {"input": {"id": mine}}, token=org.token)
    for operation, input in ((PAUSE, {"id": mine}), (UPDATE, change(mine, productId=team.product_id, seats=2, idempotencyKey="e")), (PREVIEW, change(mine, productId=team.product_id, seats=2))):
        result = await answer(api, org.token, operation, input)
        assert (result["__typename"], result["status"]) == ("SubscriptionNotChangeableError", "CANCELED"), result


async def test_a_replayed_key_answers_the_first_change_once(api, org, session_factory, clock):
    clock.set(START)
    team = await plan(session_factory, org.id, name="Team", per_seat=1000)
    seated = await subscribed(session_factory, org.id, team, start=START, end=END, amount=3000, seats=3)
    clock.set(datetime(2027, 3, 16, tzinfo=timezone.utc))
    input = {"id": seated, "seats": 5, "prorationBehavior": "INVOICE", "idempotencyKey": "seats-to-5"}
    first = await answer(api, org.token, UPDATE, input)
    clock.advance(timedelta(hours=1))
    second = await answer(api, org.token, UPDATE, input)
    assert second["order"]["id"] == first["order"]["id"] and second["change"] == first["change"]
    reused = await answer(api, org.token, UPDATE, input | {"seats": 6})
    assert (reused["__typename"], reused["code"]) == ("UnexpectedDomainError", "IDEMPOTENCY_KEY_REUSED")
    state = (await api.data(GET, {"id": seated}, token=org.token))["subscription"]
    assert (state["seats"], len(state["orders"]), [e["amount"] for e in state["billingEntries"]]) == (5, 1, [1032])
    missing = await api.gql(UPDATE, {"input": {"id": seated, "seats": 6, "prorationBehavior": "INVOICE"}}, token=org.token)
    assert missing["errors"] and missing.get("data") is None  # the key is required


async def test_two_concurrent_changes_of_one_subscription_apply_once(live, clock):
    org = await make_org(live.session_factory, name="Live")
    clock.set(START)
    team = await plan(live.session_factory, org.id, name="Team", per_seat=1000)
    seated = await subscribed(live.session_factory, org.id, team, start=START, end=END, amount=3000, seats=3)
    clock.set(datetime(2027, 3, 16, tzinfo=timezone.utc))

    async def change(key: str) -> dict:
        return await answer(live.api, org.token, UPDATE, {"id": seated, "seats": 5, "prorationBehavior": "PRORATE", "idempotencyKey": key})

    results = await asyncio.gather(*(change(f"k{n}") for n in range(4)))
    kinds = sorted(r["__typename"] + ":" + (r.get("reason") or "") for r in results)
    assert kinds == ["SubscriptionChangeNotAllowedError:SAME_AS_CURRENT"] * 3 + ["UpdateSubscriptionSuccess:"], results
    state = (await live.api.data(GET, {"id": seated}, token=org.token))["subscription"]
    assert (state["seats"], [(e["type"], e["amount"]) for e in state["billingEntries"]]) == (5, [("SEATS_INCREASE", 1032)])
