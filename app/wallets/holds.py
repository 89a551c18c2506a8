"""Holds: funds reserved before serving a request, then captured for the actual amount (the rest
released), released, or expired; and `check`, the cheap read that says whether a wallet covers an
estimated use.

A hold is taken under the wallet row's lock: what is available is `balance - held` (and, for a
member with a budget, at most the budget left: its amount less what the member spent this period
and its active holds), so concurrent holds never reserve more than the wallet holds. `held`
always equals the sum of the active holds' amounts (a test checks it after every scenario). A
capture posts a `hold_capture` debit through `service.debit` (the only posting path) and releases
the hold's whole amount from `held`. A capture of 0 is a release in effect, recorded as `captured`
with a captured amount of 0.

Expiry: a hold past `expires_at` is no longer active. The job `wallets.expire_holds` (every
minute) marks such holds `expired` and releases them; a new hold that finds too little available
(and the usage drain's capture) first expires the wallet's overdue holds in the same locked
transaction, so an overdue hold never blocks funds; a capture or release of an overdue hold
answers `HoldNotActive` with status `expired` (its transaction rolls back; the job or the next
hold marks it).

Round trips under the lock: a hot wallet's holds and captures queue on its row lock, so the
common hold (no member) is one statement (`repository.try_hold`: the conditional UPDATE takes the
lock and the INSERT rides with it), and a capture reads the hold and wallet before the lock, takes
it with the resolving UPDATE, then spends the lots and posts in one statement (`service.debit`:
the ledger's post `along` the lots' spend). The lots are read in a statement after the one that
took the lock, never in it: a statement's snapshot predates the lock it waits for.

Holds move `held` (and so `available`), not the balance: only a capture, through `debit`, asks
for the wallet's balance-changed job.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta
from decimal import Decimal, InvalidOperation
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm.attributes import set_committed_value

from app.auth.subject import Subject
from app.catalog.usage_pricing import metered_amount
from app.customers.service import get_customer
from app.kit import clock
from app.kit.errors import FieldIssue, NotFound, ValidationFailed
from app.kit.money import check_amount
from app.kit.batches import grouped
from app.kit.tenancy import TenantScope
from app.kit.validation import check_text
from app.models import Customer
from app.models.wallet import MemberBudget, Wallet, WalletHold, WalletHoldStatus
from app.wallets import repository, service
from app.wallets.errors import HoldNotActive, InsufficientFunds
from app.wallets.service import INSUFFICIENT_BALANCE, MEMBER_BUDGET_EXCEEDED

EXPIRES_IN_MIN = 1  # seconds
EXPIRES_IN_MAX = 7 * 24 * 3600
DESCRIPTION_MAX = 512
COVERED = "COVERED"
NO_WALLET_PRICE = "NO_WALLET_PRICE"


def _set_held(wallet: Wallet, held: int | None) -> None:
    """The wallet's `held` as the database now has it (not a change to flush)."""
    if held is not None:
        set_committed_value(wallet, "held", held)


async def expire_overdue(session: AsyncSession, scope: TenantScope, wallet: Wallet) -> None:
    """Expire the wallet's holds past their expiry (the wallet row locked by the caller)."""
    _set_held(wallet, await repository.expire_overdue_holds(session, scope, wallet.id, clock.now()))


async def _member_of(session: AsyncSession, subject: Subject, customer: Customer, member_id: uuid.UUID | None) -> uuid.UUID | None:
    """The member, which must belong to the customer (another customer's member: not found)."""
    if member_id is None:
        return None
    from app.members.service import get_member

    member = await get_member(session, subject, member_id)
    if member.customer_id != customer.id:
        raise NotFound("Member not found")
    return member.id


def _check_hold_input(amount: Any, expires_in: Any, description: Any) -> tuple[int, int, str | None]:
    issues: list[FieldIssue] = []
    amount = check_amount(issues, ("amount",), amount, minimum=1)
    if isinstance(expires_in, bool) or not isinstance(expires_in, int) or not EXPIRES_IN_MIN <= expires_in <= EXPIRES_IN_MAX:
        issues.append(FieldIssue(("expiresIn",), f"must be a whole number of seconds from {EXPIRES_IN_MIN} to {EXPIRES_IN_MAX} (7 days)", "invalid_expires_in"))
    description = check_text(issues, ("description",), description, max_length=DESCRIPTION_MAX)
    if issues:
        raise ValidationFailed(issues)
    return amount, expires_in, description


async def hold(
    session: AsyncSession, subject: Subject, customer_id: uuid.UUID, member_id: uuid.UUID | None, currency: Any, amount: Any, expires_in: Any,
    description: Any = None, *, customer: Customer | None = None,
) -> WalletHold:
    """Reserve `amount` of the customer's wallet in `currency` for `expires_in` seconds, for a
    member if given (within its budget left). Raises InsufficientFunds (nothing changed) when the
    available balance, or the member's budget left, does not cover it."""
    amount, expires_in, description = _check_hold_input(amount, expires_in, description)
    code = service.check_currency_code(currency)
    scope = subject.scope
    now = clock.now()
    if member_id is None:  # the common case in one statement (one round trip under the wallet's lock)
        row = _new_hold(scope, customer_id, None, amount, now, expires_in, description)
        if await repository.try_hold(session, scope, row, code):
            return row
    # the general path: a member (its budget), or the one statement found too little (overdue
    # holds may free enough), no wallet or no such customer (the errors say which)
    if customer is None:
        customer = await get_customer(session, subject, customer_id)
    member_id = await _member_of(session, subject, customer, member_id)
    wallet = await service.wallet_for(session, scope, customer.id, code, lock=True)
    if amount > wallet.available and wallet.held > 0:  # overdue holds may free enough (else the insert expires them)
        await expire_overdue(session, scope, wallet)
    if amount > wallet.available:
        raise InsufficientFunds(amount, wallet.available, wallet.currency, INSUFFICIENT_BALANCE)
    spend = await service.member_spend(session, scope, wallet, member_id)
    if spend is not None and spend.left is not None and amount > spend.left:
        raise InsufficientFunds(amount, spend.left, wallet.currency, MEMBER_BUDGET_EXCEEDED)
    row = _new_hold(scope, wallet.customer_id, member_id, amount, now, expires_in, description)
    row.wallet_id = wallet.id
    _set_held(wallet, await repository.insert_hold(session, row))
    return row


def _new_hold(
    scope: TenantScope, customer_id: uuid.UUID, member_id: uuid.UUID | None, amount: int, now: datetime, expires_in: int, description: str | None
) -> WalletHold:
    return WalletHold(
        id=uuid.uuid4(), organization_id=scope.organization_id, created_at=now, modified_at=now, customer_id=customer_id, member_id=member_id,
        amount=amount, captured_amount=None, status=WalletHoldStatus.active.value, expires_at=now + timedelta(seconds=expires_in),
        resolved_at=None, description=description,
    )


async def _active_hold(session: AsyncSession, scope: TenantScope, hold_id: uuid.UUID) -> tuple[Wallet, WalletHold]:
    """The hold, which must be active and not past its expiry (else HoldNotActive, with status
    `expired` for an overdue one: the job or the wallet's next hold marks it), and its wallet,
    read together without a lock: the lock is taken by `_resolve`'s UPDATE, which changes the
    hold only if it is still active (a hold changed in between is refused and the transaction
    rolls back), so the wallet's lock is held for as short a time as can be."""
    found = await repository.hold_and_wallet(session, scope, hold_id)
    if found is None:
        raise NotFound("Wallet hold not found")
    row, wallet = found
    if row.status == WalletHoldStatus.active.value and row.expires_at <= clock.now():
        raise HoldNotActive(WalletHoldStatus.expired.value)
    if row.status != WalletHoldStatus.active.value:
        raise HoldNotActive(row.status)
    return wallet, row


async def _resolve(session: AsyncSession, scope: TenantScope, wallet: Wallet, row: WalletHold, status: str, captured: int | None, now) -> None:
    """Resolve the active hold, locking its wallet (whose `held` and `balance` are then current)."""
    moved = await repository.resolve_hold(session, scope, wallet.id, row.id, status, captured, now)
    if moved is None:  # captured, released or expired since it was read: refused (the caller's transaction rolls back)
        # read again, locked (after the wallet, which the statement locked): the session's copy is the stale one
        fresh = await repository.hold(session, scope, row.id, lock=True)
        raise HoldNotActive(fresh.status if fresh is not None else "gone")
    held, balance = moved
    _set_held(wallet, held)
    set_committed_value(wallet, "balance", balance)
    values = {"status": status, "captured_amount": captured, "resolved_at": now, "modified_at": now}
    for name, value in values.items():
        set_committed_value(row, name, value)


async def _budget_of(session: AsyncSession, scope: TenantScope, wallet: Wallet, member_id: uuid.UUID | None) -> MemberBudget | None:
    if member_id is None:
        return None
    return await repository.budget(session, scope, wallet.id, member_id, lock=True)


async def _capture(
    session: AsyncSession, scope: TenantScope, wallet: Wallet, row: WalletHold, captured: int, member_id: uuid.UUID | None, **columns: Any
) -> None:
    """Resolve the hold as captured (its wallet locked), post the capture (if any), count the
    member's spend (its budget locked after the wallet, as everywhere)."""
    now = clock.now()
    await _resolve(session, scope, wallet, row, WalletHoldStatus.captured.value, captured, now)
    if captured > wallet.balance:  # the balance fell under its holds (a grant expired): never below zero
        raise InsufficientFunds(captured, wallet.balance, wallet.currency, INSUFFICIENT_BALANCE)
    budget = await _budget_of(session, scope, wallet, member_id) if captured > 0 else None
    if captured > 0:
        await service.debit(session, scope, wallet, "hold_capture", captured, hold_id=row.id, member_id=member_id, **columns)
    service.add_spend(budget, captured)
    if budget is not None:
        await session.flush()


async def capture(session: AsyncSession, subject: Subject, hold_id: uuid.UUID, amount: Any = None) -> tuple[Wallet, WalletHold]:
    """Capture an active hold for `amount` (the held amount by default, at most it; 0 releases it
    in effect): a `hold_capture` debit, the rest released. Raises HoldNotActive when it was
    captured, released or expired."""
    if amount is not None:
        issues: list[FieldIssue] = []
        check_amount(issues, ("amount",), amount, minimum=0)
        if issues:
            raise ValidationFailed(issues)
    scope = subject.scope
    wallet, row = await _active_hold(session, scope, hold_id)
    captured = row.amount if amount is None else amount
    if captured > row.amount:
        raise ValidationFailed([FieldIssue(("amount",), f"must be at most the held amount, {row.amount}", "more_than_held")])
    await _capture(session, scope, wallet, row, captured, row.member_id)
    return wallet, row


async def capture_for_usage(
    session: AsyncSession, scope: TenantScope, wallet: Wallet, hold_id: uuid.UUID, amount: int, *,
    member_id: uuid.UUID | None, meter_id: uuid.UUID | None, product_price_id: uuid.UUID | None, quantity: Any,
) -> int:
    """The usage drain's capture (the caller holds `wallet`'s row lock): min(`amount`, the held
    amount, the balance) of an active hold of this wallet, as a `hold_capture` entry with the
    usage's meter, price and quantity; the rest of the hold released. A hold made without a member
    and captured by a member's usage is that member's spend, so at most the member's budget left
    is captured (a member's own hold was checked against its budget when it was made). Returns
    what was captured: 0 when the hold is not active (or overdue, then expired) or belongs to
    another wallet."""
    await expire_overdue(session, scope, wallet)
    row = await repository.hold(session, scope, hold_id, lock=True)
    if row is None or row.wallet_id != wallet.id or row.status != WalletHoldStatus.active.value:
        return 0
    captured = max(min(amount, row.amount, wallet.balance), 0)
    if row.member_id is None and captured > 0:
        spend = await service.member_spend(session, scope, wallet, member_id, lock=True)
        if spend is not None and spend.left is not None:
            captured = min(captured, max(spend.left, 0))
    await _capture(
        session, scope, wallet, row, captured, row.member_id or member_id, meter_id=meter_id, product_price_id=product_price_id, quantity=quantity
    )
    return captured


async def release(session: AsyncSession, subject: Subject, hold_id: uuid.UUID) -> tuple[Wallet, WalletHold]:
    """Release an active hold: its amount is available again. Raises HoldNotActive."""
    scope = subject.scope
    wallet, row = await _active_hold(session, scope, hold_id)
    await _resolve(session, scope, wallet, row, WalletHoldStatus.released.value, None, clock.now())
    return wallet, row


async def expire_holds(session: AsyncSession, scope: TenantScope, *, limit: int = 500) -> int:
    """Release every active hold past its expiry (status `expired`), wallet by wallet under its
    row lock (the job `wallets.expire_holds`; safe to run twice). The number of wallets swept."""
    done = 0
    for wallet_id in await repository.wallets_with_overdue_holds(session, scope, clock.now(), limit=limit):
        wallet = await repository.get(session, scope, wallet_id, lock=True)
        if wallet is None:
            continue
        before = wallet.held
        await expire_overdue(session, scope, wallet)
        if wallet.held != before:
            done += 1
    return done


async def get_hold(session: AsyncSession, scope: TenantScope, hold_id: uuid.UUID) -> WalletHold:
    row = await repository.hold(session, scope, hold_id)
    if row is None:
        raise NotFound("Wallet hold not found")
    return row


async def load_holds(session: AsyncSession, scope: TenantScope, ids: list[uuid.UUID]) -> list[WalletHold | None]:
    from app.kit.batches import in_order

    return in_order(await repository.holds_by_id(session, scope, ids), ids)


ACTIVE_HOLDS = 20  # a wallet's active holds nested on it (the walletHolds query pages through all)


async def load_active_holds_of(session: AsyncSession, scope: TenantScope, wallet_ids: list[uuid.UUID]) -> list[list[WalletHold]]:
    rows = await repository.active_holds_of(session, scope, wallet_ids, ACTIVE_HOLDS)
    return grouped(rows, wallet_ids, key=lambda h: h.wallet_id)


async def list_holds(
    session: AsyncSession, scope: TenantScope, wallet_id: uuid.UUID, *, status: str | None = None, first: int = 50, after: str | None = None,
    max_page_size: int = 100,
):
    from app.kit.pagination import check_page_size

    check_page_size(first, max_page_size)
    return await repository.holds_page(session, scope, wallet_id, status=status, member_id=None, first=first, after=after)


# -- the check before serving a request ------------------------------------------------------------


@dataclass(frozen=True)
class Coverage:
    """Whether the wallet covers `units` of a meter: `reason` is COVERED, INSUFFICIENT_BALANCE,
    MEMBER_BUDGET_EXCEEDED or NO_WALLET_PRICE (then `covers` is false and the cost 0: the meter's
    use is not paid from the wallet)."""

    currency: str
    estimated_cost: int
    available: int
    member_budget_remaining: int | None
    covers: bool
    reason: str


def _check_units(units: Any) -> Decimal:
    try:
        value = units if isinstance(units, Decimal) else Decimal(str(units)) if isinstance(units, (int, str)) and not isinstance(units, bool) else None
    except InvalidOperation:
        value = None
    if value is None or not value.is_finite() or value <= 0 or value > Decimal(10) ** 18:
        raise ValidationFailed([FieldIssue(("units",), "must be a positive number of units", "invalid_units")])
    return value


async def check(
    session: AsyncSession, subject: Subject, customer_id: uuid.UUID, member_id: uuid.UUID | None, meter_id: uuid.UUID, units: Any,
    *, customer: Customer | None = None,
) -> Coverage:
    """The estimated cost of `units` of the meter under the customer's wallet-enabled price for
    it (tiers priced on the period's total so far: the price of total + units less the price of
    the total), what is available, the member's budget left, and whether it covers it. Reads
    only, locks nothing."""
    units = _check_units(units)
    if customer is None:
        customer = await get_customer(session, subject, customer_id)
    member_id = await _member_of(session, subject, customer, member_id)
    scope = subject.scope
    prices = await repository.wallet_prices(session, scope, customer.id, meter_id)
    if not prices:
        return Coverage("usd", 0, 0, None, False, NO_WALLET_PRICE)
    price = prices[0]
    total = Decimal(price.units)
    cost = metered_amount(price, total + units) - metered_amount(price, total)
    row = await repository.coverage(session, scope, customer.id, price.currency, member_id)
    available = max(int(row.balance) - int(row.held), 0) if row is not None else 0
    left: int | None = None
    if row is not None and row.budget_amount is not None:
        _start, spent = service.spent_now(row.budget_period, row.budget_period_start, int(row.budget_spent), clock.now())
        left = service.budget_left(int(row.budget_amount), spent, int(row.member_held))
    if cost > available:
        reason = INSUFFICIENT_BALANCE
    elif left is not None and cost > left:
        reason = MEMBER_BUDGET_EXCEEDED
    else:
        reason = COVERED
    return Coverage(price.currency, cost, available, left, reason == COVERED, reason)

