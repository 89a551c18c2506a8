"""Usage event ingestion: one service behind the GraphQL mutation and the REST endpoint.

A batch (at most 1,000 events) is validated whole: if any event is invalid, nothing is written
and every bad event is named by its index. Events are deduplicated by (organization,
`external_id`): a duplicate is counted, not stored. An event for an external customer id that
does not exist yet is kept and counts for that customer once it is created.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from decimal import Decimal, InvalidOperation
from typing import Any, Sequence

import msgspec
from sqlalchemy.ext.asyncio import AsyncSession

from app.auth.subject import Subject
from app.customers.service import get_customer
from app.events import repository
from app.kit import clock
from app.kit.errors import FieldIssue, NotFound, ValidationFailed
from app.kit.ids import from_global_id
from app.kit.pagination import Page, check_page_size
from app.kit.tenancy import TenantScope
from app.kit.validation import CONTROL_CHARACTERS, check_lookup_text, check_metadata, check_text, parse_timestamp
from app.meters import aggregation
from app.meters import repository as meters_repository
from app.meters.errors import MeterArchived
from app.meters.service import get_meter, request_update, request_usage_drain
from app.members.service import get_member
from app.models import Event, EventSource

MAX_BATCH = 1000
MAX_FUTURE = timedelta(minutes=5)
NAME_MAX = 256
ID_MAX = 256
_encode = msgspec.json.Encoder().encode
_UTC = timezone.utc
_CONTROL = CONTROL_CHARACTERS.search  # the kit's rule for names and ids, after `isprintable` clears most


@dataclass
class IngestResult:
    inserted: int
    duplicates: int


def _uuid(value: Any, type_name: str) -> uuid.UUID | None:
    """A Kassa id given as a UUID (REST, Polar's format) or as a GraphQL global id."""
    if not isinstance(value, str):
        return None
    try:
        return uuid.UUID(value)
    except ValueError:
        pass
    try:
        kind, parsed = from_global_id(value)
    except NotFound:
        return None
    return parsed if kind == type_name else None


def _timestamp(value: Any, now: datetime) -> datetime | str:
    """The parsed timestamp (UTC), or the reason it is refused."""
    if value is None:
        return now
    try:
        parsed = parse_timestamp(value)
    except ValueError as exc:
        return str(exc)
    if parsed - now > MAX_FUTURE:
        return f"is more than {int(MAX_FUTURE.total_seconds() // 60)} minutes in the future"
    return parsed


def _text(value: Any, max_length: int) -> str | None | bool:
    """The value if it is a usable string (no control characters), None if absent, False if invalid."""
    if value is None:
        return None
    if isinstance(value, str) and 0 < len(value) <= max_length and (value.isprintable() or not _CONTROL(value)):
        return value
    return False


async def ingest(session: AsyncSession, subject: Subject, events: Sequence[Any], *, source: str = EventSource.user.value) -> IngestResult:
    """Validate and store a batch of events (dicts with the REST field names)."""
    if not isinstance(events, (list, tuple)):
        raise ValidationFailed([FieldIssue(("events",), "must be a list of events", "invalid_type")])
    if not events:
        return IngestResult(inserted=0, duplicates=0)
    if len(events) > MAX_BATCH:
        raise ValidationFailed([FieldIssue(("events",), f"at most {MAX_BATCH} events per batch, got {len(events)}", "too_many")])

    now = clock.now()
    issues: list[FieldIssue] = []
    names, times, customer_ids, external_customers, member_ids, external_members, external_ids, metadata = (
        [], [], [], [], [], [], [], []
    )
    for index, event in enumerate(events):
        at = ("events", str(index))
        if not isinstance(event, dict):
            issues.append(FieldIssue(at, "must be an object", "invalid_type"))
            for column in (names, times, customer_ids, external_customers, member_ids, external_members, external_ids, metadata):
                column.append(None)  # keep its place: later checks name events by index
            continue
        name = event.get("name")
        if not isinstance(name, str) or not 0 < len(name) <= NAME_MAX:
            issues.append(FieldIssue((*at, "name"), f"is required: 1 to {NAME_MAX} characters", "invalid_name"))
        elif not name.isprintable() and _CONTROL(name):
            issues.append(FieldIssue((*at, "name"), "must not contain control characters such as NUL", "invalid_characters"))
        elif source == EventSource.user.value and name.startswith("kassa."):
            issues.append(FieldIssue((*at, "name"), "names starting with 'kassa.' are reserved for Kassa's own events", "reserved_name"))
        timestamp = _timestamp(event.get("timestamp"), now)
        if isinstance(timestamp, str):
            issues.append(FieldIssue((*at, "timestamp"), timestamp, "invalid_timestamp"))
        raw_customer, external_customer = event.get("customer_id"), _text(event.get("external_customer_id"), ID_MAX)
        customer_id = _uuid(raw_customer, "Customer") if raw_customer is not None else None
        if raw_customer is not None and customer_id is None:
            issues.append(FieldIssue((*at, "customer_id"), "is not a customer id", "invalid_id"))
        if external_customer is False:
            issues.append(FieldIssue((*at, "external_customer_id"), f"must be 1 to {ID_MAX} characters, without control characters", "invalid_id"))
        if (raw_customer is None) == (external_customer is None):
            issues.append(FieldIssue(at, "give the customer: its id or its external id, exactly one", "customer_required"))
        raw_member, external_member = event.get("member_id"), _text(event.get("external_member_id"), ID_MAX)
        member_id = _uuid(raw_member, "Member") if raw_member is not None else None
        if raw_member is not None and member_id is None:
            issues.append(FieldIssue((*at, "member_id"), "is not a member id", "invalid_id"))
        if external_member is False:
            issues.append(FieldIssue((*at, "external_member_id"), f"must be 1 to {ID_MAX} characters, without control characters", "invalid_id"))
        if raw_member is not None and external_member is not None:
            issues.append(FieldIssue(at, "give the member by its id or by its external id, not both", "member_ambiguous"))
        external_id = _text(event.get("external_id"), ID_MAX)
        if external_id is False:
            issues.append(FieldIssue((*at, "external_id"), f"must be 1 to {ID_MAX} characters, without control characters", "invalid_id"))
        meta = event.get("metadata")
        if meta is None:
            meta = {}
            encoded = b"{}"
        else:
            if type(meta) is not dict or len(meta) > 50 or not _simple_metadata(meta):
                meta = check_metadata(issues, (*at, "metadata"), meta)
                encoded = _encode(meta)
            else:
                encoded = _encode(meta)
                # Control characters come out of the encoder as escapes (behind a backslash),
                # DEL as itself and C1 characters behind the byte 0xc2: only then is each text
                # checked one by one.
                if b"\\" in encoded or b"\x7f" in encoded or b"\xc2" in encoded:
                    check_metadata(issues, (*at, "metadata"), meta)
        names.append(name)
        times.append(timestamp)
        customer_ids.append(customer_id)
        external_customers.append(external_customer or None)
        member_ids.append(member_id)
        external_members.append(external_member or None)
        external_ids.append(external_id or None)
        metadata.append(encoded)
    customers = await _resolve_customers(session, subject, customer_ids, external_customers, issues)
    await _check_members(session, subject, member_ids, customers, external_customers, issues)
    if issues:
        raise ValidationFailed(sorted(issues, key=_event_index))
    columns = [
        names,
        times,
        customers,
        external_customers,
        member_ids,
        external_members,
        external_ids,
        [m.decode() for m in metadata],
    ]
    inserted = await repository.insert_batch(session, subject.scope, source, columns, now=now)
    for customer_id in {c for c in customers if c is not None}:
        request_update(session, customer_id)
    if source == EventSource.user.value and inserted:
        request_usage_drain(session)
    return IngestResult(inserted=inserted, duplicates=len(events) - inserted)


def _simple_metadata(meta: dict) -> bool:
    """The common case, checked fast: short string keys, short strings, ints, bools."""
    for key, value in meta.items():
        if type(key) is not str or not 0 < len(key) <= 40:
            return False
        kind = type(value)
        if kind is str:
            if len(value) > 500:
                return False
        elif kind is not int and kind is not bool and kind is not float:
            return False
        elif kind is int and not -(2**63) < value < 2**63:
            return False
        elif kind is float and (value != value or value in (float("inf"), float("-inf"))):
            return False
    return True


def _event_index(issue: FieldIssue) -> int:
    return int(issue.path[1]) if len(issue.path) > 1 and issue.path[1].isdigit() else -1


async def _resolve_customers(
    session: AsyncSession,
    subject: Subject,
    customer_ids: list[uuid.UUID | None],
    external_ids: list[str | None],
    issues: list[FieldIssue],
) -> list[uuid.UUID | None]:
    """Each event's customer id: given, or found by external id (None if that one does not
    exist yet: the event waits for it). An unknown customer id is an issue."""
    given = {c for c in customer_ids if c is not None}
    if given:
        found = await repository.existing_customers(session, subject.scope, list(given))
        issues += [
            FieldIssue(("events", str(i), "customer_id"), "no such customer", "unknown_customer")
            for i, c in enumerate(customer_ids)
            if c is not None and c not in found
        ]
    wanted = {e for e in external_ids if e is not None}
    by_external = await repository.customers_by_external_id(session, subject.scope, list(wanted)) if wanted else {}
    return [c if c is not None else by_external.get(e) if e is not None else None for c, e in zip(customer_ids, external_ids)]


async def _check_members(
    session: AsyncSession,
    subject: Subject,
    member_ids: list[uuid.UUID | None],
    customers: list[uuid.UUID | None],
    external_customers: list[str | None],
    issues: list[FieldIssue],
) -> None:
    """A member given by id must exist and belong to the event's customer (which must exist)."""
    wanted = {m for m in member_ids if m is not None}
    if not wanted:
        return
    owners = await repository.member_customers(session, subject.scope, list(wanted))
    for index, (member_id, customer_id, external) in enumerate(zip(member_ids, customers, external_customers)):
        if member_id is None or (customer_id is None and external is None):  # no customer: said already
            continue
        path = ("events", str(index), "member_id")
        if member_id not in owners:
            issues.append(FieldIssue(path, "no such member", "unknown_member"))
        elif owners[member_id] != customer_id:
            issues.append(FieldIssue(path, "is not a member of this event's customer", "member_not_in_customer"))


# -- credits and resets: system events -----------------------------------------------------------


def _units(value: Any) -> Decimal:
    try:
        units = Decimal(str(value))
    except InvalidOperation:
        raise ValidationFailed([FieldIssue(("units",), "must be a decimal number", "invalid_units")]) from None
    if not units.is_finite() or units <= 0 or units > Decimal("1e20"):
        raise ValidationFailed([FieldIssue(("units",), "must be a positive number", "invalid_units")])
    return units


async def grant_credit(
    session: AsyncSession, subject: Subject, customer_id: uuid.UUID, meter_id: uuid.UUID, units: Any, *, external_id: str | None = None
) -> IngestResult:
    """Credit `units` to the customer's meter for the current period (a system event)."""
    amount = _units(units)
    customer = await get_customer(session, subject, customer_id)
    meter = await _active_meter(session, subject, meter_id)
    return await _system_event(
        session, subject, customer.id, meters_repository.CREDIT_EVENT, {"meter_id": str(meter.id), "units": str(amount)}, external_id
    )


async def reset_meter(
    session: AsyncSession, subject: Subject, customer_id: uuid.UUID, meter_id: uuid.UUID, *, external_id: str | None = None
) -> IngestResult:
    """Start a new period of the customer's meter: consumption and credits count from now."""
    customer = await get_customer(session, subject, customer_id)
    meter = await _active_meter(session, subject, meter_id)
    return await _system_event(session, subject, customer.id, meters_repository.RESET_EVENT, {"meter_id": str(meter.id)}, external_id)


async def _active_meter(session: AsyncSession, subject: Subject, meter_id: uuid.UUID):
    meter = await get_meter(session, subject, meter_id)
    if meter.archived_at is not None:
        raise MeterArchived(f"Meter {meter.name!r} is archived: unarchive it before crediting or resetting it")
    return meter


async def _system_event(
    session: AsyncSession, subject: Subject, customer_id: uuid.UUID, name: str, metadata: dict, external_id: str | None
) -> IngestResult:
    issues: list[FieldIssue] = []
    external_id = check_text(issues, ("externalId",), external_id, max_length=ID_MAX)
    if issues:
        raise ValidationFailed(issues)
    now = clock.now()
    inserted = await _write_system_events(session, subject.scope, [(customer_id, name, metadata, external_id, now)])
    return IngestResult(inserted=inserted, duplicates=1 - inserted)


async def reset_meters_at(session: AsyncSession, scope: TenantScope, resets: Sequence[tuple[uuid.UUID, uuid.UUID, datetime, int]]) -> None:
    """Start new periods of customer meters, each (customer, meter, at, xid floor) at its own
    time: the renewal's, each billed meter at the end of the period it billed; no event of the
    customer timestamped from then on has an xid below the floor. The reset events in one
    statement; the customer meters start their new period at once, in the rows
    (`aggregation.apply_resets`: a few statements for a renewal batch, not a meter update job per
    customer); only a customer with events of the new period already counted gets the job."""
    done = await aggregation.apply_resets(session, scope, resets)
    await _write_system_events(
        session,
        scope,
        [
            (customer_id, meters_repository.RESET_EVENT, _reset_metadata(meter_id, (customer_id, meter_id) in done.applied), None, at)
            for customer_id, meter_id, at, _ in resets
        ],
        update=False,
    )
    for customer_id in sorted(done.busy):
        request_update(session, customer_id)


def _reset_metadata(meter_id: uuid.UUID, applied: bool) -> dict[str, Any]:
    """A reset event's metadata; `applied`: the customer meter's row already starts its new period
    (the meter sweep need not count the event; the job, when it does, finds nothing to redo)."""
    return {"meter_id": str(meter_id), "applied": True} if applied else {"meter_id": str(meter_id)}


async def _write_system_events(
    session: AsyncSession, scope: TenantScope, rows: Sequence[tuple[uuid.UUID, str, dict, str | None, datetime]], *, update: bool = True
) -> int:
    """Write system events (customer, name, metadata, external id, timestamp) in one statement
    and (`update`) ask for their customers' meters to be brought up to date."""
    if not rows:
        return 0
    columns = [
        [r[1] for r in rows], [r[4] for r in rows], [r[0] for r in rows], [None] * len(rows), [None] * len(rows), [None] * len(rows),
        [r[3] for r in rows], [_encode(r[2]).decode() for r in rows],
    ]
    inserted = await repository.insert_batch(session, scope, EventSource.system.value, columns, now=clock.now())
    if update:
        for customer_id in dict.fromkeys(r[0] for r in rows):
            request_update(session, customer_id)
    return inserted


# -- reading ----------------------------------------------------------------------------------------


async def list_events(
    session: AsyncSession,
    subject: Subject,
    *,
    customer_id: uuid.UUID | None = None,
    member_id: uuid.UUID | None = None,
    name: str | None = None,
    after_time: datetime | None = None,
    before_time: datetime | None = None,
    source: str | None = None,
    first: int = 50,
    after: str | None = None,
    max_page_size: int = 100,
) -> Page[Event]:
    check_page_size(first, max_page_size)
    check_lookup_text({"name": name})
    customer = await get_customer(session, subject, customer_id) if customer_id is not None else None
    member = None
    if member_id is not None:
        member = await get_member(session, subject, member_id)
    return await repository.list_page(
        session,
        subject.scope,
        customer=customer,
        member=member,
        name=name,
        after_time=after_time,
        before_time=before_time,
        source=source,
        first=first,
        after=after,
    )
