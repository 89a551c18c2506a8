"""Redeeming a discount (app/discounts/service.py: redeem, what the checkout will call): every
reason it does not apply, on the kit's clock, and concurrent redemptions that never pass
`maxRedemptions`."""

from __future__ import annotations

import asyncio
from datetime import timedelta

import pytest
from sqlalchemy import text

from app.auth.service import operator_scope
from app.discounts import service
from app.discounts.errors import DiscountNotApplicable, NotApplicableReason
from app.kit.errors import NotFound
from app.kit.ids import from_global_id
from app.kit.tenancy import tenant_session
from tests.catalog.operations import create_product
from tests.conftest import FROZEN_AT, as_owner, make_org, tenant_factory
from tests.discounts.operations import ARCHIVE_DISCOUNT, GET_DISCOUNT, UPDATE_DISCOUNT, create_discount
from tests.operations import create_customer


def _id(global_id: str):
    return from_global_id(global_id)[1]


async def _redeem(session_factory, org, discount, customer, **kwargs):
    async with tenant_factory(session_factory, org.id)() as session:
        redemption = await service.redeem(session, operator_scope(org.id), _id(discount["id"]), _id(customer["id"]), **kwargs)
        await session.commit()
        return redemption


async def test_a_redemption_is_recorded_and_counted_at_the_clocks_time(api, org, session_factory, clock):
    discount = await create_discount(api, org.token, maxRedemptions=2)
    customer = await create_customer(api, org.token)
    redemption = await _redeem(session_factory, org, discount, customer)
    assert redemption.redeemed_at == FROZEN_AT
    read = (await api.data(GET_DISCOUNT, {"id": discount["id"]}, token=org.token))["discount"]
    assert read["redemptionsCount"] == 1
    await _redeem(session_factory, org, discount, customer)
    with pytest.raises(DiscountNotApplicable) as raised:
        await _redeem(session_factory, org, discount, customer)
    assert raised.value.reason is NotApplicableReason.exhausted
    # the limit cannot go below what was redeemed; raising it allows more
    result = (await api.data(UPDATE_DISCOUNT, {"input": {"id": discount["id"], "maxRedemptions": 1}}, token=org.token))["updateDiscount"]
    assert [f["code"] for f in result["fields"]] == ["out_of_range"]
    await api.data(UPDATE_DISCOUNT, {"input": {"id": discount["id"], "maxRedemptions": 3}}, token=org.token)
    await _redeem(session_factory, org, discount, customer)
    async with session_factory() as session, as_owner(session):
        assert await session.scalar(text("SELECT count(*) FROM discount_redemptions")) == 3


async def test_a_window_is_checked_on_the_clock(api, org, session_factory, clock):
    discount = await create_discount(
        api, org.token, startsAt=(FROZEN_AT + timedelta(days=1)).isoformat(), endsAt=(FROZEN_AT + timedelta(days=2)).isoformat()
    )
    customer = await create_customer(api, org.token)
    with pytest.raises(DiscountNotApplicable) as raised:
        await _redeem(session_factory, org, discount, customer)
    assert raised.value.reason is NotApplicableReason.not_started
    clock.advance(timedelta(days=1))
    await _redeem(session_factory, org, discount, customer)
    clock.advance(timedelta(days=1))  # ends_at itself is past the end
    with pytest.raises(DiscountNotApplicable) as raised:
        await _redeem(session_factory, org, discount, customer)
    assert raised.value.reason is NotApplicableReason.expired


async def test_other_product_other_currency_and_archived(api, org, session_factory):
    pro = await create_product(api, org.token, name="Pro")
    basic = await create_product(api, org.token, name="Basic")
    customer = await create_customer(api, org.token)
    restricted = await create_discount(api, org.token, productIds=[pro["id"]])
    with pytest.raises(DiscountNotApplicable) as raised:
        await _redeem(session_factory, org, restricted, customer, product_id=_id(basic["id"]))
    assert raised.value.reason is NotApplicableReason.other_product
    await _redeem(session_factory, org, restricted, customer, product_id=_id(pro["id"]))

    euros = await create_discount(api, org.token, percentage=None, fixed={"amount": 500, "currency": "eur"})
    with pytest.raises(DiscountNotApplicable) as raised:
        await _redeem(session_factory, org, euros, customer, currency="usd")
    assert raised.value.reason is NotApplicableReason.other_currency
    await _redeem(session_factory, org, euros, customer, currency="EUR")

    await api.data(ARCHIVE_DISCOUNT, {"input": {"id": euros["id"]}}, token=org.token)
    with pytest.raises(DiscountNotApplicable) as raised:
        await _redeem(session_factory, org, euros, customer, currency="eur")
    assert raised.value.reason is NotApplicableReason.archived


async def test_another_organizations_discount_or_customer_is_not_found(api, org, other_org, session_factory):
    discount = await create_discount(api, org.token)
    customer = await create_customer(api, org.token)
    theirs = await create_customer(api, other_org.token)
    with pytest.raises(NotFound):
        await _redeem(session_factory, other_org, discount, theirs)
    with pytest.raises(NotFound):
        await _redeem(session_factory, org, discount, theirs)
    await _redeem(session_factory, org, discount, customer)


async def test_find_by_code_ignores_case(api, org, other_org, session_factory):
    discount = await create_discount(api, org.token, code="Spring-24")
    async with tenant_factory(session_factory, org.id)() as session:
        found = await service.find_by_code(session, operator_scope(org.id), " SPRING-24 ")
        assert found.id == _id(discount["id"])
        with pytest.raises(NotFound):
            await service.find_by_code(session, operator_scope(org.id), "spring")
    async with tenant_factory(session_factory, other_org.id)() as session:
        with pytest.raises(NotFound):
            await service.find_by_code(session, operator_scope(other_org.id), "spring-24")


async def test_concurrent_redemptions_never_pass_the_limit(live):
    """20 customers redeem a discount limited to 3 at once, five times over: exactly 3 succeed
    each time, the others are told it is exhausted, and the count equals the rows."""
    org = await make_org(live.session_factory)
    scope = operator_scope(org.id)
    customers = [await create_customer(live.api, org.token, email=f"c{i}@example.com") for i in range(20)]

    async def attempt(discount_id, customer):
        async with tenant_session(live.session_factory, scope) as session:
            try:
                await service.redeem(session, scope, discount_id, _id(customer["id"]))
            except DiscountNotApplicable as exc:
                await session.rollback()
                return exc.reason
            await session.commit()
            return "redeemed"

    for round in range(5):
        discount = await create_discount(live.api, org.token, name=f"Limited {round}", maxRedemptions=3)
        outcomes = await asyncio.gather(*(attempt(_id(discount["id"]), customer) for customer in customers))
        assert outcomes.count("redeemed") == 3, outcomes
        assert outcomes.count(NotApplicableReason.exhausted) == 17
        read = (await live.api.data(GET_DISCOUNT, {"id": discount["id"]}, token=org.token))["discount"]
        assert read["redemptionsCount"] == 3
        async with live.session_factory() as session, as_owner(session):
            rows = await session.scalar(
                text("SELECT count(*) FROM discount_redemptions WHERE discount_id = :id"), {"id": _id(discount["id"])}
            )
        assert rows == 3
