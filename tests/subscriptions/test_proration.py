"""Per-second proration of product and seat changes, against a table computed by hand: upgrade,
downgrade, seats up and down, one second into a period, in its middle and in its last hour, of a
month and of a year, in USD and in JPY (no minor unit). Each row is previewed, then applied at the
same clock moment: the preview, the change's answer, the billing entries and the order agree to
the unit. Then where the money goes: `PRORATE` lines in the next renewal order, credit beyond an
order carried to the next one, `INVOICE` charged exactly what the preview said is due now."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

import pytest

from app.auth.service import operator_scope
from app.kit.ids import from_global_id
from app.subscriptions import service as subscriptions
from tests.conftest import tenant_factory
from tests.subscriptions.changes_operations import GET, PREVIEW, UPDATE, answer, plan, subscribed


def utc(*args: int) -> datetime:
    return datetime(*args, tzinfo=timezone.utc)


# The periods: March 2027 (31 days = 2,678,400 s) and the year 2027 (365 days = 31,536,000 s).
PERIODS = {"month": (utc(2027, 3, 1), utc(2027, 4, 1)), "year": (utc(2027, 1, 1), utc(2028, 1, 1))}
# Prices: (basic, pro, per seat) of one period.
PRICES = {("usd", "month"): (1000, 3000, 1000), ("usd", "year"): (10000, 30000, 10000), ("jpy", "month"): (980, 2980, 500), ("jpy", "year"): (9800, 29800, 5000)}
# The moments, and for each the prorated basic, pro and 2-seat difference, worked out by hand:
# amount x remaining / length, rounded half away from zero.
MOMENTS = {
    ("usd", "month"): [
        (utc(2027, 3, 1, 0, 0, 1), 1000, 3000, 2000),  # 2,678,399 s left: 999.9996 -> 1000, 2999.9989 -> 3000, 1999.9993 -> 2000
        (utc(2027, 3, 16), 516, 1548, 1032),  # 16/31 left: 516.13, 1548.39, 1032.26
        (utc(2027, 3, 31, 23), 1, 4, 3),  # 3600 s left: 1.344, 4.032, 2.688
    ],
    ("usd", "year"): [
        (utc(2027, 1, 1, 0, 0, 1), 10000, 30000, 20000),  # 31,535,999 s left: 9999.9997, 29999.999, 19999.9994
        (utc(2027, 7, 2, 12), 5000, 15000, 10000),  # exactly half
        (utc(2027, 12, 31, 23), 1, 3, 2),  # 3600 s left: 1.142, 3.425, 2.283
    ],
    ("jpy", "month"): [
        (utc(2027, 3, 1, 0, 0, 1), 980, 2980, 1000),  # 979.9996, 2979.9989, 999.9996
        (utc(2027, 3, 16), 506, 1538, 516),  # 16/31 left: 505.81, 1538.06, 516.13
        (utc(2027, 3, 31, 23), 1, 4, 1),  # 3600 s left: 1.317, 4.005, 1.344
    ],
    ("jpy", "year"): [
        (utc(2027, 1, 1, 0, 0, 1), 9800, 29800, 10000),
        (utc(2027, 7, 2, 12), 4900, 14900, 5000),  # exactly half
        (utc(2027, 12, 31, 23), 1, 3, 1),  # 3600 s left: 1.119, 3.402, 1.142
    ],
}
BEHAVIORS = ["INVOICE", "PRORATE", "INVOICE"]  # by moment


def _rows():
    for (currency, interval), moments in MOMENTS.items():
        for index, (at, basic, pro, seats) in enumerate(moments):
            behavior = BEHAVIORS[index]
            for kind, lines in (
                ("upgrade", [("PRORATION", "CREDIT", basic), ("PRORATION", "DEBIT", pro)]),
                ("downgrade", [("PRORATION", "CREDIT", pro), ("PRORATION", "DEBIT", basic)]),
                ("seats_up", [("SEATS_INCREASE", "DEBIT", seats)]),
                ("seats_down", [("SEATS_DECREASE", "CREDIT", seats)]),
            ):
                yield pytest.param(currency, interval, at, kind, behavior, lines, id=f"{currency}-{interval}-{at:%m%d%H%M%S}-{kind}-{behavior.lower()}")


async def _setup(session_factory, org, currency: str, interval: str, kind: str) -> tuple[str, dict]:
    """The subscription a row changes, and the change's input."""
    start, end = PERIODS[interval]
    basic_amount, pro_amount, per_seat = PRICES[(currency, interval)]
    common = {"currency": currency, "interval": interval}
    if kind in ("upgrade", "downgrade"):
        basic = await plan(session_factory, org.id, name="Basic", amount=basic_amount, **common)
        pro = await plan(session_factory, org.id, name="Pro", amount=pro_amount, **common)
        old, new, amount = (basic, pro, basic_amount) if kind == "upgrade" else (pro, basic, pro_amount)
        subscription = await subscribed(session_factory, org.id, old, start=start, end=end, amount=amount, **common)
        return subscription, {"productId": new.product_id}
    team = await plan(session_factory, org.id, name="Team", per_seat=per_seat, **common)
    seats = 3 if kind == "seats_up" else 5
    subscription = await subscribed(session_factory, org.id, team, start=start, end=end, amount=seats * per_seat, seats=seats, **common)
    return subscription, {"seats": 5 if kind == "seats_up" else 3}


@pytest.mark.parametrize(("currency", "interval", "at", "kind", "behavior", "lines"), list(_rows()))
async def test_the_proration_table_previewed_and_applied(api, org, session_factory, clock, currency, interval, at, kind, behavior, lines):
    start, end = PERIODS[interval]
    clock.set(start)
    subscription, change = await _setup(session_factory, org, currency, interval, kind)
    clock.set(at)
    change |= {"id": subscription, "prorationBehavior": behavior}

    preview = await answer(api, org.token, PREVIEW, change | {"at": at.isoformat()})
    assert preview["__typename"] == "SubscriptionUpdatePreview", preview
    assert [(l["type"], l["direction"], l["amount"]["amount"]) for l in preview["lines"]] == lines
    assert all(l["amount"]["currency"] == currency and (l["startAt"], l["endAt"]) == (at.isoformat(), end.isoformat()) for l in preview["lines"])
    net = sum(amount if direction == "DEBIT" else -amount for _type, direction, amount in lines)
    invoiced = behavior == "INVOICE" and net > 0
    assert preview["subtotal"]["amount"] == preview["total"]["amount"] == net  # no discount, no tax here
    assert (preview["dueNow"]["amount"], preview["addedToNextOrder"]["amount"]) == ((net, 0) if invoiced else (0, net))

    applied = await answer(api, org.token, UPDATE, change | {"idempotencyKey": f"row-{kind}"})
    assert applied["__typename"] == "UpdateSubscriptionSuccess", applied
    assert applied["change"] == {k: v for k, v in preview.items() if k != "__typename"}  # the same numbers, to the unit
    assert applied["subscription"]["amount"] == preview["newPeriodAmount"]["amount"]
    state = (await api.data(GET, {"id": subscription}, token=org.token))["subscription"]
    entries = [e for e in state["billingEntries"] if e["type"] != "CYCLE"]
    assert sorted((e["type"], e["direction"], e["amount"], e["startAt"], e["endAt"]) for e in entries) == sorted(
        (l["type"], l["direction"], l["amount"]["amount"], l["startAt"], l["endAt"]) for l in preview["lines"]
    )
    order = applied["order"]
    if invoiced:
        assert (order["billingReason"], order["subtotalAmount"], order["totalAmount"], order["dueAmount"]) == ("SUBSCRIPTION_UPDATE", net, net, net)
        assert sorted(i["amount"] for i in order["items"]) == sorted(a if d == "DEBIT" else -a for _t, d, a in lines)
        assert all(i["proration"] for i in order["items"])
        assert {e["orderId"] for e in entries} == {order["id"]}
    else:
        assert order is None and {e["orderId"] for e in entries} == {None}  # pending: the next order bills them


async def _renew(session_factory, org_id, clock, at: datetime) -> None:
    clock.set(at)
    async with tenant_factory(session_factory, org_id)() as session:
        assert await subscriptions.renew_due(session, operator_scope(org_id)) == 1
        await session.commit()


async def test_prorate_lines_go_into_the_next_renewal_order(api, org, session_factory, clock):
    start, end = PERIODS["month"]
    clock.set(start)
    basic = await plan(session_factory, org.id, name="Basic", amount=1000)
    pro = await plan(session_factory, org.id, name="Pro", amount=3000)
    subscription = await subscribed(session_factory, org.id, basic, start=start, end=end, amount=1000)
    clock.set(utc(2027, 3, 16))
    applied = await answer(api, org.token, UPDATE, {"id": subscription, "productId": pro.product_id, "prorationBehavior": "PRORATE", "idempotencyKey": "k"})
    assert applied["change"]["addedToNextOrder"]["amount"] == 1548 - 516 and applied["order"] is None

    await _renew(session_factory, org.id, clock, end + timedelta(seconds=1))
    state = (await api.data(GET, {"id": subscription}, token=org.token))["subscription"]
    [order] = state["orders"]
    assert (order["billingReason"], order["subtotalAmount"], order["dueAmount"]) == ("SUBSCRIPTION_CYCLE", 3000 + 1548 - 516, 4032)
    assert sorted((i["amount"], i["proration"]) for i in order["items"]) == [(-516, True), (1548, True), (3000, False)]
    assert {e["orderId"] for e in state["billingEntries"]} == {order["id"]}  # every entry billed, once
    # the next renewal bills the new price alone
    await _renew(session_factory, org.id, clock, utc(2027, 5, 1, 0, 0, 1))
    state = (await api.data(GET, {"id": subscription}, token=org.token))["subscription"]
    assert [o["subtotalAmount"] for o in state["orders"]] == [4032, 3000]


async def test_credit_beyond_an_order_is_carried_to_the_next(api, org, session_factory, clock):
    """Pro (3000) to Basic (1000) one second in: credit 3000, debit 1000. The first renewal bills
    1000 + 1000 and can take 2000 of the credit (subtotal 0); the other 1000 waits for the
    second renewal (subtotal 0 again); the third bills 1000. The credit's parts add up to 3000."""
    start, end = PERIODS["month"]
    clock.set(start)
    basic = await plan(session_factory, org.id, name="Basic", amount=1000)
    pro = await plan(session_factory, org.id, name="Pro", amount=3000)
    subscription = await subscribed(session_factory, org.id, pro, start=start, end=end, amount=3000)
    clock.set(start + timedelta(seconds=1))
    applied = await answer(api, org.token, UPDATE, {"id": subscription, "productId": basic.product_id, "prorationBehavior": "INVOICE", "idempotencyKey": "k"})
    assert applied["order"] is None and applied["change"]["addedToNextOrder"]["amount"] == -2000  # a net credit is never invoiced

    for at in (utc(2027, 4, 1, 0, 0, 1), utc(2027, 5, 1, 0, 0, 1), utc(2027, 6, 1, 0, 0, 1)):
        await _renew(session_factory, org.id, clock, at)
    state = (await api.data(GET, {"id": subscription}, token=org.token))["subscription"]
    first, second, third = state["orders"]
    assert [(o["subtotalAmount"], o["dueAmount"], o["status"]) for o in state["orders"]] == [(0, 0, "PAID"), (0, 0, "PAID"), (1000, 1000, "PENDING")]
    assert sorted(i["amount"] for i in first["items"]) == [-2000, 1000, 1000]
    assert sorted(i["amount"] for i in second["items"]) == [-1000, 1000]
    credits = [e for e in state["billingEntries"] if e["direction"] == "CREDIT"]
    assert sorted((e["amount"], e["orderId"]) for e in credits) == sorted([(2000, first["id"]), (1000, second["id"])])
    assert all(e["orderId"] is not None for e in state["billingEntries"])


async def test_invoice_charges_exactly_the_previewed_amount(api, org, session_factory, clock):
    start, end = PERIODS["month"]
    clock.set(start)
    team = await plan(session_factory, org.id, name="Team", per_seat=1000)
    subscription = await subscribed(session_factory, org.id, team, start=start, end=end, amount=3000, seats=3)
    at = utc(2027, 3, 16)
    clock.set(at)
    change = {"id": subscription, "seats": 5, "prorationBehavior": "INVOICE"}
    preview = await answer(api, org.token, PREVIEW, change | {"at": at.isoformat()})
    assert preview["dueNow"]["amount"] == 1032
    applied = await answer(api, org.token, UPDATE, change | {"idempotencyKey": "seats-5"})
    order = applied["order"]
    assert (order["status"], order["dueAmount"]) == ("PENDING", 1032)
    async with tenant_factory(session_factory, org.id)() as session:
        outcome = await subscriptions.charge_order(session, operator_scope(org.id), from_global_id(order["id"])[1], stripe=None)
        await session.commit()
    assert outcome == "paid"
    state = (await api.data(GET, {"id": subscription}, token=org.token))["subscription"]
    assert [(o["billingReason"], o["status"], o["dueAmount"]) for o in state["orders"]] == [("SUBSCRIPTION_UPDATE", "PAID", preview["dueNow"]["amount"])]
    assert (state["seats"], state["amount"]) == (5, 5000)
