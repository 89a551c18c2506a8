"""Metered billing at the end of a subscription's period (called by `renew_due` for its batch).

**What is billed.** For each active metered price of the subscription's product that is not
paid from the wallet (`wallet_enabled`: the wallets bill those as usage happens), the closed
period's units: the meter's aggregation over the customer's matching usage events timestamped
in [period start, period end), less the units credited to that meter in the period
(`kassa.meter_credit` events timestamped in it), never below 0; priced by
`metered_amount` (app/catalog/usage_pricing.py: tiers, packages, rounding once, the cap).
Written as `metered` billing entries (debits spanning the period) and lines of the renewal
order. Usage during a trial is not billed (the trial's closed period is skipped, and events
timestamped before the first paid period never are). A subscription canceled at the period's
end gets its last period's usage in a final order of metered lines only, when not zero.

**Exactly once, late usage.** Billing reads events by their `xid` (the inserting transaction),
as the meter job does: a renewal reads w = pg_snapshot_xmin (every transaction below w has
finished), counts only events with xid < w and stores w on the subscription
(`metered_watermark`). An event timestamped in an already billed period whose xid is at or
above that renewal's w (it arrived, or committed, after) is found by the next renewal (xid from
the previous w to the new one, timestamp before the closed period) and billed on its order, as
its own entries and lines labelled with its period. That period's total is counted again over
all its events below the new w and priced, and what its metered entries already billed is
subtracted: for count and sum that is the late units priced as the increment of the total (so
tiers and caps stay right), for max, min, avg and unique the difference the new quantity makes.
A decrease (a late credit) is not given back: nothing is billed. The renewal's row lock, the
whole batch in one transaction and the stored watermark make every event billed once: a second
run finds nothing due, a worker killed mid-batch rolls everything back.

**Per member.** For a business customer the price's amount of a period is computed on the
total units, then split across its members (the events' member; events without one as one
part, "no member") with the kit's `allocate`, by their units (a late amount by their late
units): the entries and lines of a price add up exactly to its amount.

**Resets.** After billing, a `kassa.meter_reset` system event for each billed meter at the
period's end (app/events/service.py: reset_meters_at) starts the customer meter's new period.
Billing reads events by period, never the customer meters: a reset does not hide late events of
a closed period from the next renewal.

**Reading by xid, the floor.** Events are read through the indexes the meter job reads
((customer_id, xid), and (organization_id, external_customer_id, xid) for events sent for an
external id), so ingestion pays for no index of billing's own. Each subscription keeps a floor
(`metered_floor`): no event of its customer timestamped in the current period or later has a
smaller xid. A renewal reads the closing period's events from the floor to the new watermark
(about one period's arrivals), and sets the next floor: the smallest xid below the watermark
among the customer's events timestamped from the period's end on (sent ahead of time, at most a
few minutes), else the watermark. The late days are read from the previous watermark; a late
period's total (counted again) from 0, which is rare. A subscription's first renewal reads from 0.

**Statements.** For a batch of up to 200 subscriptions: the prices, the meters and the
watermark; per meter, the late days (only when a subscription was billed before) and one
aggregation of every period of the batch (a VALUES list joined to the events); what was billed;
the members' names; the next floors; the resets.
"""

from __future__ import annotations

import bisect
import uuid
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from decimal import Decimal
from types import SimpleNamespace
from typing import Any, Mapping, Sequence

from sqlalchemy.ext.asyncio import AsyncSession

from app.catalog.usage_pricing import metered_amount
from app.events import service as events
from app.kit.decimals import decimal_text
from app.kit.money import allocate
from app.kit.periods import period_bounds
from app.kit.tenancy import TenantScope
from app.meters import repository as meters_repository
from app.meters.aggregation import QUANTUM, consumed_of
from app.models import Customer, Meter, ProductPrice
from app.models.subscription import BillingEntry, BillingEntryType, Subscription
from app.orders.service import OrderLine
from app.subscriptions import repository
from app.subscriptions.repository import NO_MEMBER, UsageSpan

__all__ = ["MeteredBill", "bill_batch"]


@dataclass
class MeteredBill:
    """A subscription's metered lines for its order and their entries (the order set later)."""

    lines: list[OrderLine] = field(default_factory=list)
    entries: list[BillingEntry] = field(default_factory=list)

    @property
    def amount(self) -> int:
        return sum(line.unit_amount * line.quantity for line in self.lines)


@dataclass(frozen=True)
class _Period:
    subscription: Subscription
    start: datetime
    end: datetime
    late: bool  # an earlier, already billed period (with late usage), not the one closing now


def _quantity(aggregation: dict[str, Any], row: Any, prefix: str = "") -> Decimal:
    """The meter's quantity from a row of totals (`prefix` "late_": of the late events alone),
    by the same rule as the customer meters (app/meters/aggregation.py: consumed_of)."""
    if row is None:
        return Decimal(0)
    names = ("event_count", "value_count", "value_sum", "value_max", "value_min", "distinct_count")
    return consumed_of(aggregation, SimpleNamespace(**{name: getattr(row, prefix + name) for name in names}))


def _closed_periods(subscription: Subscription) -> list[tuple[datetime, datetime]]:
    """The subscription's paid periods before the one closing now, oldest first."""
    bounds = []
    for number in range(subscription.period_number):
        bounds.append(period_bounds(subscription.anchor_at, subscription.recurring_interval, number))
    return bounds


def _periods_of_day(bounds: list[tuple[datetime, datetime]], day: datetime) -> list[tuple[datetime, datetime]]:
    """The periods among `bounds` that overlap the UTC day starting at `day`."""
    index = bisect.bisect_right([start for start, _ in bounds], day) - 1
    found = []
    for start, end in bounds[max(index, 0):]:
        if start >= day + timedelta(days=1):
            break
        if end > day:
            found.append((start, end))
    return found


def _units_text(units: Decimal) -> str:
    return decimal_text(units.quantize(QUANTUM))


async def bill_batch(
    session: AsyncSession, scope: TenantScope, due: Sequence[Subscription], customers: Mapping[uuid.UUID, Customer]
) -> dict[uuid.UUID, MeteredBill]:
    """The metered lines and entries of each locked, due subscription of a renewal batch whose
    closed period (or earlier, late usage) costs something; call it before the periods move.
    Stores each billed subscription's watermark and writes the meters' resets."""
    prices = await repository.metered_prices(session, scope, list({s.product_id for s in due}))
    by_product: dict[uuid.UUID, list[ProductPrice]] = {}
    for price in prices:
        by_product.setdefault(price.product_id, []).append(price)
    billed_subscriptions = [s for s in due if s.product_id in by_product]
    if not billed_subscriptions:
        return {}
    meters = {m.id: m for m in await meters_repository.get_many(session, scope, list({p.meter_id for p in prices if p.meter_id is not None}))}
    watermark = await meters_repository.snapshot_xmin(session)

    usage: dict[tuple[int, uuid.UUID | None], Any] = {}
    periods: dict[int, tuple[_Period, ProductPrice, Meter]] = {}
    for meter in meters.values():
        on_meter = [(s, p) for s in billed_subscriptions for p in by_product[s.product_id] if p.meter_id == meter.id]
        if not on_meter:
            continue
        spans: list[UsageSpan] = []

        def add(period: _Period, price: ProductPrice, late_from: int, xid_from: int = 0) -> None:
            key = len(periods)
            periods[key] = (period, price, meter)
            customer = customers.get(period.subscription.customer_id)
            spans.append(UsageSpan(key, period.subscription.customer_id, customer.external_id if customer else None, period.start, period.end, late_from, xid_from))

        for subscription, price in on_meter:
            if subscription.period_number >= 0:  # a trial's usage is not billed
                add(_Period(subscription, subscription.current_period_start, subscription.current_period_end, False), price, 0, subscription.metered_floor or 0)
        await _add_late_periods(session, scope, meter, on_meter, watermark, customers, add)
        if spans:
            usage.update(await repository.span_usage(session, scope, meter, spans, watermark))

    billed = await repository.billed_metered(session, scope, [(p.subscription.id, p.start) for p, _, _ in periods.values()])
    member_ids = [member for (_key, member) in usage if member is not None and member != NO_MEMBER]
    members = await repository.members_by_id(session, scope, member_ids) if member_ids else {}

    bills: dict[uuid.UUID, MeteredBill] = {}
    for key, (period, price, meter) in periods.items():
        customer = customers.get(period.subscription.customer_id)
        parts = _bill_period(key, period, price, meter, usage, billed.get((period.subscription.id, price.id, period.start), 0), customer, members)
        if parts:
            bill = bills.setdefault(period.subscription.id, MeteredBill())
            for line, entry in parts:
                bill.lines.append(line)
                bill.entries.append(entry)

    floors = await _next_floors(session, scope, billed_subscriptions, customers, watermark)
    resets = []
    for subscription in billed_subscriptions:
        subscription.metered_watermark = watermark
        subscription.metered_floor = floors[subscription.id]
        for price in by_product[subscription.product_id]:
            resets.append((subscription.customer_id, price.meter_id, subscription.current_period_end, subscription.metered_floor))
    await events.reset_meters_at(session, scope, resets)
    return bills


async def _next_floors(
    session: AsyncSession, scope: TenantScope, subscriptions: Sequence[Subscription], customers: Mapping[uuid.UUID, Customer], watermark: int
) -> dict[uuid.UUID, int]:
    """Each subscription's floor for the period starting now: the smallest xid of the customer's
    events timestamped from the closing period's end on (sent ahead of time, at most a few
    minutes) among those below the watermark, else the watermark. Every event of the new period
    and later ones has an xid at least as large, so the next renewal reads the customer's events
    from there by xid (one period's arrivals, not its whole history) and misses none. One
    statement for the batch; the first renewal of a subscription reads from 0."""
    spans = []
    for index, subscription in enumerate(subscriptions):
        customer = customers.get(subscription.customer_id)
        external_id = customer.external_id if customer else None
        spans.append(UsageSpan(index, subscription.customer_id, external_id, subscription.current_period_end, subscription.current_period_end, 0, subscription.metered_floor or 0))
    first = await repository.first_xids_from(session, scope, spans, watermark)
    return {subscription.id: min(watermark, first.get(index, watermark)) for index, subscription in enumerate(subscriptions)}


async def _add_late_periods(session, scope, meter, on_meter, watermark, customers, add) -> None:
    """Add the earlier periods in which usage (or credit) of the meter arrived since the last
    renewal's watermark: one statement for the batch, which finds the days such events are
    timestamped on; each day's periods are counted again."""
    candidates = [(s, p) for s, p in on_meter if s.metered_watermark is not None and s.period_number >= 1]
    if not candidates:
        return
    spans = []
    for index, (subscription, _price) in enumerate(candidates):
        customer = customers.get(subscription.customer_id)
        spans.append(
            UsageSpan(
                index, subscription.customer_id, customer.external_id if customer else None,
                subscription.anchor_at, subscription.current_period_start, subscription.metered_watermark, subscription.metered_watermark,
            )
        )
    days: dict[int, set[datetime]] = {}
    for index, day in await repository.late_usage_days(session, scope, meter, spans, watermark):
        days.setdefault(index, set()).add(day)
    for index, found in days.items():
        subscription, price = candidates[index]
        bounds = _closed_periods(subscription)
        late = sorted({period for day in found for period in _periods_of_day(bounds, day)})
        for start, end in late:
            add(_Period(subscription, start, end, True), price, subscription.metered_watermark)


def _bill_period(
    key: int,
    period: _Period,
    price: ProductPrice,
    meter: Meter,
    usage: Mapping[tuple[int, uuid.UUID | None], Any],
    billed_before: int,
    customer: Customer | None,
    members: Mapping[uuid.UUID, Any],
) -> list[tuple[OrderLine, BillingEntry]]:
    """One price's lines and entries for one period: its amount now, less what was billed."""
    total = usage.get((key, None))
    consumed = _quantity(meter.aggregation, total)
    credited = Decimal(total.credited) if total is not None else Decimal(0)
    units = max(Decimal(0), consumed - credited).quantize(QUANTUM)
    amount = metered_amount(price, units) - billed_before
    if amount < 0 or (amount == 0 and (period.late or units == 0)):
        return []  # nothing new (a decrease is not given back)

    span = f"{period.start:%Y-%m-%d} to {period.end:%Y-%m-%d}"
    late = " (late usage)" if period.late else ""
    prefix = "late_" if period.late else ""
    business = customer is not None and customer.type == "business"
    shares: list[tuple[uuid.UUID | None, Decimal]] = []
    if business:
        shares = [
            (None if member == NO_MEMBER else member, _quantity(meter.aggregation, row, prefix))
            for (row_key, member), row in usage.items()
            if row_key == key and member is not None
        ]
        shares = sorted([s for s in shares if s[1] > 0], key=lambda s: (s[0] is None, str(s[0])))
    if not shares:
        quantity = _quantity(meter.aggregation, total, prefix) if period.late else units
        label = f"{meter.name}: {_units_text(quantity)} units"
        if credited and not period.late:
            label += f" ({_units_text(consumed)} used, {_units_text(credited)} credited)"
        return [_part(period, price, meter, amount, quantity, None, f"{label}, {span}{late}")]
    parts = []
    for (member_id, quantity), part in zip(shares, allocate(amount, [q for _, q in shares])):
        member = members.get(member_id) if member_id is not None else None
        who = (member.name or member.email or str(member_id)) if member is not None else "no member"
        parts.append(_part(period, price, meter, part, quantity, member_id, f"{meter.name}: {_units_text(quantity)} units by {who}, {span}{late}"))
    return parts


def _part(period: _Period, price: ProductPrice, meter: Meter, amount: int, quantity: Decimal, member_id: uuid.UUID | None, label: str) -> tuple[OrderLine, BillingEntry]:
    subscription = period.subscription
    entry = BillingEntry(
        id=uuid.uuid4(),
        organization_id=subscription.organization_id,
        subscription_id=subscription.id,
        product_price_id=price.id,
        type=BillingEntryType.metered.value,
        direction="debit",
        amount=amount,
        currency=price.currency,
        start_at=period.start,
        end_at=period.end,
        meter_id=meter.id,
        member_id=member_id,
        quantity=quantity.quantize(QUANTUM),
    )
    return OrderLine(label=label[:512], unit_amount=amount, quantity=1, product_price_id=price.id), entry
