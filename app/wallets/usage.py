"""The usage drain: usage of wallet-enabled metered prices paid from the customers' wallets,
within seconds of ingestion, in batches.

`drain_organization` is the job `wallets.drain` (workers/wallets.py), one per organization:
every ingestion of user events asks for it (app/meters/service.py: `request_usage_drain`; at most
one waits while one runs, queued ahead of the per-customer meter jobs, so a backlog of those never
delays a debit). Drains of one organization take turns (an advisory lock). Each reads every
customer's events by transaction id, from the customer's cursor's watermark (`WalletUsageCursor`)
to the snapshot's xmin, so every event is priced exactly once however the job runs (twice,
concurrently with ingestion, or after a crash rolled everything back); a customer's cursor moves
only when it had events in its window.

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

**Statements.** A few whatever the number of customers and events: the lock, the wallet prices,
the cursors, the meters, per price two aggregations (the customers' events and those sent for
their external ids before they existed, grouped by customer, member and hold), the cursors' move,
the usage totals (read and written), the wallets (locked in id order) and their budgets; then the
common case (no hold named, no budgeted member, the wallet covers it) is paid for every wallet
at once (`debit_wallets`: the lots and one `post_many`), the others one by one (`_pay`), and the
uncovered rows are inserted at once.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal
from typing import Any, Awaitable, Callable

from sqlalchemy.ext.asyncio import AsyncSession

from app.catalog.usage_pricing import WALLET_AGGREGATIONS, metered_amount
from app.kit import clock
from app.kit.money import allocate
from app.kit.tenancy import TenantScope
from app.meters import repository as meters_repository
from app.models import Meter, ProductPrice
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
    skipped: bool = False  # nothing to do: no wallet price
    more_pending: bool = False  # events of transactions at or above the xmin: another run is due


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
    customer_id: uuid.UUID
    organization_id: uuid.UUID
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


async def drain_organization(session: AsyncSession, scope: TenantScope, *, locked: Callable[[], Awaitable[None]] | None = None) -> DrainResult:
    """Pay the organization's new usage of wallet-enabled prices from its customers' wallets: for
    each customer, the events of transactions from its cursor's watermark up to the snapshot's
    xmin (every transaction below it finished). Drains of one organization take turns (an advisory
    lock; `locked` is awaited once it is held, before anything is read); safe to run twice,
    concurrently, or after a crash rolled one back. `more_pending`: some of the customers have
    events of transactions at or above the xmin (still running when it looked, or committed after)."""
    result = DrainResult()
    await repository.lock_drain(session, scope)
    if locked is not None:
        await locked()
    xmin = await meters_repository.snapshot_xmin(session)  # after the lock: the previous drain's cursors are visible
    prices = await repository.wallet_prices_of_organization(session, scope)
    if not prices:
        result.skipped = True
        return result
    now = clock.now()
    watermarks = await repository.usage_watermarks(session, scope, list({row.customer_id for row in prices}))
    meters = {m.id: m for m in await meters_repository.get_many(session, scope, list({row.price.meter_id for row in prices}))}
    by_price: dict[uuid.UUID, list[Any]] = {}
    for row in prices:
        meter = meters.get(row.price.meter_id)
        if meter is not None and meter.aggregation.get("func") in DRAINED_AGGREGATIONS and watermarks.get(row.customer_id, 0) < xmin:
            by_price.setdefault(row.price.id, []).append(row)
    active: set[uuid.UUID] = set()  # customers with events in their window: their cursors move
    batches: list[tuple[Any, list[_Group]]] = []
    for price_rows in by_price.values():
        price: ProductPrice = price_rows[0].price
        targets = [
            (row.subscription_id, row.customer_id, row.external_id, watermarks.get(row.customer_id, 0), max(row.current_period_start, row.started_at))
            for row in price_rows
        ]
        found: dict[uuid.UUID, list[_Group]] = {}  # subscription -> its groups (of this price)
        for unit in await repository.usage_units(session, scope, meters[price.meter_id], targets, xmin):
            active.add(unit.customer_id)
            units = max(Decimal(unit.units), Decimal(0))
            if units > 0:
                groups = found.setdefault(unit.subscription_id, [])
                key = (unit.member, _hold_id(unit.hold))
                same = next((g for g in groups if (g.member_id, g.hold_id) == key), None)  # an own and a late event's group
                if same is not None:
                    same.units += units
                else:
                    groups.append(_Group(key[0], key[1], units))
        batches += [(row, found[row.subscription_id]) for row in price_rows if row.subscription_id in found]
    result.prices = len(by_price)
    result.more_pending = await repository.advance_usage_cursors(session, scope, sorted(active), list({row.customer_id for row in prices}), xmin, now)
    if not batches:
        return result
    await _price_and_pay(session, scope, batches, meters, now, result)
    await session.flush()
    return result


async def _price_and_pay(
    session: AsyncSession, scope: TenantScope, batches: list[tuple[Any, list[_Group]]], meters: dict[uuid.UUID, Meter], now: datetime, result: DrainResult
) -> None:
    """Price each subscription's new units against its period's total, then pay: the common case
    (no hold named, no member budget, the wallet covers it) in one set of statements for every
    wallet; the others one by one (`_pay`)."""
    totals = await repository.usage_totals(session, scope, [(row.subscription_id, row.price.id, row.current_period_start) for row, _groups in batches])
    stored, costs = [], []
    for row, groups in batches:
        price: ProductPrice = row.price
        total_units, total_amount = totals.get((row.subscription_id, price.id, row.current_period_start), (Decimal(0), 0))
        units = (total_units + sum((g.units for g in groups), Decimal(0))).quantize(QUANTUM)
        amount = metered_amount(price, units)
        stored.append((row.subscription_id, price.id, row.current_period_start, units, max(amount, total_amount)))
        costs.append(max(amount - total_amount, 0))
    await repository.set_usage_totals(session, scope, stored, now)
    wallets_by_key, budgeted = await repository.lock_wallets_of(session, scope, [(row.customer_id, row.price.currency) for row, _groups in batches])
    available = {w.id: w.available for w in wallets_by_key.values()}
    simple: list[tuple[Wallet, list[tuple[str, int, dict[str, Any]]]]] = []
    others: list[tuple[_Batch, list[_Group], int]] = []
    uncovered_rows: list[dict[str, Any]] = []
    for (row, groups), cost in zip(batches, costs):
        if cost == 0:
            continue
        price = row.price
        wallet = wallets_by_key.get((row.customer_id, price.currency))
        batch = _Batch(row.customer_id, scope.organization_id, price, meters[price.meter_id], wallet, uncovered_rows)
        common = (
            wallet is not None and available[wallet.id] >= cost
            and all(g.hold_id is None and (wallet.id, g.member_id) not in budgeted for g in groups)
        )
        if not common:
            others.append((batch, groups, cost))
            continue
        assert wallet is not None
        available[wallet.id] -= cost
        parts: dict[uuid.UUID | None, _Part] = {}
        for group in groups:
            parts.setdefault(group.member_id, _Part(group.member_id)).units += group.units
        ordered = sorted(parts.values(), key=lambda p: (p.member_id is None, str(p.member_id)))
        for part, share in zip(ordered, allocate(cost, [p.units for p in ordered])):
            part.cost = part.paid = share
        simple.append((wallet, _usage_debits(batch, ordered)))
        result.debited += cost
    await wallets.debit_wallets(session, scope, simple)
    for batch, groups, cost in others:  # the wallets are locked already, in order
        debited, uncovered = await _pay(session, scope, batch, groups, cost, now)
        result.debited += debited
        result.uncovered += uncovered
    await repository.add_uncovered(session, uncovered_rows)


def _usage_debits(batch: _Batch, parts: list[_Part]) -> list[tuple[str, int, dict[str, Any]]]:
    """The usage entries of the parts' payments (each with its member, the meter, the price and
    the quantity its payment stands for)."""
    return [
        (
            WalletEntryType.usage.value,
            part.paid,
            {"member_id": part.member_id, "meter_id": batch.meter.id, "product_price_id": batch.price.id, "quantity": _quantity(part.units, part.paid, part.cost)},
        )
        for part in parts
        if part.paid > 0
    ]


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
    for part in ordered:
        paid_units = _quantity(part.units, part.paid, part.cost)
        if part.paid > 0 and part.member_id in budgets:
            wallets.add_spend(budgets[part.member_id], part.paid)
        budget_units = _quantity(part.units, part.budget_cut, part.cost)
        if part.budget_cut > 0:
            _uncovered(batch, part.member_id, budget_units, part.budget_cut, UncoveredReason.member_budget, now)
        short = part.cost - part.budget_cut - part.paid
        if short > 0:
            _uncovered(batch, part.member_id, part.units - paid_units - budget_units, short, UncoveredReason.insufficient_balance, now)
    debits = _usage_debits(batch, ordered)
    if debits:
        await wallets.debit_many(session, scope, wallet, debits)
    paid = sum(p.paid for p in ordered)
    return captured + paid, sum(p.cost for p in ordered) - paid


def _uncovered(batch: _Batch, member_id: uuid.UUID | None, units: Decimal, amount: int, reason: UncoveredReason, now: datetime) -> None:
    batch.uncovered_rows.append(
        {
            "id": uuid.uuid4(),
            "organization_id": batch.organization_id,
            "created_at": now,
            "customer_id": batch.customer_id,
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

