"""Seats of a per-seat subscription (seed 003): given to members directly or through an invitation
by email (pending -> claimed with its token), revoked; never more given or offered than bought,
also when many assignments race; a seat count below the seats held is refused."""

from __future__ import annotations

import asyncio

import pytest
from sqlalchemy import select

from app.catalog.service import PriceDraft, SeatTierDraft
from app.checkouts import service as checkouts
from app.checkouts.service import CheckoutDraft
from app.kit.errors import NotFound, ValidationFailed
from app.kit.tenancy import tenant_session
from app.members.service import MemberDraft
from app.models import Member
from app.models.subscription import Subscription
from app.subscriptions import seats
from app.subscriptions.errors import SeatLimitReached, SeatsBelowHeld
from tests.conftest import make_org, tenant_factory
from tests.orders.factories import make_customer, make_product, merchant, rows

SEATS = PriceDraft(type="seat_unit", seat_tiers=[SeatTierDraft(1, None, 1000)])


async def _seated(session, subject, *, seats_bought: int, members: int = 3):
    _, price = await make_product(session, subject, SEATS, recurring_interval="month")
    customer = await make_customer(
        session,
        subject,
        type="business",
        email="billing@acme.example",
        billing_name="Acme",
        owner=MemberDraft(email="owner@acme.example"),
        members=[MemberDraft(email=f"m{i}@acme.example") for i in range(members)],
    )
    checkout = await checkouts.create_checkout(
        session, subject, CheckoutDraft(product_price_id=price.id, customer_id=customer.id, seats=seats_bought, payment_processor="manual"), stripe_configured=False
    )
    await checkouts.confirm_checkout(session, subject, checkout.id, payment_method=None, processor=None)
    subscription = await session.scalar(select(Subscription).where(Subscription.checkout_id == checkout.id))
    team = (await session.scalars(select(Member).where(Member.customer_id == customer.id).order_by(Member.email))).all()
    return subscription, team


async def test_seats_are_given_offered_claimed_and_revoked_within_what_was_bought(session_factory, org):
    subject = merchant(org.id)
    async with tenant_factory(session_factory, org.id)() as session:
        subscription, team = await _seated(session, subject, seats_bought=2)
        assert (subscription.seats, subscription.amount) == (2, 2000)
        first, token = await seats.assign_seat(session, subject, subscription.id, member_id=team[0].id)
        assert (first.status, first.member_id, token) == ("claimed", team[0].id, None)
        with pytest.raises(ValidationFailed) as twice:
            await seats.assign_seat(session, subject, subscription.id, member_id=team[0].id)
        assert twice.value.issues[0].code == "already_seated"
        invited, token = await seats.assign_seat(session, subject, subscription.id, email="new.hire@acme.example")
        assert invited.status == "pending" and token.startswith("kassa_seat_")
        with pytest.raises(SeatLimitReached):
            await seats.assign_seat(session, subject, subscription.id, member_id=team[1].id)
        with pytest.raises(SeatsBelowHeld):
            await seats.check_seat_count(session, subject.scope, subscription, 1)
        await seats.check_seat_count(session, subject.scope, subscription, 2)
        claimed = await seats.claim_seat(session, subject, token, name="New Hire")
        member = await session.get(Member, claimed.member_id)
        assert (claimed.status, member.email, member.role, member.customer_id) == ("claimed", "new.hire@acme.example", "member", subscription.customer_id)
        with pytest.raises(NotFound):
            await seats.claim_seat(session, subject, token)  # once
        await seats.revoke_seat(session, subject, first.id)
        again, _ = await seats.assign_seat(session, subject, subscription.id, member_id=team[1].id)  # the freed seat
        assert again.status == "claimed"
        [held] = await seats.load_subscriptions_of_members(session, subject.scope, [member.id])
        assert [s.id for s in held] == [subscription.id]
        events = [row[0] for row in await rows(session, "SELECT type FROM webhook_events WHERE type LIKE 'customer_seat.%' ORDER BY sequence")]
        assert events == [
            "customer_seat.assigned", "customer_seat.claimed",  # a member, at once
            "customer_seat.assigned",  # an invitation
            "customer_seat.claimed",
            "customer_seat.revoked",
            "customer_seat.assigned", "customer_seat.claimed",
        ]
        await session.rollback()


async def test_bad_seat_input_is_refused(session_factory, org, other_org):
    subject = merchant(org.id)
    async with tenant_factory(session_factory, org.id)() as session:
        subscription, team = await _seated(session, subject, seats_bought=2)
        for kwargs, code in (({}, "one_of"), ({"member_id": team[0].id, "email": "x@acme.example"}, "one_of"), ({"email": "not-an-email"}, "invalid_email")):
            with pytest.raises(ValidationFailed) as refused:
                await seats.assign_seat(session, subject, subscription.id, **kwargs)
            assert refused.value.issues[0].code == code
        stranger = await make_customer(session, subject, email="someone@else.example")
        with pytest.raises(ValidationFailed):
            await seats.assign_seat(session, subject, subscription.id, member_id=(await session.scalar(select(Member.id).where(Member.customer_id == stranger.id))))
        for token in ("kassa_seat_unknown", "nonsense"):
            with pytest.raises(NotFound):
                await seats.claim_seat(session, subject, token)
        subscription_id = subscription.id
        await session.commit()
    async with tenant_factory(session_factory, other_org.id)() as session:
        with pytest.raises(NotFound):  # another organization's subscription
            await seats.assign_seat(session, merchant(other_org.id), subscription_id, email="x@acme.example")


async def test_concurrent_assignments_never_give_more_seats_than_bought(live):
    org = await make_org(live.session_factory)
    subject = merchant(org.id)
    async with tenant_session(live.session_factory, subject.scope) as session:
        subscription, _ = await _seated(session, subject, seats_bought=3, members=0)
        subscription_id = subscription.id
        await session.commit()

    async def assign(n: int) -> str:
        async with tenant_session(live.session_factory, subject.scope) as session:
            try:
                await seats.assign_seat(session, subject, subscription_id, email=f"p{n}@acme.example")
            except SeatLimitReached:
                await session.rollback()
                return "full"
            await session.commit()
            return "given"

    for round in range(5):
        outcomes = await asyncio.gather(*(assign(round * 100 + n) for n in range(8)))
        assert outcomes.count("given") == (3 if round == 0 else 0), outcomes
    async with tenant_session(live.session_factory, subject.scope) as session:
        assert await seats.live_count(session, subject.scope, subscription_id) == 3
