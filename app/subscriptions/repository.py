"""All SQL about subscriptions and billing entries."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Sequence

from sqlalchemy import BigInteger, DateTime, Integer, Numeric, String, Text, Uuid, and_, case, cast, func, literal, or_, select, true, tuple_, union_all
from sqlalchemy.ext.asyncio import AsyncSession

from app.kit.pagination import Page, paginate
from app.kit.repository import rows_table, scoped
from app.kit.tenancy import TenantScope
from app.meters.repository import CREDIT_EVENT, filter_clause, member_key, numeric_value, xid_literal
from app.models import Customer, Event, Member, Meter, PriceType, ProductPrice
from app.models.event import XID8
from app.models.checkout import PaymentMethod
from app.models.order import Order
from app.models.subscription import BillingEntry, Subscription, SubscriptionStatus


@dataclass(frozen=True)
class SubscriptionFilter:
    status: str | None = None
    product_id: uuid.UUID | None = None
    customer_id: uuid.UUID | None = None
    renewing_before: datetime | None = None


def _filtered(scope: TenantScope, filter: SubscriptionFilter):
    statement = scoped(select(Subscription), Subscription, scope)
    for column, value in ((Subscription.status, filter.status), (Subscription.product_id, filter.product_id), (Subscription.customer_id, filter.customer_id)):
        if value is not None:
            statement = statement.where(column == value)
    if filter.renewing_before is not None:
        statement = statement.where(
            Subscription.status.in_((SubscriptionStatus.trialing.value, SubscriptionStatus.active.value)),
            Subscription.cancel_at_period_end.is_(False),
            Subscription.pause_at_period_end.is_(False),
            Subscription.current_period_end < filter.renewing_before,
        )
    return statement


async def list_page(
    session: AsyncSession, scope: TenantScope, filter: SubscriptionFilter, *, descending: bool, first: int, after: str | None
) -> Page[Subscription]:
    return await paginate(
        session,
        _filtered(scope, filter),
        sort_key=Subscription.created_at,
        id_column=Subscription.id,
        descending=descending,
        first=first,
        after=after,
        sort_value_of=lambda s: s.created_at,
    )


async def count(session: AsyncSession, scope: TenantScope, filter: SubscriptionFilter) -> int:
    return int(await session.scalar(_filtered(scope, filter).with_only_columns(func.count()).order_by(None)) or 0)


async def get(session: AsyncSession, scope: TenantScope, subscription_id: uuid.UUID, *, for_update: bool = False) -> Subscription | None:
    statement = scoped(select(Subscription), Subscription, scope).where(Subscription.id == subscription_id)
    if for_update:
        statement = statement.with_for_update().execution_options(populate_existing=True)
    return await session.scalar(statement)


async def get_many(session: AsyncSession, scope: TenantScope, ids: Sequence[uuid.UUID]) -> list[Subscription]:
    return list((await session.scalars(scoped(select(Subscription), Subscription, scope).where(Subscription.id.in_(list(ids))))).all())


async def of_customers(session: AsyncSession, scope: TenantScope, customer_ids: Sequence[uuid.UUID]) -> list[Subscription]:
    statement = (
        scoped(select(Subscription), Subscription, scope)
        .where(Subscription.customer_id.in_(list(customer_ids)))
        .order_by(Subscription.created_at.desc(), Subscription.id.desc())
    )
    return list((await session.scalars(statement)).all())


async def claim_due(session: AsyncSession, scope: TenantScope, now: datetime, limit: int) -> list[Subscription]:
    """Renewing subscriptions whose period has ended, oldest first, locked for this transaction;
    rows another transaction holds (another worker renewing them) are skipped."""
    statement = (
        scoped(select(Subscription), Subscription, scope)
        .where(
            Subscription.status.in_((SubscriptionStatus.trialing.value, SubscriptionStatus.active.value)),
            Subscription.current_period_end <= now,
        )
        .order_by(Subscription.current_period_end, Subscription.id)
        .limit(limit)
        .with_for_update(skip_locked=True)
    )
    return list((await session.scalars(statement)).all())


async def customers_by_id(session: AsyncSession, scope: TenantScope, ids: Sequence[uuid.UUID]) -> dict[uuid.UUID, Customer]:
    rows = await session.scalars(scoped(select(Customer), Customer, scope).where(Customer.id.in_(list(ids))))
    return {row.id: row for row in rows}


async def lock_many(session: AsyncSession, scope: TenantScope, ids: Sequence[uuid.UUID]) -> list[Subscription]:
    """The subscriptions, each row locked for the caller's transaction, in the order of their ids."""
    statement = (
        scoped(select(Subscription), Subscription, scope)
        .where(Subscription.id.in_(list(ids)))
        .order_by(Subscription.id)
        .with_for_update()
        .execution_options(populate_existing=True)
    )
    return list((await session.scalars(statement)).all())


async def pending_order_ids(session: AsyncSession, scope: TenantScope, subscription_ids: Sequence[uuid.UUID]) -> list[uuid.UUID]:
    """The subscriptions' orders still waiting for their payment (not locked: the caller locks them)."""
    statement = scoped(select(Order.id), Order, scope).where(Order.subscription_id.in_(list(subscription_ids)), Order.status == "pending")
    return list((await session.scalars(statement)).all())


async def live_of_customer(session: AsyncSession, scope: TenantScope, customer_id: uuid.UUID) -> list[uuid.UUID]:
    """The customer's subscriptions that have not ended."""
    statement = scoped(select(Subscription.id), Subscription, scope).where(
        Subscription.customer_id == customer_id,
        Subscription.ended_at.is_(None),
        Subscription.status.not_in((SubscriptionStatus.canceled.value, SubscriptionStatus.unpaid.value)),
    )
    return list((await session.scalars(statement.order_by(Subscription.id))).all())


async def payment_methods(session: AsyncSession, scope: TenantScope, ids: Sequence[uuid.UUID]) -> dict[uuid.UUID, PaymentMethod]:
    rows = await session.scalars(scoped(select(PaymentMethod), PaymentMethod, scope).where(PaymentMethod.id.in_(list(ids))))
    return {row.id: row for row in rows}


async def entries_of(session: AsyncSession, scope: TenantScope, subscription_ids: Sequence[uuid.UUID]) -> list[BillingEntry]:
    statement = (
        scoped(select(BillingEntry), BillingEntry, scope)
        .where(BillingEntry.subscription_id.in_(list(subscription_ids)))
        .order_by(BillingEntry.start_at, BillingEntry.created_at, BillingEntry.id)
    )
    return list((await session.scalars(statement)).all())


async def orders_of(session: AsyncSession, scope: TenantScope, subscription_ids: Sequence[uuid.UUID]) -> list[Order]:
    statement = (
        scoped(select(Order), Order, scope)
        .where(Order.subscription_id.in_(list(subscription_ids)))
        .order_by(Order.created_at, Order.id)
    )
    return list((await session.scalars(statement)).all())


async def pending_entries(session: AsyncSession, scope: TenantScope, subscription_ids: Sequence[uuid.UUID], *, for_update: bool = False) -> list[BillingEntry]:
    """The subscriptions' billing entries no order has billed yet, oldest first."""
    statement = (
        scoped(select(BillingEntry), BillingEntry, scope)
        .where(BillingEntry.subscription_id.in_(list(subscription_ids)), BillingEntry.order_id.is_(None))
        .order_by(BillingEntry.subscription_id, BillingEntry.created_at, BillingEntry.id)
    )
    if for_update:
        statement = statement.with_for_update()
    return list((await session.scalars(statement)).all())


# -- metered billing (app/subscriptions/metered.py) ----------------------------------------------


async def metered_prices(session: AsyncSession, scope: TenantScope, product_ids: Sequence[uuid.UUID]) -> list[ProductPrice]:
    """The active metered prices of the products that the renewal bills (not the wallet's)."""
    statement = scoped(select(ProductPrice), ProductPrice, scope).where(
        ProductPrice.product_id.in_(list(product_ids)),
        ProductPrice.type == PriceType.metered_unit.value,
        ProductPrice.archived_at.is_(None),
        ProductPrice.wallet_enabled.is_(False),
    )
    return list((await session.scalars(statement.order_by(ProductPrice.created_at, ProductPrice.id))).all())


@dataclass(frozen=True)
class UsageSpan:
    """One customer's events to read: timestamped in [start_at, end_at), with an xid from
    `xid_from` (every event of the span has one at least as large: see metered.py, the floor)
    to the statement's watermark; `late_from`: the xid from which an event is late (0: none is)."""

    key: int
    customer_id: uuid.UUID
    external_id: str | None
    start_at: datetime
    end_at: datetime
    late_from: int
    xid_from: int = 0


def _spans(spans: Sequence[UsageSpan]):
    return rows_table(
        "spans",
        [
            ("key", Integer()), ("customer_id", Uuid()), ("external_id", String()), ("start_at", DateTime(timezone=True)),
            ("end_at", DateTime(timezone=True)), ("late_from", BigInteger()), ("xid_from", BigInteger()),
        ],
        [(s.key, s.customer_id, s.external_id, s.start_at, s.end_at, s.late_from, s.xid_from) for s in spans],
    )


def _customers_events(scope: TenantScope, spans: Sequence[UsageSpan], xid_to: int, columns, *, upto_end: bool = True, only=None):
    """The events of each span's customer, `columns(span)` of each: one branch for the events
    attributed to the customer, one for those sent for its external id before it existed; both
    read by xid, from the span's `xid_from` to `xid_to` (indexes (customer_id, xid) and
    (organization_id, external_customer_id, xid): the ones the meter job reads, so that
    ingestion pays for no index of billing's own), timestamped from the span's `start_at` (to
    its `end_at` with `upto_end`), and matching `only(span)` when given."""
    span = _spans(spans)
    common = [Event.xid >= cast(cast(span.c.xid_from, Text), XID8), Event.xid < xid_literal(xid_to), Event.timestamp >= span.c.start_at]
    if upto_end:
        common.append(Event.timestamp < span.c.end_at)
    if only is not None:
        common.append(only(span))
    own = select(*columns(span)).select_from(span).join(Event, Event.customer_id == span.c.customer_id).where(*common)
    by_external = (
        select(*columns(span))
        .select_from(span)
        .join(Event, and_(Event.customer_id.is_(None), Event.organization_id == scope.organization_id, Event.external_customer_id == span.c.external_id))
        .where(*common)
    )
    return union_all(own, by_external).subquery("span_events")


def _span_events(scope: TenantScope, meter: Meter, spans: Sequence[UsageSpan], xid_to: int, columns):
    """The meter's usage events and credits of each span (`_customers_events`); `columns(span,
    usage)` the columns each branch selects."""
    usage = and_(Event.source == "user", filter_clause(meter.filter))
    credit = and_(Event.source == "system", Event.name == CREDIT_EVENT, Event.user_metadata["meter_id"].astext == str(meter.id))
    return _customers_events(scope, spans, xid_to, lambda span: columns(span, usage), only=lambda span: or_(usage, credit))


async def first_xids_from(session: AsyncSession, scope: TenantScope, spans: Sequence[UsageSpan], xid_to: int) -> dict[int, int]:
    """For each span: the smallest xid below `xid_to` (and from its `xid_from`) of the customer's
    events (any: usage, credits, resets) timestamped at or after its `start_at` (its `end_at`
    unused); spans without one are left out. The next floor of metered.py."""
    rows = _customers_events(scope, spans, xid_to, lambda span: [span.c.key, Event.xid.label("xid")], upto_end=False)
    statement = select(rows.c.key, func.min(cast(cast(rows.c.xid, Text), BigInteger))).group_by(rows.c.key)
    return {int(key): int(xid) for key, xid in (await session.execute(statement)).all()}


async def late_usage_days(session: AsyncSession, scope: TenantScope, meter: Meter, spans: Sequence[UsageSpan], xid_to: int) -> set[tuple[int, datetime]]:
    """(span key, UTC day) of the meter's usage and credits in each span that arrived late: with
    an xid from the span's `late_from` (the previous renewal's watermark) up to `xid_to`."""
    def columns(span, usage):
        return [span.c.key, func.date_trunc("day", Event.timestamp, "UTC").label("day"), (Event.xid >= cast(cast(span.c.late_from, Text), XID8)).label("late")]

    rows = _span_events(scope, meter, spans, xid_to, columns)
    statement = select(rows.c.key, rows.c.day).where(rows.c.late).distinct()
    return {(row.key, row.day) for row in await session.execute(statement)}


async def span_usage(session: AsyncSession, scope: TenantScope, meter: Meter, spans: Sequence[UsageSpan], xid_to: int) -> dict[tuple[int, uuid.UUID | None], Any]:
    """The meter's totals in each span, one statement for them all: (key, None) -> the span's
    totals (`event_count`, `value_sum`, ... as the meters count them, and `credited`), and
    (key, member) -> the member's; each also counts its late events alone (`late_event_count`, ...)."""
    prop = meter.aggregation.get("property")

    def columns(span, usage):
        value = numeric_value(prop) if prop else literal(None, Numeric)
        text_value = Event.user_metadata[prop].astext if prop else literal(None, String)
        return [
            span.c.key,
            case((usage, member_key(span.c.customer_id)), else_=None).label("member"),
            usage.label("usage"),
            (Event.xid >= cast(cast(span.c.late_from, Text), XID8)).label("late"),
            case((usage, value), else_=None).label("value"),
            case((usage, text_value), else_=None).label("text_value"),
            case((usage, None), else_=cast(Event.user_metadata["units"].astext, Numeric)).label("credit"),
        ]

    rows = _span_events(scope, meter, spans, xid_to, columns)

    def totals(prefix: str, where):
        return [
            func.count().filter(and_(rows.c.usage, where)).label(f"{prefix}event_count"),
            func.count(rows.c.value).filter(where).label(f"{prefix}value_count"),
            func.coalesce(func.sum(rows.c.value).filter(where), 0).label(f"{prefix}value_sum"),
            func.max(rows.c.value).filter(where).label(f"{prefix}value_max"),
            func.min(rows.c.value).filter(where).label(f"{prefix}value_min"),
            func.count(rows.c.text_value.distinct()).filter(where).label(f"{prefix}distinct_count"),
        ]

    statement = select(
        rows.c.key,
        rows.c.member,
        func.grouping(rows.c.member).label("is_total"),
        *totals("", true()),
        *totals("late_", rows.c.late),
        func.coalesce(func.sum(rows.c.credit), 0).label("credited"),
    ).group_by(func.grouping_sets(rows.c.key, tuple_(rows.c.key, rows.c.member)))
    result: dict[tuple[int, uuid.UUID | None], Any] = {}
    for row in await session.execute(statement):
        if row.is_total:
            result[(row.key, None)] = row
        elif row.member is not None or row.event_count:
            result[(row.key, row.member if row.member is not None else NO_MEMBER)] = row
    return result


NO_MEMBER = uuid.UUID(int=0)  # the key of usage without a member, beside the members'


async def billed_metered(
    session: AsyncSession, scope: TenantScope, periods: Sequence[tuple[uuid.UUID, datetime]]
) -> dict[tuple[uuid.UUID, uuid.UUID, datetime], int]:
    """(subscription, price, period start) -> what its metered entries billed (debits less
    credits), for the given (subscription, period start) pairs."""
    if not periods:
        return {}
    signed = case((BillingEntry.direction == "credit", -BillingEntry.amount), else_=BillingEntry.amount)
    statement = (
        scoped(select(BillingEntry.subscription_id, BillingEntry.product_price_id, BillingEntry.start_at, func.sum(signed)), BillingEntry, scope)
        .where(BillingEntry.type == "metered", tuple_(BillingEntry.subscription_id, BillingEntry.start_at).in_(list(set(periods))))
        .group_by(BillingEntry.subscription_id, BillingEntry.product_price_id, BillingEntry.start_at)
    )
    return {(row[0], row[1], row[2]): int(row[3]) for row in await session.execute(statement)}


async def members_by_id(session: AsyncSession, scope: TenantScope, ids: Sequence[uuid.UUID]) -> dict[uuid.UUID, Member]:
    rows = await session.scalars(scoped(select(Member), Member, scope).where(Member.id.in_(list(ids))))
    return {row.id: row for row in rows}
