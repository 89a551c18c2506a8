"""Wallets: a customer's prepaid balance per currency (a business customer's is shared by its
members), moved only through its append-only ledger.

Every movement goes through `credit` or `debit` here, which post to the kit's ledger
(app/kit/ledger.py: the cached balance moves with its entries, under the wallet row's lock;
`balance >= 0` is a database check behind the rules) and keep the lots: each credit is a lot, and
a debit takes from the lots in spending order (grants first, the soonest-expiring first; then
top-ups and adjustments, oldest first). So a grant's expiry takes what is left of that grant, and
a top-up's refund is limited to what remains unspent of it.

What can be spent without a hold is `balance - held` (`held`: the active holds,
app/wallets/holds.py). A member with a budget (`MemberBudget`) can spend at most its amount per
period, holds included. After every change, `balance_changed` asks for the wallet's
notifications, live updates and auto top-up check (app/wallets/notifications.py), one job per
burst.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from typing import Any, Sequence

from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm.attributes import set_committed_value

from app.auth.subject import Subject
from app.customers.service import get_customer
from app.kit import clock, ledger
from app.kit.batches import grouped, in_order
from app.kit.errors import FieldIssue, NotFound, ValidationFailed
from app.kit.jobs import enqueue_coalesced_after_commit
from app.kit.money import MAX_AMOUNT, check_amount, check_currency
from app.kit.pagination import Page, check_page_size
from app.kit.tenancy import TenantScope
from app.kit.validation import check_text
from app.models import Customer, Member
from app.models.wallet import WALLETS, BudgetPeriod, MemberBudget, Wallet, WalletEntry, WalletLot
from app.wallets import repository
from app.wallets.errors import InsufficientFunds, WalletNotAllowed

CHANGED_JOB = "wallets.balance_changed"
CHANGED_WINDOW = 0.2
REASON_MAX = 512
INSUFFICIENT_BALANCE = "INSUFFICIENT_BALANCE"
MEMBER_BUDGET_EXCEEDED = "MEMBER_BUDGET_EXCEEDED"


def balance_changed(session: AsyncSession, wallet_id: uuid.UUID) -> None:
    """Ask, after commit, for the wallet's webhooks, live update and auto top-up check (one job
    for every change in the same fifth of a second)."""
    enqueue_coalesced_after_commit(session, CHANGED_JOB, wallet_id, window=CHANGED_WINDOW)


# -- finding wallets ------------------------------------------------------------------------------


def check_currency_code(currency: Any, path: tuple[str, ...] = ("currency",)) -> str:
    issues: list[FieldIssue] = []
    if not isinstance(currency, str):
        raise ValidationFailed([FieldIssue(path, "must be an ISO 4217 currency code such as 'usd'", "invalid_currency")])
    code = check_currency(issues, path, currency)
    if issues:
        raise ValidationFailed(issues)
    return code


async def wallet_for(session: AsyncSession, scope: TenantScope, customer_id: uuid.UUID, currency: str, *, lock: bool = False) -> Wallet:
    """The customer's wallet in `currency`, created (empty) on first use."""
    wallet = await repository.wallet_by_customer(session, scope, customer_id, currency, lock=lock)
    if wallet is None:
        await repository.ensure_wallet(session, scope, customer_id, currency, clock.now())
        wallet = await repository.wallet_by_customer(session, scope, customer_id, currency, lock=lock)
    assert wallet is not None
    return wallet


async def customer_wallet(session: AsyncSession, subject: Subject, customer_id: uuid.UUID, currency: Any, *, lock: bool = False) -> tuple[Customer, Wallet]:
    """The customer (which must exist and not be deleted) and its wallet in `currency`."""
    code = check_currency_code(currency)
    customer = await get_customer(session, subject, customer_id)
    return customer, await wallet_for(session, subject.scope, customer.id, code, lock=lock)


async def get_wallet(session: AsyncSession, subject: Subject, wallet_id: uuid.UUID, *, lock: bool = False) -> Wallet:
    wallet = await repository.get(session, subject.scope, wallet_id, lock=lock)
    if wallet is None:
        raise NotFound("Wallet not found")
    return wallet


async def find_wallet(session: AsyncSession, subject: Subject, customer_id: uuid.UUID, currency: Any) -> Wallet | None:
    """The customer's wallet in `currency` if it has one (reads create nothing)."""
    code = check_currency_code(currency)
    customer = await get_customer(session, subject, customer_id)
    return await repository.wallet_by_customer(session, subject.scope, customer.id, code)


async def load_wallets(session: AsyncSession, scope: TenantScope, ids: list[uuid.UUID]) -> list[Wallet | None]:
    return in_order(await repository.get_many(session, scope, ids), ids)


async def load_wallets_of(session: AsyncSession, scope: TenantScope, customer_ids: list[uuid.UUID]) -> list[list[Wallet]]:
    return grouped(await repository.wallets_of(session, scope, customer_ids), customer_ids, key=lambda w: w.customer_id)


RECENT_ENTRIES = 10


async def load_recent_entries_of(
    session: AsyncSession, scope: TenantScope, wallet_ids: list[uuid.UUID], *, limit: int = RECENT_ENTRIES
) -> list[list[WalletEntry]]:
    """Each wallet's newest `limit` entries, newest first, in one statement."""
    if not wallet_ids:
        return []
    rows = await repository.latest_entries_of(session, scope, wallet_ids, limit)
    return grouped(rows, wallet_ids, key=lambda e: e.wallet_id)


async def list_entries(
    session: AsyncSession, scope: TenantScope, wallet_id: uuid.UUID, *, types: Sequence[str] | None = None, member_id: uuid.UUID | None = None,
    first: int = 50, after: str | None = None, max_page_size: int = 100,
) -> Page[WalletEntry]:
    check_page_size(first, max_page_size)
    return await repository.entries_page(session, scope, wallet_id, types=types, member_id=member_id, first=first, after=after)


# -- moving money: the only two ways ----------------------------------------------------------------


def _set_balance(wallet: Wallet, balance: int) -> None:
    """The wallet's balance as the ledger's post left it in the database (not a change to flush
    again at commit)."""
    set_committed_value(wallet, "balance", balance)


async def _post(
    session: AsyncSession, wallet: Wallet, rows: list[dict[str, Any]], along: ledger.Along | None = None, params: dict[str, Any] | None = None
) -> list[Any]:
    """Post `rows` to the wallet's ledger (the caller holds the wallet's row lock: every path
    reads it FOR UPDATE to check what it may post), with `along`'s work in the same statement if
    given (its returned values), and ask for its balance-changed job."""
    key = {"wallet_id": wallet.id}
    if along is None:
        balance, extra = await ledger.post(session, WALLETS, key, rows, locked=True), []
    else:
        balance, *extra = await ledger.post_along(session, WALLETS, key, rows, along, params or {})
    _set_balance(wallet, int(balance))
    balance_changed(session, wallet.id)
    return extra


# An entry's optional columns, each row given all of them (None when not set): one set of columns,
# so one statement shape for every post of the ledger (built and prepared once)
_ENTRY_OPTIONAL = ("member_id", "meter_id", "product_price_id", "quantity", "hold_id", "lot_id", "order_id", "reason")


def _entry(wallet: Wallet, type: str, amount: int, now: datetime, **columns: Any) -> dict[str, Any]:
    unknown = set(columns) - set(_ENTRY_OPTIONAL)
    if unknown:
        raise TypeError(f"not a wallet entry's column: {sorted(unknown)}")
    return {
        "id": uuid.uuid4(),
        "organization_id": wallet.organization_id,
        "created_at": now,
        "customer_id": wallet.customer_id,
        "type": type,
        "amount": amount,
        **dict.fromkeys(_ENTRY_OPTIONAL),
        **columns,
    }


async def credit(
    session: AsyncSession, scope: TenantScope, wallet: Wallet, type: str, amount: int, *, lot_kind: str,
    expires_at: datetime | None = None, order_id: uuid.UUID | None = None, **columns: Any,
) -> uuid.UUID:
    """Add `amount` (> 0) to the wallet as a new lot of `lot_kind`, with its `type` entry; the id
    of the entry. The wallet's balance is moved (and `wallet.balance` set) under its row lock."""
    now = clock.now()
    lot = WalletLot(
        id=uuid.uuid4(), organization_id=wallet.organization_id, wallet_id=wallet.id, kind=lot_kind, amount=amount, remaining=amount,
        expires_at=expires_at, order_id=order_id, created_at=now, modified_at=now,
    )
    await repository.add_lot(session, lot)
    row = _entry(wallet, type, amount, now, lot_id=lot.id, order_id=order_id, **columns)
    await _post(session, wallet, [row])
    return row["id"]


async def debit(session: AsyncSession, scope: TenantScope, wallet: Wallet, type: str, amount: int, **columns: Any) -> uuid.UUID:
    """Take `amount` (> 0, at most the balance: the caller checked it under the wallet's row
    lock) from the wallet's lots in spending order, with its `type` entry; the entry's id."""
    return (await debit_many(session, scope, wallet, [(type, amount, columns)]))[0]


async def debit_many(session: AsyncSession, scope: TenantScope, wallet: Wallet, debits: Sequence[tuple[str, int, dict[str, Any]]]) -> list[uuid.UUID]:
    """Several debits of one wallet in one posting (a usage batch split per member): the lots
    are taken from once for their sum, in the post's statement."""
    now = clock.now()
    rows = [_entry(wallet, type, -amount, now, **columns) for type, amount, columns in debits if amount > 0]
    if not rows:
        return []
    total = -sum(row["amount"] for row in rows)
    [spent] = await _post(session, wallet, rows, repository.DEBIT, {"scope_organization_id": scope.organization_id, "spend": total, "now": now})
    if int(spent) != total:  # the lots and the balance disagree: a bug (the transaction rolls back)
        raise ledger.LedgerError(f"wallet {wallet.id}: its lots gave {int(spent)}, not the {total} to spend")
    return [row["id"] for row in rows]


async def debit_wallets(
    session: AsyncSession, scope: TenantScope, debits: Sequence[tuple[Wallet, Sequence[tuple[str, int, dict[str, Any]]]]]
) -> None:
    """`debit_many` for many wallets at once (the usage drain's batch; each wallet locked by the
    caller, each debit at most what it has): the lots taken from in one statement, the entries
    posted by the ledger's `post_many`. A few statements whatever the number of wallets."""
    now = clock.now()
    postings, spend = [], {}
    for wallet, wallet_debits in debits:
        rows = [_entry(wallet, type, -amount, now, **columns) for type, amount, columns in wallet_debits if amount > 0]
        if rows:
            postings.append((wallet, rows))
            spend[wallet.id] = spend.get(wallet.id, 0) - sum(row["amount"] for row in rows)
    if not postings:
        return
    taken = await repository.spend_lots(session, scope, spend, now)
    wrong = {wallet_id: taken.get(wallet_id, 0) for wallet_id, total in spend.items() if taken.get(wallet_id, 0) != total}
    if wrong:  # the lots and the balances disagree: a bug (the transaction rolls back)
        raise ledger.LedgerError(f"wallets' lots gave {wrong}, not {({w: spend[w] for w in wrong})}")
    balances = await ledger.post_many(session, WALLETS, [({"wallet_id": wallet.id}, rows) for wallet, rows in postings], locked=True)
    for (wallet, _rows), balance in zip(postings, balances):
        _set_balance(wallet, balance)
        balance_changed(session, wallet.id)


# -- money in and out by the merchant --------------------------------------------------------------


def _check_reason(issues: list[FieldIssue], reason: Any, *, required: bool) -> str | None:
    return check_text(issues, ("reason",), reason, max_length=REASON_MAX, required=required)


async def grant(
    session: AsyncSession, subject: Subject, customer_id: uuid.UUID, currency: Any, amount: Any, *, expires_at: datetime | None, reason: Any
) -> tuple[Wallet, uuid.UUID]:
    """Promotional money: spent before paid money, the soonest-expiring first; what is left at
    `expires_at` leaves through an `expiry` entry."""
    issues: list[FieldIssue] = []
    amount = check_amount(issues, ("amount",), amount, minimum=1)
    reason = _check_reason(issues, reason, required=False)
    if expires_at is not None and expires_at <= clock.now():
        issues.append(FieldIssue(("expiresAt",), "must be in the future", "in_the_past"))
    if issues:
        raise ValidationFailed(issues)
    _customer, wallet = await customer_wallet(session, subject, customer_id, currency, lock=True)
    entry_id = await credit(session, subject.scope, wallet, "grant", amount, lot_kind="grant", expires_at=expires_at, reason=reason)
    return wallet, entry_id


async def adjust(session: AsyncSession, subject: Subject, customer_id: uuid.UUID, currency: Any, amount: Any, *, reason: Any) -> tuple[Wallet, uuid.UUID]:
    """The merchant's correction, with a reason: a positive amount adds a lot (spent like paid
    money, not refundable); a negative one takes from the lots, at most what is available (the
    balance less active holds)."""
    issues: list[FieldIssue] = []
    if isinstance(amount, bool) or not isinstance(amount, int) or amount == 0 or abs(amount) > MAX_AMOUNT:
        issues.append(FieldIssue(("amount",), f"must be a non-zero integer of minor units between -{MAX_AMOUNT} and {MAX_AMOUNT}", "invalid_amount"))
    reason = _check_reason(issues, reason, required=True)
    if issues:
        raise ValidationFailed(issues)
    _customer, wallet = await customer_wallet(session, subject, customer_id, currency, lock=True)
    if amount > 0:
        return wallet, await credit(session, subject.scope, wallet, "adjustment", amount, lot_kind="adjustment", reason=reason)
    if -amount > wallet.available:
        raise InsufficientFunds(-amount, wallet.available, wallet.currency, INSUFFICIENT_BALANCE)
    return wallet, await debit(session, subject.scope, wallet, "adjustment", -amount, reason=reason)


async def credit_top_up(session: AsyncSession, scope: TenantScope, customer_id: uuid.UUID, currency: str, amount: int, *, order_id: uuid.UUID) -> uuid.UUID | None:
    """A paid top-up (its order paid): credited once per order (a second call finds the order's
    lot and does nothing: None)."""
    wallet = await wallet_for(session, scope, customer_id, currency, lock=True)
    if await repository.lot_of_order(session, scope, order_id) is not None:
        return None
    return await credit(session, scope, wallet, "top_up", amount, lot_kind="paid", order_id=order_id)


async def refund_top_up(
    session: AsyncSession, scope: TenantScope, order_id: uuid.UUID, amount: int, *, reason: str | None = None
) -> tuple[Wallet, uuid.UUID]:
    """Take `amount` of a top-up back out of the wallet (before its payment is refunded): at most
    what remains unspent of it and is not held. The wallet and the refund's entry. Raises
    RefundExceedsUnspent."""
    from app.wallets.errors import RefundExceedsUnspent

    lot = await repository.lot_of_order(session, scope, order_id)
    if lot is None:
        raise WalletNotAllowed("This order is not a wallet top-up")
    wallet = await repository.get(session, scope, lot.wallet_id, lock=True)
    assert wallet is not None
    lot = await repository.lot(session, scope, lot.id, lock=True)
    assert lot is not None
    refundable = min(lot.remaining, wallet.available)
    if amount > refundable:
        raise RefundExceedsUnspent(amount, refundable, wallet.currency)
    now = clock.now()
    if not await repository.take_from_lot(session, scope, lot.id, amount, now, refunded=True):
        raise RefundExceedsUnspent(amount, refundable, wallet.currency)
    row = _entry(wallet, "refund", -amount, now, lot_id=lot.id, order_id=order_id, reason=reason)
    await _post(session, wallet, [row])
    return wallet, row["id"]


async def refundable_of_order(session: AsyncSession, scope: TenantScope, order_id: uuid.UUID) -> int | None:
    """What of a top-up order may still be taken back out of its wallet; None if the order is
    not a top-up."""
    lot = await repository.lot_of_order(session, scope, order_id)
    if lot is None:
        return None
    wallet = await repository.get(session, scope, lot.wallet_id)
    assert wallet is not None
    return min(lot.remaining, wallet.available)


async def expire_grants(session: AsyncSession, scope: TenantScope, *, limit: int = 500) -> int:
    """What is left of every grant past its expiry leaves through an `expiry` entry (the job
    `wallets.expire`; safe to run twice: an expired lot has nothing left)."""
    now = clock.now()
    lots = await repository.expired_lots(session, scope, now, limit=limit)
    done = 0
    for lot in lots:
        wallet = await repository.get(session, scope, lot.wallet_id, lock=True)
        assert wallet is not None
        fresh = await repository.lot(session, scope, lot.id, lock=True)
        if fresh is None or fresh.remaining <= 0:
            continue
        amount = fresh.remaining
        await repository.take_from_lot(session, scope, fresh.id, amount, now, refunded=False)
        row = _entry(wallet, "expiry", -amount, now, lot_id=fresh.id, reason="The grant expired")
        await _post(session, wallet, [row])
        done += 1
    return done


# -- member budgets ---------------------------------------------------------------------------------


def period_start(period: str, at: datetime) -> datetime:
    """The start (UTC) of the calendar day, ISO week (Monday) or month holding `at`."""
    at = at.astimezone(timezone.utc)
    day = at.replace(hour=0, minute=0, second=0, microsecond=0)
    if period == BudgetPeriod.day.value:
        return day
    if period == BudgetPeriod.week.value:
        return day - timedelta(days=day.weekday())
    return day.replace(day=1)


def spent_now(period: str, recorded_start: datetime, recorded_spent: int, now: datetime) -> tuple[datetime, int]:
    """A budget's period start and spend as of `now`, from what its row recorded: a past
    period's spend reads as zero (the next spend starts the new period in the row)."""
    start = period_start(period, now)
    return (start, 0) if recorded_start < start else (recorded_start, recorded_spent)


def budget_left(amount: int, spent: int, held: int) -> int:
    """What a member may still spend or hold this period: its cap less its spend and active holds."""
    return max(amount - spent - held, 0)


def budget_current(budget: MemberBudget, now: datetime) -> MemberBudget:
    """The budget in the period holding `now`: a new period starts its spend at zero (the row
    is locked or about to be written by the caller)."""
    start, spent = spent_now(budget.period, budget.period_start, budget.spent, now)
    if start != budget.period_start:
        budget.period_start, budget.spent = start, spent
    return budget


@dataclass
class MemberSpend:
    budget: MemberBudget | None
    spent: int  # this period, from the cache
    held: int  # the member's active holds

    @property
    def left(self) -> int | None:
        """What the member may still spend or hold this period; None without a budget."""
        if self.budget is None:
            return None
        return budget_left(self.budget.amount, self.spent, self.held)


async def member_spend(session: AsyncSession, scope: TenantScope, wallet: Wallet, member_id: uuid.UUID | None, *, lock: bool = False) -> MemberSpend | None:
    """The member's budget, spend this period and active holds (None for no member)."""
    if member_id is None:
        return None
    budget = await repository.budget(session, scope, wallet.id, member_id, lock=lock)
    if budget is not None:
        budget_current(budget, clock.now())
    held = await repository.member_held(session, scope, wallet.id, member_id)
    return MemberSpend(budget, budget.spent if budget is not None else 0, held)


def add_spend(budget: MemberBudget | None, amount: int) -> None:
    """Count `amount` spent by the budget's member this period (the budget row locked)."""
    if budget is not None and amount > 0:
        budget_current(budget, clock.now())
        budget.spent += amount


async def set_member_budget(
    session: AsyncSession, subject: Subject, member_id: uuid.UUID, currency: Any, amount: Any, period: Any
) -> MemberBudget | None:
    """Cap what a member of a business customer may spend from the shared wallet per period
    (`amount` None removes the cap). Spend already made this period counts."""
    from app.members.service import get_member

    issues: list[FieldIssue] = []
    if amount is not None:
        check_amount(issues, ("amount",), amount, minimum=0)
    if period not in {p.value for p in BudgetPeriod}:
        issues.append(FieldIssue(("period",), "must be DAY, WEEK or MONTH", "invalid_period"))
    if issues:
        raise ValidationFailed(issues)
    member: Member = await get_member(session, subject, member_id)
    customer, wallet = await customer_wallet(session, subject, member.customer_id, currency, lock=True)
    if customer.type != "business":
        raise WalletNotAllowed("Member budgets apply to business customers' shared wallets")
    budget = await repository.budget(session, subject.scope, wallet.id, member.id, lock=True)
    now = clock.now()
    if amount is None:
        if budget is not None:
            await session.delete(budget)
            await session.flush()
        return None
    start = period_start(period, now)
    if budget is None:
        budget = MemberBudget(organization_id=wallet.organization_id, wallet_id=wallet.id, member_id=member.id, amount=amount, period=period, period_start=start, spent=0)
        session.add(budget)
    else:
        budget.amount = amount
        if budget.period != period:
            budget.period = period
            budget.period_start = start
    budget.spent = await repository.member_spent(session, subject.scope, wallet.id, member.id, budget.period_start)
    await session.flush()
    return budget


async def load_budgets_of_members(session: AsyncSession, scope: TenantScope, member_ids: list[uuid.UUID]) -> list[list[MemberBudget]]:
    """Each member's budgets (one per wallet); read their spend through `spent_now`."""
    budgets = await repository.budgets_of_members(session, scope, member_ids)
    return grouped(budgets, member_ids, key=lambda b: b.member_id)


@dataclass(frozen=True)
class UncoveredTotal:
    customer_id: uuid.UUID
    currency: str
    meter_id: uuid.UUID
    member_id: uuid.UUID | None
    amount: int
    quantity: Any


async def load_uncovered_of(session: AsyncSession, scope: TenantScope, customer_ids: list[uuid.UUID]) -> list[list[UncoveredTotal]]:
    rows = await repository.uncovered_totals(session, scope, customer_ids)
    totals = [UncoveredTotal(r.customer_id, r.currency, r.meter_id, r.member_id, int(r.amount), r.quantity) for r in rows]
    return grouped(totals, customer_ids, key=lambda t: t.customer_id)


async def get_entry(session: AsyncSession, scope: TenantScope, entry_id: uuid.UUID) -> WalletEntry:
    entry = await repository.entry(session, scope, entry_id)
    if entry is None:
        raise NotFound("Wallet transaction not found")
    return entry


async def load_entries(session: AsyncSession, scope: TenantScope, ids: list[uuid.UUID]) -> list[WalletEntry | None]:
    return in_order(await repository.entries_by_id(session, scope, ids), ids)


@dataclass(frozen=True)
class MemberMonthSpend:
    member_id: uuid.UUID
    wallet_id: uuid.UUID
    currency: str
    period_start: datetime
    spent: int


async def load_month_spend_of_members(session: AsyncSession, scope: TenantScope, member_ids: list[uuid.UUID]) -> list[list[MemberMonthSpend]]:
    """Each member's spend this calendar month (UTC) per shared wallet, from the ledger."""
    start = period_start(BudgetPeriod.month.value, clock.now())
    rows = await repository.spend_of_members(session, scope, member_ids, start)
    spends = [MemberMonthSpend(r.member_id, r.wallet_id, r.currency, start, int(r.spent)) for r in rows]
    return grouped(spends, member_ids, key=lambda s: s.member_id)
