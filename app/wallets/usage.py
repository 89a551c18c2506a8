"""The usage drain: usage of wallet-enabled metered prices paid from the customer's wallet, within
seconds of ingestion, in batches.

`drain_customer` runs in the meter job's transaction (workers/meters.py: `meters.update_customer`,
right after the customer meters are counted), under the customer's meter lock and with the same
snapshot xmin: it reads the customer's events by transaction id, from its cursor's watermark
(`WalletUsageCursor`) to that xmin, so every event is priced exactly once however the job runs
(twice, concurrently with ingestion, or after a crash rolled everything back).

**Which usage.** The customer's subscriptions that are active or past due (a trial's usage is not
billed) whose product has an active metered price with `wallet_enabled`, on a `count` or `sum`
meter (the catalog refuses other aggregations for wallet prices; a meter redefined since is
skipped). Only the user events matching the meter and timestamped at or after the subscription's
current period start (and its start) count; an event arriving late for an earlier period is not
paid by the wallet, nor billed by the renewal (which skips wallet-enabled prices).

**Pricing.** Per subscription, price and period a `WalletUsageTotal` keeps the units and the
amount priced so far; the new total units are priced by `metered_amount` (tiers, packages, the
cap, rounding once) and the batch costs the difference, so a fraction of a cent is never lost
between batches. (A volume price whose total falls into a cheaper tier is not given back: the
stored amount never decreases.)

**Paying.** The cost is split across the batch's members (events without a member are one part)
with the kit's `allocate`, by units. Events naming a hold (`metadata.hold_id`) have their part
captured from that hold first (app/wallets/holds.py: `capture_for_usage`); the rest is paid from
the wallet: at most a member's budget left (its `MemberBudget`), then at most what the wallet has
available (balance less active holds). What is not paid is recorded as `WalletUncoveredUsage`
(reason `member_budget`, `insufficient_balance`, or `no_wallet` when the customer has no wallet in
the price's currency: none is created for it), never as debt.

**Statements.** One to find the wallet prices (a customer without any stops there); then the
cursor, the meters, and per price one aggregation (grouped by member and hold), its total, the
wallet and budgets, one posting (`debit_many`) and one insert of uncovered rows: a few statements
whatever the number of events.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal
from typing import Any, Sequence

from sqlalchemy.ext.asyncio import AsyncSession

from app.catalog.usage_pricing import WALLET_AGGREGATIONS, metered_amount
from app.customers import repository as customers_repository
from app.kit import clock
from app.kit.money import allocate
from app.kit.tenancy import TenantScope
from app.meters import repository as meters_repository
from app.models import Customer, Meter, ProductPrice
from app.models.wallet import UncoveredReason, Wallet, WalletEntryType
from app.wallets import holds, repository
from app.wallets import service as wallets

QUANTUM = Decimal("0.000000000001")  # the 12 decimal places quantities are stored with
DRAINED_AGGREGATIONS = WALLET_AGGREGATIONS  # the catalog refuses others for wallet-enabled prices


@dataclass
class DrainResult:
    prices: int = 0  # wallet-enabled prices looked at
    debited: int = 0  # minor units paid (from the wallet and captured from holds)
    uncovered: int = 0  # minor units recorded as uncovered
    skipped: bool = False  # nothing to do: no wallet price, or no new transaction


@dataclass
class _Group:
    """The batch's units of one member (None: events without one) naming one hold (or none)."""

    member_id: uuid.UUID | None
    hold_id: uuid.UUID | None
    units: Decimal
    cost: int = 0


@dataclass
class _Part:
    """What one member owes of a batch after its holds: paid from the wallet as far as it can."""

    member_id: uuid.UUID | None
    units: Decimal = Decimal(0)
    cost: int = 0
    budget_cut: int = 0  # not paid: the member's budget was spent
    paid: int = 0


@dataclass
class _Batch:
    customer: Customer
    price: ProductPrice
    meter: Meter
    wallet: Wallet | None
    uncovered_rows: list[dict[str, Any]] = field(default_factory=list)


def _hold_id(text: str | None) -> uuid.UUID | None:
    if not text:
        return None
    try:
        return uuid.UUID(text)
    except ValueError:
        return None


def _quantity(units: Decimal, amount: int, cost: int) -> Decimal:
    """The share of `units` that `amount` of their `cost` stands for."""
    if cost <= 0 or amount <= 0:
        return Decimal(0)
    if amount >= cost:
        return units
    return (units * amount / cost).quantize(QUANTUM)


async def drain_customer(
    session: AsyncSession, scope: TenantScope, customer_id: uuid.UUID, xmin: int, *, customer: Customer | None = None
) -> DrainResult:
    """Pay the customer's new usage of wallet-enabled prices from its wallets: the events of
    transactions from the cursor's watermark up to `xmin` (the meter job's snapshot xmin, every
    transaction below it finished). Call it under the customer's meter lock
    (meters repository.lock_customer), in the job's transaction; `customer`: the row the job
    already read, if any. Safe to run twice."""
    result = DrainResult()
    prices = await repository.wallet_prices_of_customer(session, scope, customer_id)
    if not prices:
        result.skipped = True
        return result
    now = clock.now()
    if customer is None or customer.id != customer_id:
        customer = await customers_repository.get(session, scope, customer_id)
    if customer is None or customer.deleted_at is not None:
        result.skipped = True
        return result
    start = await repository.advance_usage_cursor(session, scope, customer_id, xmin, now)
    if start is None:  # a run with this xmin or a later one came first
        result.skipped = True
        return result
    meters = {m.id: m for m in await meters_repository.get_many(session, scope, list({row.ProductPrice.meter_id for row in prices}))}
    wallets_by_currency: dict[str, Wallet | None] = {}
    for row in prices:
        price: ProductPrice = row.ProductPrice
        meter = meters.get(price.meter_id)
        if meter is None or meter.aggregation.get("func") not in DRAINED_AGGREGATIONS:
            continue
        result.prices += 1
        period_start = max(row.current_period_start, row.started_at)
        units_rows = await repository.usage_units(session, meter, customer, start, xmin, period_start)
        groups = [_Group(r.member, _hold_id(r.hold), max(Decimal(r.units), Decimal(0))) for r in units_rows]
        groups = [g for g in groups if g.units > 0]
        if not groups:
            continue
        total = await repository.usage_total(session, scope, row.subscription_id, price.id, row.current_period_start, now)
        units = (Decimal(total.units) + sum((g.units for g in groups), Decimal(0))).quantize(QUANTUM)
        amount = metered_amount(price, units)
        cost = max(amount - int(total.amount), 0)
        total.units, total.amount, total.modified_at = units, max(amount, int(total.amount)), now
        if cost == 0:
            continue
        if price.currency not in wallets_by_currency:
            wallets_by_currency[price.currency] = await repository.wallet_by_customer(session, scope, customer.id, price.currency, lock=True)
        batch = _Batch(customer, price, meter, wallets_by_currency[price.currency])
        debited, uncovered = await _pay(session, scope, batch, groups, cost, now)
        result.debited += debited
        result.uncovered += uncovered
        await repository.add_uncovered(session, batch.uncovered_rows)
    await session.flush()
    return result


async def _pay(session: AsyncSession, scope: TenantScope, batch: _Batch, groups: list[_Group], cost: int, now: datetime) -> tuple[int, int]:
    """Pay `cost`, split over the groups by units: holds first, then each member's rest from the
    wallet within its budget and what is available. (paid, uncovered)."""
    for group, part in zip(groups, allocate(cost, [g.units for g in groups])):
        group.cost = part
    wallet = batch.wallet
    captured = 0
    parts: dict[uuid.UUID | None, _Part] = {}
    for group in groups:
        units, owed = group.units, group.cost
        if group.hold_id is not None and owed > 0 and wallet is not None:
            paid = await holds.capture_for_usage(
                session, scope, wallet, group.hold_id, owed, member_id=group.member_id, meter_id=batch.meter.id,
                product_price_id=batch.price.id, quantity=units,
            )
            paid = max(min(paid, owed), 0)
            captured += paid
            units = units - _quantity(units, paid, owed)
            owed -= paid
        part = parts.setdefault(group.member_id, _Part(group.member_id))
        part.units += units
        part.cost += owed
    if captured and wallet is not None:  # the captures moved the balance and the holds
        wallet = await repository.get(session, scope, wallet.id, lock=True)
        batch.wallet = wallet
    ordered = sorted((p for p in parts.values() if p.cost > 0), key=lambda p: (p.member_id is None, str(p.member_id)))
    if wallet is None:
        for part in ordered:
            _uncovered(batch, part.member_id, part.units, part.cost, UncoveredReason.no_wallet, now)
        return captured, sum(p.cost for p in ordered)

    budgets: dict[uuid.UUID, Any] = {}
    budgeted = await repository.budgeted_members(session, scope, wallet.id, [p.member_id for p in ordered if p.member_id is not None])
    for part in ordered:
        payable = part.cost
        if part.member_id in budgeted:
            spend = await wallets.member_spend(session, scope, wallet, part.member_id, lock=True)
            if spend is not None and spend.left is not None:
                budgets[part.member_id] = spend.budget
                payable = min(payable, spend.left)
        part.budget_cut = part.cost - payable
        part.paid = payable
    wanted = sum(p.paid for p in ordered)
    available = wallet.available
    if wanted > available:
        payers = [p for p in ordered if p.paid > 0]
        for part, share in zip(payers, allocate(available, [p.paid for p in payers]) if available > 0 else [0] * len(payers)):
            part.paid = share
    debits = []
    for part in ordered:
        paid_units = _quantity(part.units, part.paid, part.cost)
        if part.paid > 0:
            debits.append(
                (
                    WalletEntryType.usage.value,
                    part.paid,
                    {"member_id": part.member_id, "meter_id": batch.meter.id, "product_price_id": batch.price.id, "quantity": paid_units},
                )
            )
            if part.member_id in budgets:
                wallets.add_spend(budgets[part.member_id], part.paid)
        budget_units = _quantity(part.units, part.budget_cut, part.cost)
        if part.budget_cut > 0:
            _uncovered(batch, part.member_id, budget_units, part.budget_cut, UncoveredReason.member_budget, now)
        short = part.cost - part.budget_cut - part.paid
        if short > 0:
            _uncovered(batch, part.member_id, part.units - paid_units - budget_units, short, UncoveredReason.insufficient_balance, now)
    if debits:
        await wallets.debit_many(session, scope, wallet, debits)
    paid = sum(p.paid for p in ordered)
    return captured + paid, sum(p.cost for p in ordered) - paid


def _uncovered(batch: _Batch, member_id: uuid.UUID | None, units: Decimal, amount: int, reason: UncoveredReason, now: datetime) -> None:
    batch.uncovered_rows.append(
        {
            "id": uuid.uuid4(),
            "organization_id": batch.customer.organization_id,
            "created_at": now,
            "customer_id": batch.customer.id,
            "wallet_id": batch.wallet.id if batch.wallet is not None else None,
            "currency": batch.price.currency,
            "meter_id": batch.meter.id,
            "member_id": member_id,
            "product_price_id": batch.price.id,
            "quantity": units,
            "amount": amount,
            "reason": reason.value,
        }
    )

