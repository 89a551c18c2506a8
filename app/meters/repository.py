"""All SQL about meters, customer meters, a customer's events and their aggregation into its meters."""

from __future__ import annotations

import json
import uuid
from datetime import datetime
from decimal import Decimal
from typing import Any, Sequence

from sqlalchemy import (
    ARRAY,
    BigInteger,
    ColumnElement,
    DateTime,
    Numeric,
    Text,
    Uuid,
    and_,
    case,
    cast,
    delete,
    false,
    func,
    literal,
    not_,
    or_,
    select,
    true,
    tuple_,
    update,
)
from sqlalchemy.dialects.postgresql import JSONB, insert
from sqlalchemy.ext.asyncio import AsyncSession

from app.kit.pagination import Page, paginate
from app.kit.repository import escape_like, owned_by, rows_table, scoped
from app.kit.tenancy import TenantScope
from app.meters.definitions import property_key
from app.models import (
    Customer,
    CustomerMeter,
    CustomerMeterMember,
    CustomerMeterState,
    Event,
    Member,
    Meter,
    MeterDistinctValue,
)
from app.models.event import XID8

CREDIT_EVENT = "kassa.meter_credit"
RESET_EVENT = "kassa.meter_reset"


# -- meters ------------------------------------------------------------------------------------


async def get(session: AsyncSession, scope: TenantScope, meter_id: uuid.UUID, *, for_update: bool = False) -> Meter | None:
    statement = scoped(select(Meter), Meter, scope).where(Meter.id == meter_id)
    if for_update:
        statement = statement.with_for_update()
    return await session.scalar(statement)


async def get_many(session: AsyncSession, scope: TenantScope, ids: Sequence[uuid.UUID]) -> list[Meter]:
    return list((await session.scalars(scoped(select(Meter), Meter, scope).where(Meter.id.in_(list(ids))))).all())


async def active_meters(session: AsyncSession, scope: TenantScope, *, lock: bool = False) -> list[Meter]:
    """With `lock`, the meters are held (FOR SHARE) until the transaction ends: a meter being
    redefined or archived meanwhile waits for the update job, and the job for it."""
    statement = scoped(select(Meter), Meter, scope).where(Meter.archived_at.is_(None)).order_by(Meter.created_at, Meter.id)
    if lock:
        statement = statement.with_for_update(read=True)
    return list((await session.scalars(statement)).all())


async def list_page(
    session: AsyncSession, scope: TenantScope, *, archived: bool | None, first: int, after: str | None
) -> Page[Meter]:
    statement = scoped(select(Meter), Meter, scope)
    if archived is not None:
        statement = statement.where(Meter.archived_at.is_not(None) if archived else Meter.archived_at.is_(None))
    return await paginate(
        session, statement, sort_key=Meter.created_at, id_column=Meter.id, descending=False, first=first, after=after,
        sort_value_of=lambda row: row.created_at,
    )


# -- compiling a meter into SQL ------------------------------------------------------------------



def _condition(clause: dict[str, Any]) -> ColumnElement[bool]:
    key = property_key(clause["property"])
    operator, value = clause["operator"], clause["value"]
    if key is None:
        target = Event.name
        if operator == "eq":
            return target == value
        if operator == "ne":
            return target != value
        pattern = f"%{escape_like(value)}%"
        return target.like(pattern, escape="\\") if operator == "like" else target.not_like(pattern, escape="\\")
    element = Event.user_metadata[key]
    kind = func.jsonb_typeof(element)
    text_value = Event.user_metadata[key].astext
    if operator in ("eq", "ne"):
        equal = element == cast(literal(json.dumps(value)), JSONB)
        return equal if operator == "eq" else and_(Event.user_metadata.has_key(key), not_(equal))
    if operator in ("gt", "gte", "lt", "lte"):
        number = cast(text_value, Numeric)
        bound = literal(Decimal(str(value)), Numeric)
        compare = {"gt": number > bound, "gte": number >= bound, "lt": number < bound, "lte": number <= bound}[operator]
        return case((kind == "number", compare), else_=false())  # CASE: never casts a non-number
    pattern = f"%{escape_like(value)}%"
    like = text_value.like(pattern, escape="\\")
    return and_(kind == "string", like if operator == "like" else not_(like))


def filter_clause(definition: dict[str, Any]) -> ColumnElement[bool]:
    parts = [filter_clause(c) if "clauses" in c else _condition(c) for c in definition.get("clauses", [])]
    if not parts:
        return true()
    return and_(*parts) if definition.get("conjunction", "and") == "and" else or_(*parts)


def numeric_value(key: str) -> ColumnElement:
    element = Event.user_metadata[key]
    return case((func.jsonb_typeof(element) == "number", cast(Event.user_metadata[key].astext, Numeric)), else_=None)


# -- customer events ---------------------------------------------------------------------------


def xid_literal(value: int) -> ColumnElement:
    """A transaction id (an int, as pg_snapshot_xmin gives it) as an xid8 to compare `Event.xid` with."""
    return cast(cast(literal(str(value)), Text), XID8)



def customer_events(customer: Customer) -> ColumnElement[bool]:
    """The customer's events: attributed to it, or sent for its external id before it existed."""
    own = Event.customer_id == customer.id
    if customer.external_id is None:
        return own
    late = and_(
        Event.organization_id == customer.organization_id,
        Event.customer_id.is_(None),
        Event.external_customer_id == customer.external_id,
    )
    return or_(own, late)


async def get_customer(session: AsyncSession, scope: TenantScope, customer_id: uuid.UUID) -> Customer | None:
    """The customer whose meters a job counts, by id (deleted customers included)."""
    return await session.scalar(select(Customer).where(owned_by(Customer, scope), Customer.id == customer_id))


async def has_unattributed(session: AsyncSession, scope: TenantScope, external_customer_id: str) -> bool:
    """Are there events sent for this external customer id before a customer had it?"""
    statement = (
        select(Event.id)
        .where(
            owned_by(Event, scope),
            Event.customer_id.is_(None),
            Event.external_customer_id == external_customer_id,
        )
        .limit(1)
    )
    return (await session.scalar(statement)) is not None


def _window(customer: Customer, xid_from: int, xid_to: int) -> list[ColumnElement[bool]]:
    conditions = [customer_events(customer), Event.xid < xid_literal(xid_to)]
    if xid_from > 0:
        conditions.append(Event.xid >= xid_literal(xid_from))
    return conditions


async def lock_customer(session: AsyncSession, customer_id: uuid.UUID) -> None:
    """Serialise meter updates of one customer (a transaction-scoped advisory lock)."""
    await session.execute(select(func.pg_advisory_xact_lock(literal((customer_id.int >> 64) & 0x7FFF_FFFF_FFFF_FFFF, BigInteger))))


async def snapshot_xmin(session: AsyncSession) -> int:
    """Every transaction with a smaller id has finished: its events are visible or gone."""
    return int(await session.scalar(select(cast(cast(func.pg_snapshot_xmin(func.pg_current_snapshot()), Text), BigInteger))))


async def state_for_update(session: AsyncSession, customer: Customer) -> CustomerMeterState:
    await session.execute(
        insert(CustomerMeterState)
        .values(id=uuid.uuid4(), organization_id=customer.organization_id, customer_id=customer.id, watermark=0)
        .on_conflict_do_nothing(index_elements=[CustomerMeterState.customer_id])
    )
    return await session.scalar(
        select(CustomerMeterState).where(CustomerMeterState.customer_id == customer.id).with_for_update()
    )


async def has_events_from(session: AsyncSession, customer: Customer, xid_from: int) -> bool:
    statement = select(Event.id).where(customer_events(customer), Event.xid >= xid_literal(xid_from)).limit(1)
    return (await session.scalar(statement)) is not None


async def latest_resets(session: AsyncSession, customer: Customer, xid_from: int, xid_to: int) -> dict[str, datetime]:
    meter_key = Event.user_metadata["meter_id"].astext
    statement = (
        select(meter_key, func.max(Event.timestamp))
        .where(*_window(customer, xid_from, xid_to), Event.source == "system", Event.name == RESET_EVENT)
        .group_by(meter_key)
    )
    return {row[0]: row[1] for row in await session.execute(statement)}


async def credits(
    session: AsyncSession, customer: Customer, meter_id: uuid.UUID, xid_from: int, xid_to: int, since: datetime | None
) -> Decimal:
    conditions = [
        *_window(customer, xid_from, xid_to),
        Event.source == "system",
        Event.name == CREDIT_EVENT,
        Event.user_metadata["meter_id"].astext == str(meter_id),
    ]
    if since is not None:
        conditions.append(Event.timestamp >= since)
    total = await session.scalar(select(func.coalesce(func.sum(cast(Event.user_metadata["units"].astext, Numeric)), 0)).where(*conditions))
    return Decimal(total)


def _member_key(customer: Customer) -> ColumnElement:
    return member_key(customer.id)


def member_key(customer: uuid.UUID | ColumnElement, *, correlate: Any = None) -> ColumnElement:
    """The member an event's usage is of: named by id, or by the merchant's external id within
    the customer (`customer`: the id of a customer read in scope, or a column of the statement
    holding such ids; `correlate`: that column's table when it is not in the FROM of the SELECT
    the key is used in but of an enclosing one, e.g. around a LATERAL), resolved now."""
    resolved = (
        select(Member.id)
        .where(Member.customer_id == customer, Member.external_id == Event.external_member_id)
        .order_by(Member.deleted_at.is_not(None), Member.created_at.desc())
        .limit(1)
    )
    if correlate is not None:
        resolved = resolved.correlate(correlate, Event)
    resolved = resolved.scalar_subquery()
    return func.coalesce(Event.member_id, case((Event.external_member_id.is_not(None), resolved), else_=None))


def _usage_conditions(meter: Meter, customer: Customer, xid_from: int, xid_to: int, since: datetime | None) -> list:
    conditions = [*_window(customer, xid_from, xid_to), Event.source == "user", filter_clause(meter.filter)]
    if since is not None:
        conditions.append(Event.timestamp >= since)
    return conditions


async def aggregate(
    session: AsyncSession, meter: Meter, customer: Customer, xid_from: int, xid_to: int, since: datetime | None
) -> dict[uuid.UUID | None, dict[str, Any]]:
    """Totals of the matching usage events in the window: key None is the customer, else a member."""
    key = meter.aggregation.get("property")
    value = numeric_value(key) if key else literal(None, Numeric)
    member = _member_key(customer).label("member")
    statement = (
        select(
            member,
            func.count().label("event_count"),
            func.count(value).label("value_count"),
            func.coalesce(func.sum(value), 0).label("value_sum"),
            func.max(value).label("value_max"),
            func.min(value).label("value_min"),
            func.grouping(member).label("is_total"),
        )
        .where(*_usage_conditions(meter, customer, xid_from, xid_to, since))
        .group_by(func.grouping_sets(tuple_(), member))
    )
    result: dict[uuid.UUID | None, dict[str, Any]] = {}
    for row in await session.execute(statement):
        if row.is_total:
            result[None] = row._asdict()
        elif row.member is not None:
            result[row.member] = row._asdict()
    return result


async def add_distinct_values(
    session: AsyncSession, meter: Meter, customer: Customer, xid_from: int, xid_to: int, since: datetime | None
) -> dict[uuid.UUID, int]:
    """Store the distinct values seen in the window; returns how many were new, per scope
    (the customer id for the customer's total, else a member id)."""
    key = meter.aggregation["property"]
    present = Event.user_metadata.has_key(key)
    value = Event.user_metadata[key].astext
    conditions = [*_usage_conditions(meter, customer, xid_from, xid_to, since), present]
    member = _member_key(customer)
    total_rows = select(literal(customer.id).label("scope"), value.label("value")).where(*conditions)
    member_rows = select(member.label("scope"), value.label("value")).where(*conditions, member.is_not(None))
    rows = total_rows.union(member_rows).subquery()
    statement = (
        insert(MeterDistinctValue)
        .from_select(
            ["id", "organization_id", "customer_id", "meter_id", "scope", "value"],
            select(func.gen_random_uuid(), literal(customer.organization_id), literal(customer.id), literal(meter.id), rows.c.scope, rows.c.value),
        )
        .on_conflict_do_nothing(index_elements=["customer_id", "meter_id", "scope", "value"])
        .returning(MeterDistinctValue.scope)
    )
    counts: dict[uuid.UUID, int] = {}
    for (scope,) in await session.execute(statement):
        counts[scope] = counts.get(scope, 0) + 1
    return counts


async def customer_meters(session: AsyncSession, scope: TenantScope, customer_id: uuid.UUID) -> dict[uuid.UUID, CustomerMeter]:
    rows = await session.scalars(select(CustomerMeter).where(owned_by(CustomerMeter, scope), CustomerMeter.customer_id == customer_id))
    return {row.meter_id: row for row in rows}


async def member_meters(session: AsyncSession, scope: TenantScope, customer_id: uuid.UUID, meter_id: uuid.UUID) -> dict[uuid.UUID, CustomerMeterMember]:
    rows = await session.scalars(
        select(CustomerMeterMember).where(
            owned_by(CustomerMeterMember, scope), CustomerMeterMember.customer_id == customer_id, CustomerMeterMember.meter_id == meter_id
        )
    )
    return {row.member_id: row for row in rows}


async def clear_customer_meter(session: AsyncSession, scope: TenantScope, customer_id: uuid.UUID, meter_id: uuid.UUID) -> None:
    """Forget a customer meter's members and distinct values, before counting it again."""
    await session.execute(
        delete(CustomerMeterMember).where(
            owned_by(CustomerMeterMember, scope), CustomerMeterMember.customer_id == customer_id, CustomerMeterMember.meter_id == meter_id
        )
    )
    await session.execute(
        delete(MeterDistinctValue).where(
            owned_by(MeterDistinctValue, scope), MeterDistinctValue.customer_id == customer_id, MeterDistinctValue.meter_id == meter_id
        )
    )


async def forget_meter(session: AsyncSession, scope: TenantScope, meter_id: uuid.UUID) -> list[uuid.UUID]:
    """Mark every customer's totals of a meter to be counted again (its definition changed);
    returns the customers."""
    result = await session.execute(
        update(CustomerMeter)
        .where(owned_by(CustomerMeter, scope), CustomerMeter.meter_id == meter_id)
        .values(needs_recount=True)
        .returning(CustomerMeter.customer_id)
    )
    return [row[0] for row in result]


async def customer_meters_of(session: AsyncSession, scope: TenantScope, customer_ids: Sequence[uuid.UUID]) -> list[CustomerMeter]:
    statement = (
        select(CustomerMeter)
        .join(Meter, Meter.id == CustomerMeter.meter_id)
        .where(owned_by(CustomerMeter, scope), CustomerMeter.customer_id.in_(list(customer_ids)), Meter.archived_at.is_(None))
        .order_by(CustomerMeter.customer_id, Meter.created_at)
    )
    return list((await session.scalars(statement)).all())


async def member_meters_of(session: AsyncSession, scope: TenantScope, customer_ids: Sequence[uuid.UUID]) -> list[CustomerMeterMember]:
    statement = select(CustomerMeterMember).where(
        owned_by(CustomerMeterMember, scope), CustomerMeterMember.customer_id.in_(list(customer_ids))
    )
    return list((await session.scalars(statement)).all())


async def customers_with_state(session: AsyncSession, scope: TenantScope) -> list[uuid.UUID]:
    statement = select(CustomerMeterState.customer_id).where(owned_by(CustomerMeterState, scope))
    return list((await session.scalars(statement)).all())


async def count_distinct(session: AsyncSession, meter: Meter, customer: Customer, xid_to: int, since: datetime | None) -> int:
    key = meter.aggregation["property"]
    conditions = [*_usage_conditions(meter, customer, 0, xid_to, since), Event.user_metadata.has_key(key)]
    return int(await session.scalar(select(func.count(func.distinct(Event.user_metadata[key].astext))).where(*conditions)))


async def member_totals(session: AsyncSession, scope: TenantScope, customer_id: uuid.UUID, member_id: uuid.UUID) -> dict[uuid.UUID, Decimal]:
    """meter id -> what the member consumed."""
    statement = select(CustomerMeterMember.meter_id, CustomerMeterMember.consumed).where(
        owned_by(CustomerMeterMember, scope), CustomerMeterMember.customer_id == customer_id, CustomerMeterMember.member_id == member_id
    )
    return {row[0]: row[1] for row in await session.execute(statement)}


async def forget_customer(session: AsyncSession, scope: TenantScope, customer_id: uuid.UUID) -> None:
    """Mark a customer's totals to be counted again and read its events from the beginning."""
    await session.execute(
        update(CustomerMeter).where(owned_by(CustomerMeter, scope), CustomerMeter.customer_id == customer_id).values(needs_recount=True)
    )
    await session.execute(
        update(CustomerMeterState).where(owned_by(CustomerMeterState, scope), CustomerMeterState.customer_id == customer_id).values(watermark=0)
    )


async def customers_behind(session: AsyncSession, scope: TenantScope, limit: int = 5000) -> list[uuid.UUID]:
    """Customers with events their totals have not counted yet (one index probe each), but for
    resets already applied to their rows."""
    watermark = func.coalesce(CustomerMeterState.watermark, 0)
    applied_reset = and_(Event.source == "system", Event.name == RESET_EVENT, Event.user_metadata.has_key("applied"))
    # a renewal's reset already applied to the rows (aggregation.apply_resets) waits for the
    # customer's next update instead of asking for one
    after = and_(Event.xid >= cast(cast(watermark, Text), XID8), not_(applied_reset))
    behind = or_(
        select(Event.id).where(Event.customer_id == Customer.id, after).limit(1).exists(),
        select(Event.id)  # sent for its external id before it existed
        .where(
            Event.organization_id == Customer.organization_id,
            Event.customer_id.is_(None),
            Event.external_customer_id == Customer.external_id,
            after,
        )
        .limit(1)
        .exists(),
    )
    statement = (
        select(Customer.id)
        .outerjoin(CustomerMeterState, CustomerMeterState.customer_id == Customer.id)
        .where(owned_by(Customer, scope), Customer.deleted_at.is_(None), behind)
        .limit(limit)
    )
    return list((await session.scalars(statement)).all())


# -- a renewal's resets, applied to the rows at once (aggregation.apply_resets) ----------------------


async def lock_customers(session: AsyncSession, customer_ids: Sequence[uuid.UUID]) -> None:
    """`lock_customer` for many customers in one statement, in a fixed order (two batches over
    the same customers queue up instead of deadlocking)."""
    keys = sorted({(c.int >> 64) & 0x7FFF_FFFF_FFFF_FFFF for c in customer_ids})
    ordered = select(func.unnest(literal(keys, ARRAY(BigInteger))).label("key")).order_by("key").subquery()
    await session.execute(select(func.count(func.pg_advisory_xact_lock(ordered.c.key))).select_from(ordered))


async def customers_of(session: AsyncSession, scope: TenantScope, customer_ids: Sequence[uuid.UUID]) -> list[Customer]:
    return list((await session.scalars(scoped(select(Customer), Customer, scope).where(Customer.id.in_(list(customer_ids))))).all())


def _resets(resets: Sequence[tuple[uuid.UUID, uuid.UUID, datetime]]):
    return rows_table("resets", [("customer_id", Uuid()), ("meter_id", Uuid()), ("at", DateTime(timezone=True))], resets)


async def resettable(session: AsyncSession, scope: TenantScope, resets: Sequence[tuple[uuid.UUID, uuid.UUID, datetime]]) -> list[Any]:
    """The customer meters the resets start a new period of (rows locked): `id customer_id
    meter_id status`, the reset's `at` and the customer's meter `watermark`; those already in a
    later period, or to be counted again, are left to the update job."""
    reset = _resets(resets)
    statement = (
        select(
            CustomerMeter.id, CustomerMeter.customer_id, CustomerMeter.meter_id, CustomerMeter.status, reset.c.at,
            cast(CustomerMeterState.watermark, BigInteger).label("watermark"),
        )
        .join(reset, and_(CustomerMeter.customer_id == reset.c.customer_id, CustomerMeter.meter_id == reset.c.meter_id))
        .join(CustomerMeterState, CustomerMeterState.customer_id == CustomerMeter.customer_id)
        .where(
            owned_by(CustomerMeter, scope),
            or_(CustomerMeter.last_reset_at.is_(None), CustomerMeter.last_reset_at < reset.c.at),
            CustomerMeter.needs_recount.is_(False),
        )
        .order_by(CustomerMeter.id)
        .with_for_update(of=CustomerMeter)
    )
    return list((await session.execute(statement)).all())


async def start_periods(session: AsyncSession, scope: TenantScope, starts: Sequence[tuple[uuid.UUID, datetime]], *, status: str, now: datetime) -> None:
    """Empty the customer meters (id, new period's start) in one statement: a new period."""
    start = rows_table("starts", [("id", Uuid()), ("at", DateTime(timezone=True))], starts)
    await session.execute(
        update(CustomerMeter)
        .where(owned_by(CustomerMeter, scope), CustomerMeter.id == start.c.id)
        .values(
            event_count=0, value_count=0, value_sum=0, value_max=None, value_min=None, distinct_count=0, consumed=0, credited=0,
            last_reset_at=start.c.at, status=status, modified_at=now,
        )
        .execution_options(synchronize_session=False)
    )


async def clear_customer_meters(session: AsyncSession, scope: TenantScope, pairs: Sequence[tuple[uuid.UUID, uuid.UUID]]) -> None:
    """`clear_customer_meter` for many (customer, meter) pairs: two statements."""
    if not pairs:
        return
    customer_ids = list({customer_id for customer_id, _ in pairs})
    for model in (CustomerMeterMember, MeterDistinctValue):
        await session.execute(
            delete(model).where(owned_by(model, scope), model.customer_id.in_(customer_ids), tuple_(model.customer_id, model.meter_id).in_(list(pairs)))
        )
