"""Meters, customer meters and billing status.

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

import time
import uuid
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from decimal import Decimal, InvalidOperation
from typing import Any, Mapping

from sqlalchemy.ext.asyncio import AsyncSession

from app.auth.subject import Subject
from app.kit.batches import grouped, in_order
from app.kit.decimals import decimal_text
from app.kit.errors import FieldIssue, NotFound, ValidationFailed
from app.kit.jobs import enqueue_after_commit, enqueue_coalesced_after_commit
from app.kit.models import utc_now
from app.kit.pagination import Page, check_page_size
from app.kit.tenancy import bound_scope
from app.kit.validation import check_text
from app.meters import repository
from app.meters.definitions import check_aggregation, check_filter
from app.meters.errors import MeterArchived
from app.models import Customer, CustomerMeter, CustomerMeterMember, Meter, Organization, WebhookEventType

UPDATE_JOB = "meters.update_customer"
BACKFILL_JOB = "meters.backfill"
COALESCE_SECONDS = 0.25
QUANTUM = Decimal("0.000000000001")  # the 12 decimal places quantities are stored with


def request_update(session: AsyncSession, customer_id: uuid.UUID) -> None:
    """Ask for the customer's meters to be brought up to date after this transaction commits
    (requests within a quarter second share one job)."""
    enqueue_coalesced_after_commit(session, UPDATE_JOB, customer_id, window=COALESCE_SECONDS)


# -- meters -------------------------------------------------------------------------------------


def _check_definition(issues: list[FieldIssue], filter: Any, aggregation: Any) -> tuple[dict, dict]:
    return check_filter(issues, ("filter",), filter), check_aggregation(issues, ("aggregation",), aggregation)


async def create_meter(session: AsyncSession, subject: Subject, *, name: str, filter: Any, aggregation: Any) -> Meter:
    issues: list[FieldIssue] = []
    name = check_text(issues, ("name",), name, max_length=256, required=True)
    filter, aggregation = _check_definition(issues, filter, aggregation)
    if issues:
        raise ValidationFailed(issues)
    meter = Meter(organization_id=subject.organization_id, name=name, filter=filter, aggregation=aggregation)
    session.add(meter)
    await session.flush()
    enqueue_after_commit(session, BACKFILL_JOB, meter.id)
    return meter


async def _meter(session: AsyncSession, subject: Subject, meter_id: uuid.UUID, *, for_update: bool = False) -> Meter:
    meter = await repository.get(session, subject.organization_id, meter_id, for_update=for_update)
    if meter is None:
        raise NotFound("Meter not found")
    return meter


async def get_meter(session: AsyncSession, subject: Subject, meter_id: uuid.UUID) -> Meter:
    return await _meter(session, subject, meter_id)


async def update_meter(session: AsyncSession, subject: Subject, meter_id: uuid.UUID, changes: Mapping[str, Any]) -> Meter:
    """Rename, or change the filter or aggregation: then every customer's totals of this meter
    are counted again from their events."""
    meter = await _meter(session, subject, meter_id, for_update=True)
    issues: list[FieldIssue] = []
    if "name" in changes:
        meter.name = check_text(issues, ("name",), changes["name"], max_length=256, required=True)
    redefined = False
    if changes.get("filter") is not None:
        meter.filter, redefined = check_filter(issues, ("filter",), changes["filter"]), True
    if changes.get("aggregation") is not None:
        meter.aggregation, redefined = check_aggregation(issues, ("aggregation",), changes["aggregation"]), True
    if issues:
        raise ValidationFailed(issues)
    await session.flush()
    if redefined:
        for customer_id in await repository.forget_meter(session, meter.id):
            request_update(session, customer_id)
        enqueue_after_commit(session, BACKFILL_JOB, meter.id)
    return meter


async def set_archived(session: AsyncSession, subject: Subject, meter_id: uuid.UUID, archived: bool) -> Meter:
    """Archived meters stop counting and disappear from billing status; unarchiving counts the
    events again."""
    meter = await _meter(session, subject, meter_id, for_update=True)
    if archived and meter.archived_at is None:
        meter.archived_at = utc_now()
        await repository.forget_meter(session, meter.id)
    elif not archived and meter.archived_at is not None:
        meter.archived_at = None
        enqueue_after_commit(session, BACKFILL_JOB, meter.id)
    await session.flush()
    return meter


async def list_meters(
    session: AsyncSession, subject: Subject, *, archived: bool | None, first: int, after: str | None, max_page_size: int
) -> Page[Meter]:
    check_page_size(first, max_page_size)
    return await repository.list_page(session, subject.organization_id, archived=archived, first=first, after=after)


async def load_meters(session: AsyncSession, organization_id: uuid.UUID, ids: list[uuid.UUID]) -> list[Meter | None]:
    return in_order(await repository.get_many(session, organization_id, ids), ids)


async def load_customer_meters(session: AsyncSession, organization_id: uuid.UUID, customer_ids: list[uuid.UUID]) -> list[list[CustomerMeter]]:
    rows = await repository.customer_meters_of(session, organization_id, customer_ids)
    return grouped(rows, customer_ids, key=lambda row: row.customer_id)


async def load_member_meters(
    session: AsyncSession, organization_id: uuid.UUID, customer_ids: list[uuid.UUID]
) -> list[list[CustomerMeterMember]]:
    rows = await repository.member_meters_of(session, organization_id, customer_ids)
    return grouped(rows, customer_ids, key=lambda row: row.customer_id)


async def backfill(session: AsyncSession, meter_id: uuid.UUID) -> int:
    """Ask for an update of every customer whose events were counted before: the update counts
    a meter it has no totals for from all the customer's events."""
    from app.meters.repository import customers_with_state

    meter = await repository.get_unscoped(session, meter_id)
    if meter is None or meter.archived_at is not None:
        return 0
    customer_ids = await customers_with_state(session, meter.organization_id)
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


def status_of(consumed: Decimal, credited: Decimal, organization: Organization) -> tuple[str, Decimal | None]:
    """(status, percent used). A meter without credits has no quota: always `ok`."""
    if credited <= 0:
        return "ok", None
    percent = (consumed * 100 / credited).quantize(Decimal("0.01"))
    if percent >= organization.exceeded_threshold:
        return "exceeded", percent
    if percent >= organization.critical_threshold:
        return "critical", percent
    if percent >= organization.warning_threshold:
        return "warning", percent
    return "ok", percent


@dataclass
class UpdateResult:
    meters: int = 0
    recounted: list[str] = field(default_factory=list)
    status_changes: int = 0
    more_pending: bool = False


async def update_customer_meters(session: AsyncSession, customer_id: uuid.UUID) -> UpdateResult:
    """Count the customer's new events into its meters. Safe to run twice or concurrently."""
    from app.customers import repository as customers
    from app.organizations import repository as organizations
    from app.webhooks import service as webhooks
    from app.webhooks.payloads import customer_data

    result = UpdateResult()
    customer = await customers.get_unscoped(session, customer_id)
    if customer is None or customer.deleted_at is not None:
        return result
    await repository.lock_customer(session, customer.id)
    xmin = await repository.snapshot_xmin(session)
    state = await repository.state_for_update(session, customer)
    start = state.watermark
    organization = await organizations.get(session, customer.organization_id)
    meters = await repository.active_meters(session, customer.organization_id, lock=True)
    existing = await repository.customer_meters(session, customer.id)
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
        since = row.last_reset_at
        window_start = 0 if full else start
        members = {} if full else await repository.member_meters(session, customer.id, meter.id)
        if full:
            result.recounted.append(str(meter.id))
            await repository.clear_customer_meter(session, customer.id, meter.id)
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

        status, percent = status_of(row.consumed, row.credited, organization)
        if status != row.status:
            previous, row.status = row.status, status
            result.status_changes += 1
            await webhooks.emit(
                session,
                customer.organization_id,
                WebhookEventType.customer_state_changed,
                {
                    "customer": customer_data(customer),
                    "meter": {"id": meter_global_id(meter.id), "name": meter.name},
                    "previousStatus": previous.upper(),
                    "status": status.upper(),
                    "consumed": decimal_text(row.consumed),
                    "credited": decimal_text(row.credited),
                    "balance": decimal_text(row.credited - row.consumed),
                    "percentUsed": decimal_text(percent) if percent is not None else None,
                },
            )
    state.watermark = max(start, xmin)
    await session.flush()
    result.more_pending = await repository.has_events_from(session, customer, state.watermark)
    return result


def meter_global_id(meter_id: uuid.UUID) -> str:
    from app.kit.ids import to_global_id

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


async def sweep(session: AsyncSession, queue) -> int:
    """Queue an update for every customer with uncounted events: the safety net for an update
    job lost between a commit and Redis."""
    from app.kit.jobs import JobRequest, send

    organization = str(bound_scope(session).organization_id)  # the sweep acts for one at a time
    customer_ids = await repository.customers_behind(session)
    minute = int(time.time() // 60)
    await send(queue, [JobRequest(UPDATE_JOB, (organization, str(c)), job_id=f"{UPDATE_JOB}:{c}:sweep:{minute}") for c in customer_ids])
    return len(customer_ids)


async def recount_customer(session: AsyncSession, customer_id: uuid.UUID) -> None:
    """Count all the customer's meters again from its events (its external id changed). Takes
    the customer's meter lock, so no update job is halfway through meanwhile."""
    await repository.lock_customer(session, customer_id)
    await repository.forget_customer(session, customer_id)
    request_update(session, customer_id)


async def on_customer_external_id(session: AsyncSession, organization_id: uuid.UUID, customer_id: uuid.UUID, external_id: str | None) -> None:
    """A customer got an external id: count the events that were sent for it before it existed."""
    from app.events import repository as events

    if external_id is not None and await events.has_unattributed(session, organization_id, external_id):
        request_update(session, customer_id)


# -- billing status and the quota pre-check -------------------------------------------------------------

STATUS_ORDER = ("ok", "warning", "critical", "exceeded")


@dataclass
class MeterStatus:
    meter: Meter
    consumed: Decimal
    credited: Decimal
    status: str
    percent_used: Decimal | None
    member_consumed: Decimal | None = None

    @property
    def balance(self) -> Decimal:
        return self.credited - self.consumed

    @property
    def remaining(self) -> Decimal:
        return max(self.credited - self.consumed, Decimal(0))

    @property
    def has_quota(self) -> bool:
        return self.credited > 0


@dataclass
class BillingStatus:
    customer: Customer
    member_id: uuid.UUID | None
    meters: list[MeterStatus]

    @property
    def status(self) -> str:
        return max((m.status for m in self.meters), key=STATUS_ORDER.index, default="ok")


async def billing_status(
    session: AsyncSession, subject: Subject, customer: Customer, member_id: uuid.UUID | None = None
) -> BillingStatus:
    """Per active meter: consumed, credited, remaining, percent used and status, from the stored
    totals (a constant number of reads, whatever the history). With a member, also what that
    member consumed; the quota is the customer's."""
    from app.members import repository as members
    from app.organizations import repository as organizations

    if member_id is not None:
        member = await members.get(session, subject.organization_id, member_id)
        if member is None or member.customer_id != customer.id:
            raise NotFound("Member not found in this customer")
    organization = await organizations.get(session, subject.organization_id)
    meters = await repository.active_meters(session, subject.organization_id)
    rows = await repository.customer_meters(session, customer.id)
    by_member = await repository.member_totals(session, customer.id, member_id) if member_id is not None else {}
    statuses = []
    for meter in meters:
        row = rows.get(meter.id)
        consumed = Decimal(row.consumed) if row else Decimal(0)
        credited = Decimal(row.credited) if row else Decimal(0)
        status, percent = status_of(consumed, credited, organization)
        member_consumed = Decimal(by_member.get(meter.id, 0)) if member_id is not None else None
        statuses.append(MeterStatus(meter, consumed, credited, status, percent, member_consumed))
    return BillingStatus(customer=customer, member_id=member_id, meters=statuses)


@dataclass
class QuotaDecision:
    allowed: bool
    reason: str  # ok | no_quota | quota_exceeded | insufficient_quota
    meters: list[MeterStatus]


async def check_quota(
    session: AsyncSession,
    subject: Subject,
    customer: Customer,
    *,
    meter_id: uuid.UUID | None = None,
    units: Any = None,
    member_id: uuid.UUID | None = None,
) -> QuotaDecision:
    """Can the merchant's app serve this request? Refused when a meter with credits has used
    them up (`quota_exceeded`) or has fewer left than `units` (`insufficient_quota`); a meter
    without credits has no quota (`no_quota`, allowed). Without `meter_id`, every meter counts."""
    wanted = Decimal(0)
    if units is not None:
        try:
            wanted = Decimal(str(units))
        except InvalidOperation:
            wanted = Decimal(-1)
        if not wanted.is_finite() or wanted < 0:
            raise ValidationFailed([FieldIssue(("units",), "must be a number of units, zero or more", "invalid_units")])
    status = await billing_status(session, subject, customer, member_id)
    meters = status.meters
    if meter_id is not None:
        meters = [m for m in meters if m.meter.id == meter_id]
        if not meters:
            meter = await _meter(session, subject, meter_id)
            raise MeterArchived(f"Meter {meter.name!r} is archived")
    limited = [m for m in meters if m.has_quota]
    if not limited:
        return QuotaDecision(True, "no_quota", meters)
    if any(m.status == "exceeded" or m.remaining <= 0 for m in limited):
        return QuotaDecision(False, "quota_exceeded", meters)
    if any(m.remaining < wanted for m in limited):
        return QuotaDecision(False, "insufficient_quota", meters)
    return QuotaDecision(True, "ok", meters)


async def update_thresholds(session: AsyncSession, subject: Subject, changes: Mapping[str, Any]) -> Organization:
    from app.organizations import repository as organizations

    organization = await organizations.get(session, subject.organization_id)
    for name in ("warning_threshold", "critical_threshold", "exceeded_threshold"):
        if changes.get(name) is not None:
            setattr(organization, name, changes[name])
    warning, critical, exceeded = organization.warning_threshold, organization.critical_threshold, organization.exceeded_threshold
    if not (0 < warning <= critical <= exceeded <= 1000):
        raise ValidationFailed(
            [FieldIssue(("warningThreshold",), "thresholds must satisfy 0 < warning <= critical <= exceeded <= 1000 (percent)", "invalid_thresholds")]
        )
    await session.flush()
    return organization
