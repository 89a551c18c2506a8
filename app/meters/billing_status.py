"""Billing status and the quota pre-check, read from the stored totals of the customer meters
(kept current by `app/meters/aggregation.py`), and the organization's status thresholds."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation
from typing import Any, Mapping

from sqlalchemy.ext.asyncio import AsyncSession

from app.auth.subject import Subject
from app.kit.errors import FieldIssue, NotFound, ValidationFailed
from app.meters import repository
from app.meters.errors import MeterArchived
from app.meters.service import get_meter
from app.members import repository as members
from app.models import Customer, Meter, Organization
from app.organizations import repository as organizations

STATUS_ORDER = ("ok", "warning", "critical", "exceeded")


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
    if member_id is not None:
        member = await members.get(session, subject.scope, member_id)
        if member is None or member.customer_id != customer.id:
            raise NotFound("Member not found in this customer")
    organization = await organizations.get(session, subject.scope)
    meters = await repository.active_meters(session, subject.scope)
    rows = await repository.customer_meters(session, subject.scope, customer.id)
    by_member = await repository.member_totals(session, subject.scope, customer.id, member_id) if member_id is not None else {}
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
            meter = await get_meter(session, subject, meter_id)
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
    organization = await organizations.get(session, subject.scope)
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
