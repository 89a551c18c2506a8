"""Per-second proration of a change inside a period, and the billing of pending entries.

A change at moment `t` inside the current period `[s, e)` bills what is left of the period:

    remaining = e - t, in whole seconds (t's fraction of a second is not counted)
    length    = e - s, in seconds
    credit for the old price = prorate(old period amount, remaining, length)
    debit for the new price  = prorate(new period amount, remaining, length)

each rounded once, by the kit's rule (app/kit/money.py `prorate`: half away from zero). A change
of product (or of price) writes two `proration` entries, a credit for the old price and a debit
for the new one; a change of seats alone writes one `seats_increase` (debit) or `seats_decrease`
(credit) of the prorated difference of the two period amounts, rounded once. Entries span
`[t, e)`. An entry of 0 is not written.

Entries written with no order (`prorate` into the next order) become lines of the next order of
the subscription (`bill_pending`): debits as lines, credits as negative lines. An order's
subtotal never goes below 0, so credit beyond what the order bills stays pending for the order
after: the crossing credit entry is split in two (the part billed, the part carried), and the
two add up to the entry's amount exactly.

Nothing here reads or writes the database: app/subscriptions/changes.py does.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Sequence

from app.kit.money import prorate
from app.models.subscription import BillingEntry, BillingEntryType
from app.orders.service import OrderLine

DEBIT = "debit"
CREDIT = "credit"
SECOND = timedelta(seconds=1)


@dataclass(frozen=True)
class PlannedEntry:
    """A billing entry a change writes (or would write, in a preview)."""

    type: BillingEntryType
    direction: str
    amount: int
    start_at: datetime
    end_at: datetime
    product_price_id: uuid.UUID
    label: str

    @property
    def signed(self) -> int:
        """The amount as an order line: negative for a credit."""
        return self.amount if self.direction == DEBIT else -self.amount

    def line(self) -> OrderLine:
        return OrderLine(label=self.label, unit_amount=self.signed, product_price_id=self.product_price_id, proration=True)


def seconds(at: datetime, start: datetime, end: datetime) -> tuple[int, int]:
    """(remaining, length) of the period `[start, end)` at `at`, in whole seconds."""
    if not start <= at < end:
        raise ValueError("the moment of a change is inside the current period")
    return (end - at) // SECOND, (end - start) // SECOND


def _span(start: datetime, end: datetime) -> str:
    return f"{start:%Y-%m-%d %H:%M:%S} to {end:%Y-%m-%d %H:%M:%S} UTC"


def product_change(
    *, at: datetime, start: datetime, end: datetime, old_amount: int, old_price_id: uuid.UUID, old_name: str,
    new_amount: int, new_price_id: uuid.UUID, new_name: str,
) -> list[PlannedEntry]:
    """The entries of a change of price at `at`: the old price's unused time credited, the new
    price's remaining time debited."""
    remaining, length = seconds(at, start, end)
    credit = prorate(old_amount, remaining, length)
    debit = prorate(new_amount, remaining, length)
    entries = []
    if credit:
        entries.append(PlannedEntry(BillingEntryType.proration, CREDIT, credit, at, end, old_price_id, f"Unused time on {old_name}, {_span(at, end)}"))
    if debit:
        entries.append(PlannedEntry(BillingEntryType.proration, DEBIT, debit, at, end, new_price_id, f"Remaining time on {new_name}, {_span(at, end)}"))
    return entries


def seat_change(
    *, at: datetime, start: datetime, end: datetime, old_amount: int, old_seats: int, new_amount: int, new_seats: int, price_id: uuid.UUID
) -> list[PlannedEntry]:
    """The entry of a change of seats at `at` (same price): the difference of the two period
    amounts, prorated once."""
    remaining, length = seconds(at, start, end)
    difference = prorate(abs(new_amount - old_amount), remaining, length)
    if not difference:
        return []
    if new_amount > old_amount:
        return [PlannedEntry(BillingEntryType.seats_increase, DEBIT, difference, at, end, price_id, f"Seats {old_seats} to {new_seats}, {_span(at, end)}")]
    return [PlannedEntry(BillingEntryType.seats_decrease, CREDIT, difference, at, end, price_id, f"Seats {old_seats} to {new_seats}, {_span(at, end)}")]


def entry_label(entry: BillingEntry) -> str:
    what = {
        BillingEntryType.proration.value: "Proration",
        BillingEntryType.seats_increase.value: "Seats added",
        BillingEntryType.seats_decrease.value: "Seats removed",
    }.get(entry.type, entry.type)
    return f"{what} ({entry.direction}), {_span(entry.start_at, entry.end_at)}"


@dataclass
class PendingBilled:
    """What the next order bills of a subscription's pending entries (`bill_pending`)."""

    lines: list[OrderLine]
    billed: list[BillingEntry]  # their order is the new order (the caller sets it)
    carried: list[BillingEntry]  # new entries: the parts of credits left for the order after

    @property
    def net(self) -> int:
        return sum(line.unit_amount * line.quantity for line in self.lines)


def bill_pending(pending: Sequence[BillingEntry], debits: int) -> PendingBilled:
    """The lines an order that bills `debits` (its other lines) takes from `pending` (entries with
    no order yet, oldest first): every debit; credits, oldest first, as far as the order's debits
    go (its subtotal never below 0). The credit that crosses that limit is split (its amount
    lowered to the part billed, a new pending entry for the rest); the credits after it stay
    pending. Changes the split entry in memory (the caller flushes it)."""
    room = debits + sum(e.amount for e in pending if e.direction == DEBIT)
    result = PendingBilled([], [], [])
    for entry in pending:
        if entry.direction == DEBIT:
            result.billed.append(entry)
            continue
        if room == 0:
            continue
        if entry.amount > room:
            rest = entry.amount - room
            entry.amount = room
            result.carried.append(
                BillingEntry(
                    id=uuid.uuid4(),
                    organization_id=entry.organization_id,
                    subscription_id=entry.subscription_id,
                    product_price_id=entry.product_price_id,
                    type=entry.type,
                    direction=entry.direction,
                    amount=rest,
                    currency=entry.currency,
                    start_at=entry.start_at,
                    end_at=entry.end_at,
                )
            )
        room -= entry.amount
        result.billed.append(entry)
    for entry in result.billed:
        signed = entry.amount if entry.direction == DEBIT else -entry.amount
        result.lines.append(OrderLine(label=entry_label(entry), unit_amount=signed, product_price_id=entry.product_price_id, proration=True))
    return result
