"""Counting usage events into customer meters.

Customer meters are kept current by the job `meters.update_customer`, which reads only the
events that arrived since its last run. It takes a customer's events transaction by
transaction: everything written by transactions older than the oldest one still running
(`pg_snapshot_xmin`) is counted, once; the rest waits for the next run, which the job asks for
itself. So the totals equal a from-scratch count over the events, whatever the order in which
concurrent ingestions commit.

Credits and period resets are system events (`kassa.meter_credit` with metadata
`{meter_id, units}`, `kassa.meter_reset` with `{meter_id}`): a reset starts a new period, in
which only events with a timestamp at or after it count.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal
from typing import Any, Mapping, Sequence

from sqlalchemy.ext.asyncio import AsyncSession

from app.kit import clock
from app.kit.decimals import decimal_text
from app.kit.ids import to_global_id
from app.kit.tenancy import TenantScope
from app.meters import repository
from app.meters.billing_status import status_of
from app.meters.service import request_update
from app.models import Customer, CustomerMeter, CustomerMeterMember, Meter, WebhookEventType
from app.organizations import repository as organizations
from app.webhooks import service as webhooks
from app.webhooks.payloads import customer_data

QUANTUM = Decimal("0.000000000001")  # the 12 decimal places quantities are stored with


# -- a redefined meter: count it again for every customer -----------------------------------------


async def backfill(session: AsyncSession, scope: TenantScope, meter_id: uuid.UUID) -> int:
    """Ask for an update of every customer whose events were counted before: the update counts
    a meter it has no totals for from all the customer's events."""
    meter = await repository.get(session, scope, meter_id)
    if meter is None or meter.archived_at is not None:
        return 0
    customer_ids = await repository.customers_with_state(session, scope)
    for customer_id in customer_ids:
        request_update(session, customer_id)
    return len(customer_ids)


# -- the job: bring a customer's meters up to date ----------------------------------------------------


def consumed_of(aggregation: dict[str, Any], totals: Any) -> Decimal:
    func = aggregation["func"]
    if func == "count":
        value = Decimal(totals.event_count)
    elif func == "sum":
        value = Decimal(totals.value_sum)
    elif func == "max":
        value = Decimal(totals.value_max) if totals.value_max is not None else Decimal(0)
    elif func == "min":
        value = Decimal(totals.value_min) if totals.value_min is not None else Decimal(0)
    elif func == "avg":
        value = Decimal(totals.value_sum) / totals.value_count if totals.value_count else Decimal(0)
    else:
        value = Decimal(totals.distinct_count)
    return value.quantize(QUANTUM)


def _merge(target: Any, part: Mapping[str, Any] | None, new_distinct: int) -> None:
    if part is not None:
        target.event_count = (target.event_count or 0) + part["event_count"]
        target.value_count = (target.value_count or 0) + part["value_count"]
        target.value_sum = Decimal(target.value_sum or 0) + Decimal(part["value_sum"])
        if part["value_max"] is not None:
            target.value_max = part["value_max"] if target.value_max is None else max(target.value_max, part["value_max"])
        if part["value_min"] is not None:
            target.value_min = part["value_min"] if target.value_min is None else min(target.value_min, part["value_min"])
    target.distinct_count = (target.distinct_count or 0) + new_distinct


def _zero(target: Any) -> None:
    target.event_count = target.value_count = target.distinct_count = 0
    target.value_sum = Decimal(0)
    target.value_max = target.value_min = None


@dataclass
class UpdateResult:
    meters: int = 0
    recounted: list[str] = field(default_factory=list)
    status_changes: int = 0
    more_pending: bool = False
    xmin: int | None = None  # the snapshot xmin the job counted up to (None: nothing counted)
    customer: Customer | None = None  # the customer counted (for what the job does next in its transaction)
    changed: int = 0  # meters whose consumed or credited moved (a live update is due)


async def update_customer_meters(session: AsyncSession, scope: TenantScope, customer_id: uuid.UUID) -> UpdateResult:
    """Count the customer's new events into its meters. Safe to run twice or concurrently."""
    result = UpdateResult()
    customer = await repository.get_customer(session, scope, customer_id)
    if customer is None or customer.deleted_at is not None:
        return result
    await repository.lock_customer(session, customer.id)
    result.customer = customer
    xmin = result.xmin = await repository.snapshot_xmin(session)
    state = await repository.state_for_update(session, customer)
    start = state.watermark
    organization = await organizations.get(session, scope)
    meters = await repository.active_meters(session, scope, lock=True)
    existing = await repository.customer_meters(session, scope, customer.id)
    resets = await repository.latest_resets(session, customer, start, xmin) if xmin > start else {}

    all_resets: dict[str, datetime] | None = None  # over the whole history, read once if needed
    for meter in meters:
        row = existing.get(meter.id)
        full = row is None or row.needs_recount
        if full:
            if all_resets is None:
                all_resets = await repository.latest_resets(session, customer, 0, xmin)
            if row is None:
                row = CustomerMeter(organization_id=customer.organization_id, customer_id=customer.id, meter_id=meter.id, status="ok")
                _zero(row)
                row.credited = row.consumed = Decimal(0)
                session.add(row)
            row.last_reset_at = all_resets.get(str(meter.id))
            row.needs_recount = False
        reset_at = resets.get(str(meter.id))
        if reset_at is not None and (row.last_reset_at is None or reset_at > row.last_reset_at):
            row.last_reset_at, full = reset_at, True
        if not full and xmin <= start:
            continue
        before = (row.consumed, row.credited) if row.id is not None else None
        since = row.last_reset_at
        window_start = 0 if full else start
        members = {} if full else await repository.member_meters(session, scope, customer.id, meter.id)
        if full:
            result.recounted.append(str(meter.id))
            await repository.clear_customer_meter(session, scope, customer.id, meter.id)
            _zero(row)
            row.credited = Decimal(0)
        parts = await repository.aggregate(session, meter, customer, window_start, xmin, since)
        distinct = (
            await repository.add_distinct_values(session, meter, customer, window_start, xmin, since)
            if meter.aggregation["func"] == "unique"
            else {}
        )
        _merge(row, parts.get(None), distinct.get(customer.id, 0))
        row.consumed = consumed_of(meter.aggregation, row)
        row.credited = (Decimal(row.credited) + await repository.credits(session, customer, meter.id, window_start, xmin, since)).quantize(QUANTUM)
        for member_id in {key for key in parts if key is not None} | {key for key in distinct if key != customer.id}:
            member_row = members.get(member_id)
            if member_row is None:
                member_row = CustomerMeterMember(
                    organization_id=customer.organization_id, customer_id=customer.id, meter_id=meter.id, member_id=member_id
                )
                _zero(member_row)
                session.add(member_row)
                members[member_id] = member_row
            _merge(member_row, parts.get(member_id), distinct.get(member_id, 0))
            member_row.consumed = consumed_of(meter.aggregation, member_row)
        result.meters += 1
        if before is None or (Decimal(row.consumed), Decimal(row.credited)) != (Decimal(before[0]), Decimal(before[1])):
            result.changed += 1

        changed = _status_change(row, customer, meter, organization)
        if changed is not None:
            result.status_changes += 1
            await webhooks.emit(session, scope, WebhookEventType.customer_state_changed, changed)
    state.watermark = max(start, xmin)
    await session.flush()
    result.more_pending = await repository.has_events_from(session, customer, state.watermark)
    return result


def _status_change(row: CustomerMeter, customer: Customer, meter: Meter, organization: Any) -> dict[str, Any] | None:
    """The row's status from its totals; when it changed, the `customer.state_changed` payload."""
    status, percent = status_of(row.consumed, row.credited, organization)
    if status == row.status:
        return None
    previous, row.status = row.status, status
    return _state_changed(customer, meter, previous, status, Decimal(row.consumed), Decimal(row.credited), percent)


def _state_changed(customer: Customer, meter: Meter, previous: str, status: str, consumed: Decimal, credited: Decimal, percent: Decimal | None) -> dict[str, Any]:
    return {
        "customer": customer_data(customer),
        "meter": {"id": meter_global_id(meter.id), "name": meter.name},
        "previousStatus": previous.upper(),
        "status": status.upper(),
        "consumed": decimal_text(consumed),
        "credited": decimal_text(credited),
        "balance": decimal_text(credited - consumed),
        "percentUsed": decimal_text(percent) if percent is not None else None,
    }


# -- a renewal's resets: the new periods start in the rows at once ------------------------------------


@dataclass
class AppliedResets:
    """What `apply_resets` did: the (customer, meter) rows now in their new period, and the
    customers whose meters the update job must count again."""

    applied: set[tuple[uuid.UUID, uuid.UUID]]
    busy: set[uuid.UUID]


async def apply_resets(session: AsyncSession, scope: TenantScope, resets: Sequence[tuple[uuid.UUID, uuid.UUID, datetime, int]]) -> AppliedResets:
    """Start the new periods that this transaction's reset events (customer, meter, at, floor)
    begin, in the customer meters themselves, instead of a meter update job per customer (a
    renewal batch resets hundreds). The floor is the smallest xid of the customer's events
    timestamped at or after `at` that the caller found below its snapshot's xmin, else that xmin
    (app/subscriptions/metered.py): so such an event was counted by the meter job exactly when
    the floor is below the customer's meter watermark.

    A customer none of whose events at or after the reset is counted yet has its customer
    meters start the new period empty: totals, members and distinct values cleared,
    `last_reset_at` the reset's time (the job later goes on counting from there, without
    counting again), and the status as the totals make it (`customer.state_changed`, as the job
    would send). The others (busy) are left to the job, which counts them again from the reset:
    the caller asks for their update. Rows already in a later period, or to be counted again,
    are left alone; a customer meter not counted yet (no row) needs nothing now: the job counts
    it from the reset when it first runs. Takes the customers' meter locks, in a fixed order, so
    that no update job is halfway through meanwhile. A few statements whatever the batch."""
    if not resets:
        return AppliedResets(set(), set())
    floors = {(customer_id, meter_id): floor for customer_id, meter_id, _, floor in resets}
    await repository.lock_customers(session, list({customer_id for customer_id, _, _, _ in resets}))
    rows = await repository.resettable(session, scope, [(customer_id, meter_id, at) for customer_id, meter_id, at, _ in resets])
    busy = {row.customer_id for row in rows if floors[(row.customer_id, row.meter_id)] < row.watermark}
    fresh = [row for row in rows if row.customer_id not in busy]
    if not fresh:
        return AppliedResets(set(), busy)
    organization = await organizations.get(session, scope)
    status, percent = status_of(Decimal(0), Decimal(0), organization)  # an empty period's
    await repository.clear_customer_meters(session, scope, [(row.customer_id, row.meter_id) for row in fresh])
    await repository.start_periods(session, scope, [(row.id, row.at) for row in fresh], status=status, now=clock.now())
    changed = [row for row in fresh if row.status != status]
    if changed:
        customers = {c.id: c for c in await repository.customers_of(session, scope, list({row.customer_id for row in changed}))}
        meters = {m.id: m for m in await repository.get_many(session, scope, list({row.meter_id for row in changed}))}
        await webhooks.emit_many(
            session,
            scope,
            [
                (
                    WebhookEventType.customer_state_changed,
                    _state_changed(customers[row.customer_id], meters[row.meter_id], row.status, status, Decimal(0), Decimal(0), percent),
                )
                for row in changed
                if row.customer_id in customers
            ],
        )
    return AppliedResets({(row.customer_id, row.meter_id) for row in fresh}, busy)


def meter_global_id(meter_id: uuid.UUID) -> str:
    return to_global_id("Meter", meter_id)


async def compute_from_scratch(session: AsyncSession, customer: Customer, meter: Meter) -> dict[str, Any]:
    """The customer meter counted over all its events, read-only (the reference the stored
    totals must equal)."""
    xmin = await repository.snapshot_xmin(session)
    resets = await repository.latest_resets(session, customer, 0, xmin)
    since = resets.get(str(meter.id))
    parts = await repository.aggregate(session, meter, customer, 0, xmin, since)
    totals = CustomerMeter()
    _zero(totals)
    _merge(totals, parts.get(None), 0)
    if meter.aggregation["func"] == "unique":
        totals.distinct_count = await repository.count_distinct(session, meter, customer, xmin, since)
    return {
        "consumed": consumed_of(meter.aggregation, totals),
        "credited": (await repository.credits(session, customer, meter.id, 0, xmin, since)).quantize(QUANTUM),
        "members": {
            member_id: consumed_of(meter.aggregation, _as_totals(part))
            for member_id, part in parts.items()
            if member_id is not None and meter.aggregation["func"] != "unique"
        },
    }


def _as_totals(part: Mapping[str, Any]) -> CustomerMeter:
    totals = CustomerMeter()
    _zero(totals)
    _merge(totals, part, 0)
    return totals


# -- a customer's external id: the events sent for it count ---------------------------------------------


async def recount_customer(session: AsyncSession, scope: TenantScope, customer_id: uuid.UUID) -> None:
    """Count all the customer's meters again from its events (its external id changed). Takes
    the customer's meter lock, so no update job is halfway through meanwhile."""
    await repository.lock_customer(session, customer_id)
    await repository.forget_customer(session, scope, customer_id)
    request_update(session, customer_id)


async def on_customer_external_id(session: AsyncSession, scope: TenantScope, customer_id: uuid.UUID, external_id: str | None) -> None:
    """A customer got an external id: count the events that were sent for it before it existed."""
    if external_id is not None and await repository.has_unattributed(session, scope, external_id):
        request_update(session, customer_id)
