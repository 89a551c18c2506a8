"""Seats of a per-seat subscription (seed 003): given to a member of the subscription's customer
directly, or offered by email (`pending`, with a claim token shown once) and claimed; revoked.

Never more live seats (pending or claimed) than the subscription's `seats`: every assignment
counts them under the subscription's row lock, so concurrent assignments queue and the last seat
is given once. Claiming an invitation makes the invited person a member of the business (or uses
the member who already has that email). Revoking frees the seat at once.
"""

from __future__ import annotations

import hashlib
import secrets
import uuid

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from app.auth.subject import Subject
from app.kit import clock
from app.kit.batches import grouped, in_order
from app.kit.errors import FieldIssue, NotFound, ValidationFailed
from app.kit.ids import to_global_id
from app.kit.repository import scoped
from app.kit.tenancy import TenantScope
from app.kit.validation import check_email
from app.models import Customer, Member, MemberRole
from app.models.seat import CustomerSeat, SeatStatus
from app.models.subscription import Subscription, SubscriptionStatus
from app.models.webhook import WebhookEventType
from app.subscriptions import repository
from app.subscriptions.errors import SeatLimitReached, SeatsBelowHeld, SubscriptionNotChangeable
from app.webhooks import service as webhooks
from app.webhooks.payloads import member_data

CLAIM_TOKEN_PREFIX = "kassa_seat_"
LIVE = (SeatStatus.pending.value, SeatStatus.claimed.value)


def _hash(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def seat_data(seat: CustomerSeat) -> dict:
    """The seat as the GraphQL API shows it (webhook `data`)."""
    return {
        "id": to_global_id("CustomerSeat", seat.id),
        "subscriptionId": to_global_id("Subscription", seat.subscription_id),
        "customerId": to_global_id("Customer", seat.customer_id),
        "memberId": to_global_id("Member", seat.member_id) if seat.member_id else None,
        "email": seat.email,
        "status": seat.status.upper(),
        "invitedAt": seat.invited_at.isoformat() if seat.invited_at else None,
        "claimedAt": seat.claimed_at.isoformat() if seat.claimed_at else None,
        "revokedAt": seat.revoked_at.isoformat() if seat.revoked_at else None,
    }


async def _emit(session: AsyncSession, scope: TenantScope, seat: CustomerSeat, *types: WebhookEventType) -> None:
    for type in types:
        await webhooks.emit(session, scope, type, seat_data(seat))


async def live_count(session: AsyncSession, scope: TenantScope, subscription_id: uuid.UUID) -> int:
    statement = scoped(select(func.count()).select_from(CustomerSeat), CustomerSeat, scope).where(
        CustomerSeat.subscription_id == subscription_id, CustomerSeat.status.in_(LIVE)
    )
    return int(await session.scalar(statement) or 0)


async def check_seat_count(session: AsyncSession, scope: TenantScope, subscription: Subscription, seats: int) -> None:
    """A seat count the subscription may take: never below the seats held (`SeatsBelowHeld`).
    For a change of the seat count, under the subscription's row lock."""
    held = await live_count(session, scope, subscription.id)
    if seats < held:
        raise SeatsBelowHeld(seats, held)


async def _seat_subscription(session: AsyncSession, subject: Subject, subscription_id: uuid.UUID) -> Subscription:
    subscription = await repository.get(session, subject.scope, subscription_id, for_update=True)
    if subscription is None:
        raise NotFound("Subscription not found")
    if subscription.seats is None:
        raise ValidationFailed([FieldIssue(("subscriptionId",), "the subscription is not per seat", "not_per_seat")])
    if subscription.status in (SubscriptionStatus.canceled.value, SubscriptionStatus.unpaid.value):
        raise SubscriptionNotChangeable(SubscriptionStatus(subscription.status))
    return subscription


async def assign_seat(
    session: AsyncSession, subject: Subject, subscription_id: uuid.UUID, *, member_id: uuid.UUID | None = None, email: str | None = None
) -> tuple[CustomerSeat, str | None]:
    """Give a seat to a member (claimed at once) or offer it by email (pending, with the claim
    token returned once, for the invitation the merchant sends). `SeatLimitReached` when every
    seat is taken. Emits `customer_seat.assigned` (and `.claimed` for a member)."""
    if (member_id is None) == (email is None):
        raise ValidationFailed([FieldIssue(("memberId",), "give a member or an email, not both", "one_of")])
    issues: list[FieldIssue] = []
    clean_email = check_email(issues, ("email",), email) if email is not None else None
    if issues:
        raise ValidationFailed(issues)
    scope = subject.scope
    subscription = await _seat_subscription(session, subject, subscription_id)
    member = None
    if member_id is not None:
        member = await session.scalar(
            scoped(select(Member), Member, scope).where(Member.id == member_id, Member.customer_id == subscription.customer_id, Member.deleted_at.is_(None))
        )
        if member is None:
            raise ValidationFailed([FieldIssue(("memberId",), "no such member of the subscription's customer", "not_found")])
        held = await session.scalar(
            scoped(select(CustomerSeat), CustomerSeat, scope).where(
                CustomerSeat.subscription_id == subscription.id, CustomerSeat.member_id == member.id, CustomerSeat.status.in_(LIVE)
            )
        )
        if held is not None:
            raise ValidationFailed([FieldIssue(("memberId",), "the member holds a seat of this subscription already", "already_seated")])
    else:
        pending = await session.scalar(
            scoped(select(CustomerSeat), CustomerSeat, scope).where(
                CustomerSeat.subscription_id == subscription.id,
                func.lower(CustomerSeat.email) == (clean_email or "").lower(),
                CustomerSeat.status.in_(LIVE),
            )
        )
        if pending is not None:
            raise ValidationFailed([FieldIssue(("email",), "a seat is already given or offered to this email", "already_seated")])
    held_count = await live_count(session, scope, subscription.id)
    if held_count >= (subscription.seats or 0):
        raise SeatLimitReached(subscription.seats or 0)
    now = clock.now()
    token = None
    if member is not None:
        seat = CustomerSeat(
            organization_id=scope.organization_id,
            subscription_id=subscription.id,
            customer_id=subscription.customer_id,
            member_id=member.id,
            email=member.email,
            status=SeatStatus.claimed.value,
            claimed_at=now,
        )
    else:
        token = CLAIM_TOKEN_PREFIX + secrets.token_urlsafe(32)
        seat = CustomerSeat(
            organization_id=scope.organization_id,
            subscription_id=subscription.id,
            customer_id=subscription.customer_id,
            email=clean_email or "",
            status=SeatStatus.pending.value,
            claim_token_hash=_hash(token),
            invited_at=now,
        )
    session.add(seat)
    await session.flush()
    types = [WebhookEventType.customer_seat_assigned]
    if member is not None:
        types.append(WebhookEventType.customer_seat_claimed)
    await _emit(session, scope, seat, *types)
    return seat, token


async def claim_seat(session: AsyncSession, subject: Subject, token: str, *, name: str | None = None) -> CustomerSeat:
    """Take the seat an invitation offers: the invited email becomes a member of the business
    (or its member with that email takes it). Unknown, used or revoked tokens are "not found"."""
    scope = subject.scope
    seat = None
    if token.startswith(CLAIM_TOKEN_PREFIX):
        seat = await session.scalar(
            scoped(select(CustomerSeat), CustomerSeat, scope).where(CustomerSeat.claim_token_hash == _hash(token)).with_for_update()
        )
    if seat is None or seat.status != SeatStatus.pending.value:
        raise NotFound("No pending seat has this claim token")
    await _seat_subscription(session, subject, seat.subscription_id)  # not ended since
    member = await session.scalar(
        scoped(select(Member), Member, scope).where(
            Member.customer_id == seat.customer_id, func.lower(Member.email) == seat.email.lower(), Member.deleted_at.is_(None)
        )
    )
    if member is None:
        customer = await session.scalar(scoped(select(Customer), Customer, scope).where(Customer.id == seat.customer_id))
        if customer is None or not customer.is_business:
            raise ValidationFailed([FieldIssue(("token",), "only a business takes in new members; give the seat to its owner", "not_business")])
        member = Member(organization_id=scope.organization_id, customer_id=seat.customer_id, role=MemberRole.member.value, email=seat.email, name=name)
        session.add(member)
        await session.flush()
        await webhooks.emit(session, scope, WebhookEventType.member_created, member_data(member))
    seat.member_id = member.id
    seat.status = SeatStatus.claimed.value
    seat.claim_token_hash = None
    seat.claimed_at = clock.now()
    await session.flush()
    await _emit(session, scope, seat, WebhookEventType.customer_seat_claimed)
    return seat


async def revoke_seat(session: AsyncSession, subject: Subject, seat_id: uuid.UUID) -> CustomerSeat:
    """Take a seat back (pending or claimed): it stops counting at once. Twice is a no-op."""
    seat = await session.scalar(scoped(select(CustomerSeat), CustomerSeat, subject.scope).where(CustomerSeat.id == seat_id).with_for_update())
    if seat is None:
        raise NotFound("Seat not found")
    if seat.status != SeatStatus.revoked.value:
        seat.status = SeatStatus.revoked.value
        seat.claim_token_hash = None
        seat.revoked_at = clock.now()
        await session.flush()
        await _emit(session, subject.scope, seat, WebhookEventType.customer_seat_revoked)
    return seat


async def load_seats(session: AsyncSession, scope: TenantScope, ids: list[uuid.UUID]) -> list[CustomerSeat | None]:
    """For dataloaders: seats by id, None where not found."""
    rows = await session.scalars(scoped(select(CustomerSeat), CustomerSeat, scope).where(CustomerSeat.id.in_(ids)))
    return in_order(list(rows), ids)


async def load_seats_of(session: AsyncSession, scope: TenantScope, subscription_ids: list[uuid.UUID]) -> list[list[CustomerSeat]]:
    """For dataloaders: each subscription's seats, oldest first (revoked ones included)."""
    statement = (
        scoped(select(CustomerSeat), CustomerSeat, scope)
        .where(CustomerSeat.subscription_id.in_(subscription_ids))
        .order_by(CustomerSeat.created_at, CustomerSeat.id)
    )
    return grouped(list((await session.scalars(statement)).all()), subscription_ids, key=lambda row: row.subscription_id)


async def load_subscriptions_of_members(session: AsyncSession, scope: TenantScope, member_ids: list[uuid.UUID]) -> list[list[Subscription]]:
    """For dataloaders: the subscriptions each member holds a live seat of."""
    statement = (
        scoped(select(CustomerSeat.member_id, Subscription), CustomerSeat, scope)
        .join(Subscription, Subscription.id == CustomerSeat.subscription_id)
        .where(CustomerSeat.member_id.in_(member_ids), CustomerSeat.status == SeatStatus.claimed.value)
        .order_by(Subscription.created_at, Subscription.id)
    )
    rows = (await session.execute(statement)).all()
    groups = grouped(rows, member_ids, key=lambda row: row[0])
    return [[row[1] for row in group] for group in groups]
