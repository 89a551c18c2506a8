"""Meters: their definitions (create, rename, redefine, archive), listing and the batch loads
behind the dataloaders. Counting events into customer meters is `app/meters/aggregation.py`;
billing status and the quota check are `app/meters/billing_status.py`."""

from __future__ import annotations

import uuid
from typing import Any, Mapping

from sqlalchemy.ext.asyncio import AsyncSession

from app.auth.subject import Subject
from app.kit import clock
from app.kit.batches import grouped, in_order
from app.kit.errors import FieldIssue, NotFound, ValidationFailed
from app.kit.jobs import enqueue_after_commit, enqueue_coalesced_after_commit, enqueue_single_after_commit
from app.kit.pagination import Page, check_page_size
from app.kit.validation import check_text
from app.kit.tenancy import TenantScope
from app.meters import repository
from app.meters.definitions import check_aggregation, check_filter
from app.models import CustomerMeter, CustomerMeterMember, Meter

UPDATE_JOB = "meters.update_customer"
BACKFILL_JOB = "meters.backfill"
COALESCE_SECONDS = 0.25


USAGE_DRAIN_JOB = "wallets.drain"  # app/wallets/usage.py: pays wallet-enabled usage


def request_usage_drain(session: AsyncSession, *, defer: float | None = None) -> None:
    """Ask for the session's organization's usage drain (app/wallets/usage.py: wallet-enabled
    usage paid from the wallets) after this transaction commits: one runs and at most one waits,
    queued ahead of the meter update jobs; or, with `defer`, that many seconds from now."""
    enqueue_single_after_commit(session, USAGE_DRAIN_JOB, ahead=defer is None, defer=defer or 0.0)


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
    meter = await repository.get(session, subject.scope, meter_id, for_update=for_update)
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
        for customer_id in await repository.forget_meter(session, subject.scope, meter.id):
            request_update(session, customer_id)
        enqueue_after_commit(session, BACKFILL_JOB, meter.id)
    return meter


async def set_archived(session: AsyncSession, subject: Subject, meter_id: uuid.UUID, archived: bool) -> Meter:
    """Archived meters stop counting and disappear from billing status; unarchiving counts the
    events again."""
    meter = await _meter(session, subject, meter_id, for_update=True)
    if archived and meter.archived_at is None:
        meter.archived_at = clock.now()
        await repository.forget_meter(session, subject.scope, meter.id)
    elif not archived and meter.archived_at is not None:
        meter.archived_at = None
        enqueue_after_commit(session, BACKFILL_JOB, meter.id)
    await session.flush()
    return meter


async def list_meters(
    session: AsyncSession, subject: Subject, *, archived: bool | None, first: int, after: str | None, max_page_size: int
) -> Page[Meter]:
    check_page_size(first, max_page_size)
    return await repository.list_page(session, subject.scope, archived=archived, first=first, after=after)


async def load_meters(session: AsyncSession, scope: TenantScope, ids: list[uuid.UUID]) -> list[Meter | None]:
    return in_order(await repository.get_many(session, scope, ids), ids)


async def load_customer_meters(session: AsyncSession, scope: TenantScope, customer_ids: list[uuid.UUID]) -> list[list[CustomerMeter]]:
    rows = await repository.customer_meters_of(session, scope, customer_ids)
    return grouped(rows, customer_ids, key=lambda row: row.customer_id)


async def load_member_meters(
    session: AsyncSession, scope: TenantScope, customer_ids: list[uuid.UUID]
) -> list[list[CustomerMeterMember]]:
    rows = await repository.member_meters_of(session, scope, customer_ids)
    return grouped(rows, customer_ids, key=lambda row: row.customer_id)
