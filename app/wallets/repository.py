"""All SQL of wallets."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from typing import Any, Sequence

from sqlalchemy import BigInteger, DateTime, Integer, Numeric, String, Text, Uuid, and_, bindparam, column, func, lateral, literal, select, text, true, union_all, update
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncSession

from app.kit.ledger import Along
from app.kit.pagination import Page, paginate
from app.kit.repository import owned_by, rows_table, scoped
from app.kit.tenancy import TenantScope
from app.meters import repository as meters_repository
from app.models import Customer, Event, Meter, ProductPrice
from app.models.event import XID8
from app.models.checkout import PaymentMethod
from app.models.product import PriceType
from app.models.subscription import Subscription, SubscriptionStatus
from app.models.wallet import (
    MemberBudget,
    Wallet,
    WalletAutoTopUp,
    WalletEntry,
    WalletHold,
    WalletLot,
    WalletUncoveredUsage,
    WalletUsageCursor,
    WalletUsageTotal,
)


# The entries that count as a member's spend: its usage and its captured holds.
SPEND_TYPES = ("usage", "hold_capture")


def _locked(statement: Any, lock: bool, *, skip_locked: bool = False) -> Any:
    """`statement` FOR UPDATE when `lock` (its rows refreshed from the locked read, not taken
    from what the session held before the lock)."""
    return statement.with_for_update(skip_locked=skip_locked).execution_options(populate_existing=True) if lock else statement


async def ensure_wallet(session: AsyncSession, scope: TenantScope, customer_id: uuid.UUID, currency: str, now: datetime) -> None:
    """Create the customer's wallet in `currency` unless it exists (two callers at once: one row)."""
    await session.execute(
        insert(Wallet)
        .values(id=uuid.uuid4(), organization_id=scope.organization_id, customer_id=customer_id, currency=currency, balance=0, held=0, created_at=now, modified_at=now)
        .on_conflict_do_nothing(index_elements=["customer_id", "currency"])
    )


async def wallet_by_customer(session: AsyncSession, scope: TenantScope, customer_id: uuid.UUID, currency: str, *, lock: bool = False) -> Wallet | None:
    statement = select(Wallet).where(owned_by(Wallet, scope), Wallet.customer_id == customer_id, Wallet.currency == currency)
    return await session.scalar(_locked(statement, lock))


async def get(session: AsyncSession, scope: TenantScope, wallet_id: uuid.UUID, *, lock: bool = False) -> Wallet | None:
    return await session.scalar(_locked(select(Wallet).where(owned_by(Wallet, scope), Wallet.id == wallet_id), lock))


async def get_many(session: AsyncSession, scope: TenantScope, ids: Sequence[uuid.UUID]) -> list[Wallet]:
    return list(await session.scalars(select(Wallet).where(owned_by(Wallet, scope), Wallet.id.in_(ids))))


async def wallets_of(session: AsyncSession, scope: TenantScope, customer_ids: Sequence[uuid.UUID]) -> list[Wallet]:
    return list(
        await session.scalars(
            select(Wallet).where(owned_by(Wallet, scope), Wallet.customer_id.in_(customer_ids)).order_by(Wallet.customer_id, Wallet.currency)
        )
    )


async def add_lot(session: AsyncSession, lot: WalletLot) -> None:
    session.add(lot)
    await session.flush()


# The lots a debit takes from, in spending order: grants first (the soonest-expiring first, those
# that never expire last), then the rest, oldest first; each lot gives what the debit still needs
# after the lots before it. `{spend}` is the source of (wallet_id, amount): one wallet's (a debit,
# bound as the post's key, `key_wallet_id`, and `spend`) or many (the drain's batch, arrays). Bind
# names unlike the wallets' columns, which the post's UPDATE reserves.
_SPEND_LOTS = """
        WITH spend AS ({spend}), ordered AS (
            SELECT l.id, l.wallet_id, l.remaining, spend.amount,
                   sum(l.remaining) OVER (PARTITION BY l.wallet_id ORDER BY l.kind <> 'grant', l.expires_at NULLS LAST, l.created_at, l.id) AS upto
            FROM wallet_lots l JOIN spend ON spend.wallet_id = l.wallet_id
            WHERE l.organization_id = :scope_organization_id AND l.remaining > 0
        ), taken AS (
            SELECT id, wallet_id, LEAST(remaining, amount - (upto - remaining)) AS take
            FROM ordered WHERE upto - remaining < amount
        )
        UPDATE wallet_lots AS lot SET remaining = lot.remaining - taken.take, modified_at = :now
        FROM taken WHERE lot.id = taken.id
        RETURNING taken.wallet_id, taken.take
"""
# one wallet's, as a CTE of the ledger's post (app.kit.ledger.Along), which runs it in the same
# statement as the entries and the balance's move (the wallet row locked by the caller)
_SPENT = (
    text(_SPEND_LOTS.format(spend="SELECT CAST(:key_wallet_id AS uuid) AS wallet_id, CAST(:spend AS bigint) AS amount"))
    .columns(column("wallet_id", Uuid), column("take", BigInteger))
    .cte("spent")
)
# many wallets' (the wallet rows locked by the caller): (wallet_id, taken) rows
_SPEND_MANY = text(
    _SPEND_LOTS.format(spend="SELECT * FROM unnest(CAST(:spend_wallets AS uuid[]), CAST(:spend_amounts AS bigint[])) AS s(wallet_id, amount)")
).columns(column("wallet_id", Uuid), column("take", BigInteger))
_SPENT_SUM = select(func.coalesce(func.sum(_SPENT.c.take), 0)).scalar_subquery()

# A debit: the lots' spend along the post; returns what the lots gave (service.debit_many checks it).
DEBIT = Along(ctes=(_SPENT,), returning=(_SPENT_SUM,))


async def spend_lots(session: AsyncSession, scope: TenantScope, spend: dict[uuid.UUID, int], now: datetime) -> dict[uuid.UUID, int]:
    """Take from each wallet's lots its amount in `spend` (the wallets locked by the caller), in
    one statement: what each wallet's lots gave (the caller checks it)."""
    wallet_ids = sorted(spend)
    params = {"scope_organization_id": scope.organization_id, "now": now, "spend_wallets": wallet_ids, "spend_amounts": [spend[w] for w in wallet_ids]}
    taken: dict[uuid.UUID, int] = {}
    for wallet_id, take in await session.execute(_SPEND_MANY, params):
        taken[wallet_id] = taken.get(wallet_id, 0) + int(take)
    return taken


async def take_from_lot(session: AsyncSession, scope: TenantScope, lot_id: uuid.UUID, amount: int, now: datetime, *, refunded: bool) -> bool:
    """Take `amount` from one lot (a refund of its top-up, a grant's expiry), if it holds that much."""
    values: dict[str, Any] = {"remaining": WalletLot.remaining - amount, "modified_at": now}
    if refunded:
        values["refunded_amount"] = WalletLot.refunded_amount + amount
    result = await session.execute(
        update(WalletLot).where(owned_by(WalletLot, scope), WalletLot.id == lot_id, WalletLot.remaining >= amount).values(values)
    )
    return (result.rowcount or 0) == 1


async def lot(session: AsyncSession, scope: TenantScope, lot_id: uuid.UUID, *, lock: bool = False) -> WalletLot | None:
    return await session.scalar(_locked(select(WalletLot).where(owned_by(WalletLot, scope), WalletLot.id == lot_id), lock))


async def lot_of_order(session: AsyncSession, scope: TenantScope, order_id: uuid.UUID) -> WalletLot | None:
    return await session.scalar(select(WalletLot).where(owned_by(WalletLot, scope), WalletLot.order_id == order_id))


async def expired_lots(session: AsyncSession, scope: TenantScope, now: datetime, *, limit: int) -> list[WalletLot]:
    """The lots past their expiry with something left, read without a lock: the caller locks each
    one's wallet first and then the lot (a wallet's lock before its lots', as every debit takes
    them: locking the lots first could deadlock with a debit)."""
    return list(
        await session.scalars(
            select(WalletLot)
            .where(owned_by(WalletLot, scope), WalletLot.remaining > 0, WalletLot.expires_at <= now)
            .order_by(WalletLot.expires_at, WalletLot.id)
            .limit(limit)
        )
    )


async def entry(session: AsyncSession, scope: TenantScope, entry_id: uuid.UUID) -> WalletEntry | None:
    return await session.scalar(select(WalletEntry).where(owned_by(WalletEntry, scope), WalletEntry.id == entry_id))


async def entries_page(
    session: AsyncSession, scope: TenantScope, wallet_id: uuid.UUID, *, types: Sequence[str] | None, member_id: uuid.UUID | None, first: int, after: str | None
) -> Page[WalletEntry]:
    statement = select(WalletEntry).where(owned_by(WalletEntry, scope), WalletEntry.wallet_id == wallet_id)
    if types:
        statement = statement.where(WalletEntry.type.in_(types))
    if member_id is not None:
        statement = statement.where(WalletEntry.member_id == member_id)
    return await paginate(
        session, statement, sort_key=WalletEntry.sequence, id_column=WalletEntry.id, descending=True, first=first, after=after,
        sort_value_of=lambda e: e.sequence,
    )


async def entries_after(session: AsyncSession, scope: TenantScope, wallet_id: uuid.UUID, after_sequence: int, *, limit: int) -> list[WalletEntry]:
    """The wallet's entries past `after_sequence`, oldest first, at most `limit` (the webhooks'
    "since the last one")."""
    return list(
        await session.scalars(
            select(WalletEntry)
            .where(owned_by(WalletEntry, scope), WalletEntry.wallet_id == wallet_id, WalletEntry.sequence > after_sequence)
            .order_by(WalletEntry.sequence)
            .limit(limit)
        )
    )


async def last_entry(session: AsyncSession, scope: TenantScope, wallet_id: uuid.UUID) -> WalletEntry | None:
    return await session.scalar(
        select(WalletEntry).where(owned_by(WalletEntry, scope), WalletEntry.wallet_id == wallet_id).order_by(WalletEntry.sequence.desc()).limit(1)
    )


async def holds_page(
    session: AsyncSession, scope: TenantScope, wallet_id: uuid.UUID, *, status: str | None, member_id: uuid.UUID | None, first: int, after: str | None
) -> Page[WalletHold]:
    statement = select(WalletHold).where(owned_by(WalletHold, scope), WalletHold.wallet_id == wallet_id)
    if status is not None:
        statement = statement.where(WalletHold.status == status)
    if member_id is not None:
        statement = statement.where(WalletHold.member_id == member_id)
    return await paginate(
        session, statement, sort_key=WalletHold.created_at, id_column=WalletHold.id, descending=True, first=first, after=after,
        sort_value_of=lambda h: h.created_at,
    )


async def budget(session: AsyncSession, scope: TenantScope, wallet_id: uuid.UUID, member_id: uuid.UUID, *, lock: bool = False) -> MemberBudget | None:
    statement = select(MemberBudget).where(owned_by(MemberBudget, scope), MemberBudget.wallet_id == wallet_id, MemberBudget.member_id == member_id)
    return await session.scalar(_locked(statement, lock))


async def budgets_of_members(session: AsyncSession, scope: TenantScope, member_ids: Sequence[uuid.UUID]) -> list[MemberBudget]:
    return list(await session.scalars(select(MemberBudget).where(owned_by(MemberBudget, scope), MemberBudget.member_id.in_(member_ids))))


async def uncovered_totals(session: AsyncSession, scope: TenantScope, customer_ids: Sequence[uuid.UUID]) -> list[Any]:
    """Per customer, currency, meter and member: the uncovered amount and quantity."""
    u = WalletUncoveredUsage
    return list(
        (
            await session.execute(
                select(u.customer_id, u.currency, u.meter_id, u.member_id, func.sum(u.amount).label("amount"), func.sum(u.quantity).label("quantity"))
                .where(owned_by(u, scope), u.customer_id.in_(customer_ids))
                .group_by(u.customer_id, u.currency, u.meter_id, u.member_id)
                .order_by(u.customer_id, u.currency, u.meter_id, u.member_id.nulls_first())
            )
        ).all()
    )


async def member_spent(session: AsyncSession, scope: TenantScope, wallet_id: uuid.UUID, member_id: uuid.UUID, since: datetime) -> int:
    """What the member spent from the wallet since `since`, from the ledger (usage and captures)."""
    total = await session.scalar(
        select(func.coalesce(func.sum(-WalletEntry.amount), 0)).where(
            owned_by(WalletEntry, scope),
            WalletEntry.wallet_id == wallet_id,
            WalletEntry.member_id == member_id,
            WalletEntry.type.in_(SPEND_TYPES),
            WalletEntry.created_at >= since,
        )
    )
    return int(total or 0)


async def member_held(session: AsyncSession, scope: TenantScope, wallet_id: uuid.UUID, member_id: uuid.UUID) -> int:
    total = await session.scalar(
        select(func.coalesce(func.sum(WalletHold.amount), 0)).where(
            owned_by(WalletHold, scope), WalletHold.wallet_id == wallet_id, WalletHold.member_id == member_id, WalletHold.status == "active"
        )
    )
    return int(total or 0)


async def lots_mismatches(session: AsyncSession) -> list[tuple[uuid.UUID, int, int]]:
    """Wallets whose balance differs from the sum of their lots' remaining amounts (the tests'
    check, after every scenario)."""
    sums = select(WalletLot.wallet_id, func.sum(WalletLot.remaining).label("remaining")).group_by(WalletLot.wallet_id).subquery()
    rows = await session.execute(
        select(Wallet.id, Wallet.balance, func.coalesce(sums.c.remaining, 0))
        .select_from(Wallet.__table__.outerjoin(sums, and_(sums.c.wallet_id == Wallet.id)))
        .where(Wallet.balance != func.coalesce(sums.c.remaining, 0))
    )
    return [(row[0], int(row[1]), int(row[2])) for row in rows]


async def entries_by_id(session: AsyncSession, scope: TenantScope, ids: Sequence[uuid.UUID]) -> list[WalletEntry]:
    return list(await session.scalars(select(WalletEntry).where(owned_by(WalletEntry, scope), WalletEntry.id.in_(ids))))


async def latest_entries_of(session: AsyncSession, scope: TenantScope, wallet_ids: Sequence[uuid.UUID], limit: int) -> list[WalletEntry]:
    """The newest `limit` entries of each wallet (for dataloaders), newest first: one statement
    through the (wallet_id, sequence) index, whatever the number of wallets."""
    wallets = rows_table("w", [("wallet_id", Uuid())], [(i,) for i in wallet_ids])
    newest = lateral(
        select(WalletEntry.id)
        .where(owned_by(WalletEntry, scope), WalletEntry.wallet_id == wallets.c.wallet_id)
        .order_by(WalletEntry.sequence.desc())
        .limit(limit)
    ).alias("newest")
    ids = select(newest.c.id).select_from(wallets.join(newest, text("true")))
    return list(
        await session.scalars(
            select(WalletEntry).where(owned_by(WalletEntry, scope), WalletEntry.id.in_(ids)).order_by(WalletEntry.wallet_id, WalletEntry.sequence.desc())
        )
    )


async def spend_of_members(session: AsyncSession, scope: TenantScope, member_ids: Sequence[uuid.UUID], since: datetime) -> list[Any]:
    """Per member and wallet: what the member's usage and captured holds took since `since`."""
    e = WalletEntry
    return list(
        (
            await session.execute(
                select(e.member_id, e.wallet_id, Wallet.currency, func.sum(-e.amount).label("spent"))
                .join(Wallet, Wallet.id == e.wallet_id)
                .where(owned_by(e, scope), e.member_id.in_(member_ids), e.type.in_(SPEND_TYPES), e.created_at >= since)
                .group_by(e.member_id, e.wallet_id, Wallet.currency)
                .order_by(e.member_id, Wallet.currency)
            )
        ).all()
    )


# -- holds ------------------------------------------------------------------------------------------

# A wallet's holds past their expiry become `expired` and leave `held`, in one statement (the
# wallet row locked by the caller). Returns the new `held`, or no row when none was overdue.
_EXPIRE_OVERDUE = text(
    """
    WITH expired AS (
        UPDATE wallet_holds SET status = 'expired', resolved_at = :now, modified_at = :now
        WHERE wallet_id = :wallet_id AND organization_id = :organization_id AND status = 'active' AND expires_at <= :now
        RETURNING amount
    ), total AS (SELECT sum(amount) AS amount FROM expired)
    UPDATE wallets SET held = held - total.amount, modified_at = :now
    FROM total WHERE wallets.id = :wallet_id AND total.amount IS NOT NULL
    RETURNING wallets.held
    """
)


async def expire_overdue_holds(session: AsyncSession, scope: TenantScope, wallet_id: uuid.UUID, now: datetime) -> int | None:
    """Expire the wallet's active holds past `expires_at` (its row locked by the caller); the
    wallet's new `held`, or None when none was overdue."""
    row = (await session.execute(_EXPIRE_OVERDUE, {"wallet_id": wallet_id, "organization_id": scope.organization_id, "now": now})).first()
    return int(row[0]) if row is not None else None


# A new hold and its amount added to the wallet's `held`, in one statement; the wallet's holds past
# their expiry are expired and leave `held` in it too.
_INSERT_HOLD = text(
    """
    WITH expired AS (
        UPDATE wallet_holds SET status = 'expired', resolved_at = :now, modified_at = :now
        WHERE wallet_id = :wallet_id AND organization_id = :organization_id AND status = 'active' AND expires_at <= :now
        RETURNING amount
    ), hold AS (
        INSERT INTO wallet_holds (id, organization_id, created_at, modified_at, wallet_id, customer_id, member_id, amount, status, expires_at, description)
        VALUES (:id, :organization_id, :now, :now, :wallet_id, :customer_id, :member_id, :amount, 'active', :expires_at, :description)
        RETURNING amount
    )
    UPDATE wallets SET held = held + (SELECT amount FROM hold) - (SELECT COALESCE(sum(amount), 0) FROM expired), modified_at = :now
    WHERE id = :wallet_id
    RETURNING held
    """
)


# A hold in one statement when what is available covers it: the customer's live wallet in the
# currency gets `amount` more held only if balance - held still covers it once its row lock is
# taken (PostgreSQL re-checks the condition on the locked row), and the hold is inserted with it.
# No row: no such wallet, or not enough available (overdue holds included): the caller takes the
# general path, which expires them and says why.
_TRY_HOLD = text(
    """
    WITH moved AS (
        UPDATE wallets SET held = held + :amount, modified_at = :now
        WHERE organization_id = :organization_id AND customer_id = :customer_id AND currency = :currency
          AND balance - held >= :amount
          AND EXISTS (SELECT 1 FROM customers c WHERE c.id = :customer_id AND c.deleted_at IS NULL)
        RETURNING id, held
    ), hold AS (
        INSERT INTO wallet_holds (id, organization_id, created_at, modified_at, wallet_id, customer_id, member_id, amount, status, expires_at, description)
        SELECT :id, :organization_id, :now, :now, moved.id, :customer_id, NULL, :amount, 'active', :expires_at, :description FROM moved
        RETURNING id
    )
    SELECT moved.id, moved.held FROM moved
    """
)


async def try_hold(session: AsyncSession, scope: TenantScope, hold: WalletHold, currency: str) -> bool:
    """Insert `hold` (no member; its `wallet_id` filled in here) if the customer's wallet in
    `currency` has that much available, in one statement (which takes the wallet's row lock);
    False when it has not (or no such wallet, or the customer is deleted): nothing changed."""
    values = {
        "id": hold.id, "organization_id": scope.organization_id, "now": hold.created_at, "customer_id": hold.customer_id, "currency": currency,
        "amount": hold.amount, "expires_at": hold.expires_at, "description": hold.description,
    }
    row = (await session.execute(_TRY_HOLD, values)).first()
    if row is None:
        return False
    hold.wallet_id = row[0]
    return True


async def insert_hold(session: AsyncSession, hold: WalletHold) -> int:
    """Insert `hold` (active) and add its amount to its wallet's `held` (the wallet row locked by
    the caller), expiring the wallet's overdue holds; the wallet's new `held`."""
    values = {
        "id": hold.id, "organization_id": hold.organization_id, "now": hold.created_at, "wallet_id": hold.wallet_id, "customer_id": hold.customer_id,
        "member_id": hold.member_id, "amount": hold.amount, "expires_at": hold.expires_at, "description": hold.description,
    }
    return int(await session.scalar(_INSERT_HOLD, values))


# A hold resolved (captured, released) and its amount taken out of the wallet's `held`, only if it
# is still active: one statement; no row when it was not. The wallet's row is locked first (the
# hold's UPDATE joins the locked row, so its lock comes after), as on every path that locks a
# wallet and one of its holds: a capture locking the hold first deadlocked with the usage drain,
# which locks the wallet, then the hold it captures.
_RESOLVE_HOLD = text(
    """
    WITH locked AS (
        SELECT id FROM wallets WHERE id = :wallet_id AND organization_id = :organization_id FOR UPDATE
    ), hold AS (
        UPDATE wallet_holds SET status = :status, captured_amount = :captured, resolved_at = :now, modified_at = :now
        FROM locked
        WHERE wallet_holds.id = :hold_id AND wallet_holds.organization_id = :organization_id
          AND wallet_holds.wallet_id = locked.id AND wallet_holds.status = 'active'
        RETURNING wallet_holds.wallet_id, wallet_holds.amount
    )
    UPDATE wallets SET held = wallets.held - hold.amount, modified_at = :now
    FROM hold WHERE wallets.id = hold.wallet_id
    RETURNING wallets.held, wallets.balance
    """
)


async def resolve_hold(
    session: AsyncSession, scope: TenantScope, wallet_id: uuid.UUID, hold_id: uuid.UUID, status: str, captured: int | None, now: datetime
) -> tuple[int, int] | None:
    """Mark an active hold of the wallet `status` (with `captured` for a capture) and release its
    amount from the wallet's `held`: the wallet's row lock is taken first (kept to the end of
    the transaction). The wallet's new `held` and its balance, or None when the hold was not
    active (another transaction resolved it first: this one waited for it, then found it
    changed)."""
    values = {"wallet_id": wallet_id, "hold_id": hold_id, "organization_id": scope.organization_id, "status": status, "captured": captured, "now": now}
    row = (await session.execute(_RESOLVE_HOLD, values)).first()
    return (int(row[0]), int(row[1])) if row is not None else None


# Built once (a capture's or release's first read, on every one of them): a new statement's
# construction and cache key cost more than running it.
_HOLD_AND_WALLET = (
    select(WalletHold, Wallet)
    .join(Wallet, Wallet.id == WalletHold.wallet_id)
    .where(WalletHold.organization_id == bindparam("organization_id"), WalletHold.id == bindparam("hold_id"))
)


async def hold_and_wallet(session: AsyncSession, scope: TenantScope, hold_id: uuid.UUID) -> tuple[WalletHold, Wallet] | None:
    """The hold and its wallet, read together (no lock)."""
    row = (await session.execute(_HOLD_AND_WALLET, {"organization_id": scope.organization_id, "hold_id": hold_id})).first()
    return (row[0], row[1]) if row is not None else None


async def hold(session: AsyncSession, scope: TenantScope, hold_id: uuid.UUID, *, lock: bool = False) -> WalletHold | None:
    return await session.scalar(_locked(select(WalletHold).where(owned_by(WalletHold, scope), WalletHold.id == hold_id), lock))


async def active_holds_of(session: AsyncSession, scope: TenantScope, wallet_ids: Sequence[uuid.UUID], limit: int) -> list[WalletHold]:
    """The newest `limit` active holds of each wallet (for dataloaders), newest first: one
    statement whatever the number of wallets."""
    wallets = rows_table("w", [("wallet_id", Uuid())], [(i,) for i in wallet_ids])
    newest = lateral(
        select(WalletHold.id)
        .where(owned_by(WalletHold, scope), WalletHold.wallet_id == wallets.c.wallet_id, WalletHold.status == "active")
        .order_by(WalletHold.created_at.desc(), WalletHold.id.desc())
        .limit(limit)
    ).alias("newest")
    ids = select(newest.c.id).select_from(wallets.join(newest, text("true")))
    statement = (
        select(WalletHold)
        .where(owned_by(WalletHold, scope), WalletHold.id.in_(ids))
        .order_by(WalletHold.wallet_id, WalletHold.created_at.desc(), WalletHold.id.desc())
    )
    return list(await session.scalars(statement))


async def holds_by_id(session: AsyncSession, scope: TenantScope, ids: Sequence[uuid.UUID]) -> list[WalletHold]:
    return list(await session.scalars(select(WalletHold).where(owned_by(WalletHold, scope), WalletHold.id.in_(ids))))


async def wallets_with_overdue_holds(session: AsyncSession, scope: TenantScope, now: datetime, *, limit: int) -> list[uuid.UUID]:
    rows = await session.execute(
        select(WalletHold.wallet_id)
        .where(owned_by(WalletHold, scope), WalletHold.status == "active", WalletHold.expires_at <= now)
        .group_by(WalletHold.wallet_id)
        .order_by(WalletHold.wallet_id)
        .limit(limit)
    )
    return [row[0] for row in rows]  # in id order: wallets are locked in that order


async def held_mismatches(session: AsyncSession) -> list[tuple[uuid.UUID, int, int]]:
    """Wallets whose `held` differs from the sum of their active holds (the tests' check, after
    every scenario)."""
    sums = (
        select(WalletHold.wallet_id, func.sum(WalletHold.amount).label("held")).where(WalletHold.status == "active").group_by(WalletHold.wallet_id).subquery()
    )
    rows = await session.execute(
        select(Wallet.id, Wallet.held, func.coalesce(sums.c.held, 0))
        .select_from(Wallet.__table__.outerjoin(sums, sums.c.wallet_id == Wallet.id))
        .where(Wallet.held != func.coalesce(sums.c.held, 0))
    )
    return [(row[0], int(row[1]), int(row[2])) for row in rows]


# -- checks -----------------------------------------------------------------------------------------

# The wallet-enabled prices of a meter among the customer's active (or past due) subscriptions'
# products, with the usage priced so far in each subscription's current period.
_WALLET_PRICES = text(
    """
    SELECT p.id, p.currency, p.unit_amount, p.cap_amount, p.tier_mode, p.tiers, s.id AS subscription_id,
           COALESCE(t.units, 0) AS units
    FROM subscriptions s
    JOIN product_prices p ON p.product_id = s.product_id AND p.organization_id = s.organization_id
    LEFT JOIN wallet_usage_totals t ON t.subscription_id = s.id AND t.product_price_id = p.id AND t.period_start = s.current_period_start
    WHERE s.organization_id = :organization_id AND s.customer_id = :customer_id AND s.status IN ('active', 'past_due')
      AND p.meter_id = :meter_id AND p.wallet_enabled AND p.archived_at IS NULL
    ORDER BY s.created_at, s.id, p.created_at
    """
)


async def wallet_prices(session: AsyncSession, scope: TenantScope, customer_id: uuid.UUID, meter_id: uuid.UUID) -> list[Any]:
    return list((await session.execute(_WALLET_PRICES, {"organization_id": scope.organization_id, "customer_id": customer_id, "meter_id": meter_id})).all())


# A wallet's available balance and, for a member, its budget and active holds: one read.
_COVERAGE = text(
    """
    SELECT w.balance, w.held,
           b.amount AS budget_amount, b.period AS budget_period, b.period_start AS budget_period_start, b.spent AS budget_spent,
           (SELECT COALESCE(sum(h.amount), 0) FROM wallet_holds h
             WHERE h.wallet_id = w.id AND h.member_id = :member_id AND h.status = 'active') AS member_held
    FROM wallets w
    LEFT JOIN member_budgets b ON b.wallet_id = w.id AND b.member_id = :member_id
    WHERE w.organization_id = :organization_id AND w.customer_id = :customer_id AND w.currency = :currency
    """
)


async def coverage(session: AsyncSession, scope: TenantScope, customer_id: uuid.UUID, currency: str, member_id: uuid.UUID | None) -> Any:
    """The wallet's balance and held, and the member's budget row and active holds (no row: no wallet)."""
    return (
        await session.execute(
            _COVERAGE, {"organization_id": scope.organization_id, "customer_id": customer_id, "currency": currency, "member_id": member_id}
        )
    ).first()


# -- auto top-ups ---------------------------------------------------------------------------------


async def pending_auto_top_up(session: AsyncSession, scope: TenantScope, wallet_id: uuid.UUID) -> WalletAutoTopUp | None:
    return await session.scalar(
        select(WalletAutoTopUp).where(owned_by(WalletAutoTopUp, scope), WalletAutoTopUp.wallet_id == wallet_id, WalletAutoTopUp.status == "pending")
    )


async def auto_top_ups_since(session: AsyncSession, scope: TenantScope, wallet_id: uuid.UUID, since: datetime) -> int:
    """What the wallet's auto top-ups charged or are charging since `since` (succeeded and pending)."""
    total = await session.scalar(
        select(func.coalesce(func.sum(WalletAutoTopUp.amount), 0)).where(
            owned_by(WalletAutoTopUp, scope),
            WalletAutoTopUp.wallet_id == wallet_id,
            WalletAutoTopUp.status.in_(("pending", "succeeded")),
            WalletAutoTopUp.created_at >= since,
        )
    )
    return int(total or 0)


async def add_auto_top_up(session: AsyncSession, attempt: WalletAutoTopUp) -> None:
    session.add(attempt)
    await session.flush()


async def auto_top_up(
    session: AsyncSession, scope: TenantScope, attempt_id: uuid.UUID, *, lock: bool = False, skip_locked: bool = False
) -> WalletAutoTopUp | None:
    """The attempt; with `lock`, its row locked (with `skip_locked`: None while another
    transaction holds it)."""
    statement = select(WalletAutoTopUp).where(owned_by(WalletAutoTopUp, scope), WalletAutoTopUp.id == attempt_id)
    return await session.scalar(_locked(statement, lock, skip_locked=skip_locked))


async def current_payment_method(session: AsyncSession, scope: TenantScope, customer_id: uuid.UUID) -> PaymentMethod | None:
    """The customer's payment method saved last (what an off-session charge uses)."""
    return await session.scalar(
        select(PaymentMethod)
        .where(owned_by(PaymentMethod, scope), PaymentMethod.customer_id == customer_id)
        .order_by(PaymentMethod.created_at.desc(), PaymentMethod.id.desc())
        .limit(1)
    )


# -- the usage drain (app/wallets/usage.py) -----------------------------------------------------------


def _wallet_price() -> list[Any]:
    """An active wallet-enabled metered price."""
    return [ProductPrice.type == PriceType.metered_unit.value, ProductPrice.wallet_enabled.is_(True), ProductPrice.archived_at.is_(None)]


@dataclass(frozen=True)
class WalletPriceRow:
    """A subscription paying usage of a wallet-enabled price from its customer's wallet."""

    subscription_id: uuid.UUID
    customer_id: uuid.UUID
    external_id: str | None
    current_period_start: datetime
    started_at: datetime
    price: ProductPrice


async def wallet_prices_of_organization(session: AsyncSession, scope: TenantScope) -> list[WalletPriceRow]:
    """The subscriptions that pay usage from their customer's wallet (active or past due: a
    trial's usage is not billed; the customer not deleted) with each active wallet-enabled metered
    price of their product: `subscription_id customer_id external_id current_period_start
    started_at price` (the `ProductPrice`, one object per price), by customer. Two statements."""
    statement = (
        select(
            Subscription.id.label("subscription_id"), Subscription.customer_id, Customer.external_id, Subscription.current_period_start,
            Subscription.started_at, ProductPrice.id.label("price_id"),
        )
        .join(ProductPrice, ProductPrice.product_id == Subscription.product_id)
        .join(Customer, Customer.id == Subscription.customer_id)
        .where(
            owned_by(Subscription, scope),
            Customer.deleted_at.is_(None),
            Subscription.status.in_((SubscriptionStatus.active.value, SubscriptionStatus.past_due.value)),
            *_wallet_price(),
        )
        .order_by(Subscription.customer_id, Subscription.created_at, Subscription.id, ProductPrice.created_at, ProductPrice.id)
    )
    rows = (await session.execute(statement)).all()
    if not rows:
        return []
    prices = {p.id: p for p in await session.scalars(select(ProductPrice).where(owned_by(ProductPrice, scope), ProductPrice.id.in_({r.price_id for r in rows})))}
    return [WalletPriceRow(r.subscription_id, r.customer_id, r.external_id, r.current_period_start, r.started_at, prices[r.price_id]) for r in rows]


async def has_wallet_prices(session: AsyncSession, scope: TenantScope) -> bool:
    """Whether the organization has an active wallet-enabled metered price."""
    found = select(ProductPrice.id).where(owned_by(ProductPrice, scope), *_wallet_price())
    return bool(await session.scalar(select(found.exists())))


DRAIN_LOCK_CLASS = 7_701  # the drains' advisory locks: (this, a key of the organization)


async def lock_drain(session: AsyncSession, scope: TenantScope) -> None:
    """Serialise the organization's usage drains (a transaction-scoped advisory lock, in the
    two-key space, apart from the meters' one-key customer locks), and have the drain's
    statements planned for their values: a generic plan, made for any value of a parameter once a
    statement has run five times, takes `xid >= $1` for a third of the events and may scan them
    all for each customer."""
    key = (scope.organization_id.int >> 96) & 0x7FFF_FFFF
    custom_plans = func.set_config("plan_cache_mode", "force_custom_plan", True)
    await session.execute(select(func.pg_advisory_xact_lock(literal(DRAIN_LOCK_CLASS, Integer), literal(key, Integer)), custom_plans))


async def usage_watermarks(session: AsyncSession, scope: TenantScope, customer_ids: Sequence[uuid.UUID]) -> dict[uuid.UUID, int]:
    """The drain cursors' watermarks of these customers (a customer without one: none yet)."""
    source = rows_table("c", [("customer_id", Uuid())], [(c,) for c in customer_ids])
    statement = (
        select(WalletUsageCursor.customer_id, WalletUsageCursor.watermark)
        .join(source, WalletUsageCursor.customer_id == source.c.customer_id)
        .where(owned_by(WalletUsageCursor, scope))
    )
    return {customer_id: int(watermark) for customer_id, watermark in await session.execute(statement)}


async def advance_usage_cursors(
    session: AsyncSession, scope: TenantScope, moved: Sequence[uuid.UUID], watched: Sequence[uuid.UUID], xmin: int, now: datetime
) -> bool:
    """Move the drain cursors of the `moved` customers to `xmin` (created if new), and say whether
    any of the `watched` ones has user events of a transaction at or above `xmin` (an index
    probe per customer): one statement."""
    watch = rows_table("w", [("customer_id", Uuid())], [(c,) for c in watched])
    first = (
        select(Event.id)
        .where(owned_by(Event, scope), Event.customer_id == watch.c.customer_id, Event.xid >= meters_repository.xid_literal(xmin), Event.source == "user")
        .limit(1)
        .lateral("e")
    )
    pending = select(select(first.c.id).select_from(watch.join(first, true())).exists())
    if moved:
        source = rows_table("c", [("customer_id", Uuid())], [(c,) for c in sorted(moved)])
        insert_cursors = insert(WalletUsageCursor).from_select(
            ["id", "organization_id", "customer_id", "watermark", "created_at", "modified_at"],
            select(func.gen_random_uuid(), literal(scope.organization_id, Uuid), source.c.customer_id, literal(xmin, BigInteger), literal(now), literal(now)),
        )
        upsert = insert_cursors.on_conflict_do_update(
            index_elements=[WalletUsageCursor.customer_id],
            set_={"watermark": insert_cursors.excluded.watermark, "modified_at": insert_cursors.excluded.modified_at},
            where=WalletUsageCursor.watermark < insert_cursors.excluded.watermark,
        )
        pending = pending.add_cte(upsert.returning(WalletUsageCursor.id).cte("moved"))
    return bool(await session.scalar(pending))


HOLD_KEY = "hold_id"


async def usage_units(
    session: AsyncSession, scope: TenantScope, meter: Meter, targets: Sequence[tuple[uuid.UUID, uuid.UUID, str | None, int, datetime]], xid_to: int
) -> list[Any]:
    """For each target (subscription, customer, its external id, the customer's watermark,
    since): the customer's user events in the xid window [watermark, xid_to), per member and
    named hold: `subscription_id customer_id member hold units` (`hold`: the text of
    `metadata.hold_id`, or None; `units`: of the events matching `meter` timestamped at or after
    `since`, 0 for the others, so that every customer with events in its window has a row). A count
    meter counts events; a sum meter sums its property (events without a number in it add nothing).
    Two statements (the customer's events; those sent for its external id before it existed),
    whatever the number of targets."""
    # the watermarks as an xid8 column (sent as text, the array cast once): compared with the
    # events' xid without a cast per row, the bound is part of the index probe (row-level security
    # keeps a comparison through the casts, which are not leakproof, out of the index)
    table = rows_table(
        "t",
        [
            ("subscription_id", Uuid()), ("customer_id", Uuid()), ("external_id", String()), ("watermark", XID8(), Text()),
            ("since", DateTime(timezone=True)),
        ],
        [(subscription, customer, external, str(watermark), since) for subscription, customer, external, watermark, since in targets],
    )
    counted = and_(Event.timestamp >= table.c.since, meters_repository.filter_clause(meter.filter))
    prop = meter.aggregation.get("property")
    if meter.aggregation["func"] == "count":
        units = func.count().filter(counted)
    else:
        units = func.coalesce(func.sum(meters_repository.numeric_value(prop)).filter(counted), 0)
    member = meters_repository.member_key(table.c.customer_id, correlate=table).label("member")
    hold = Event.user_metadata[HOLD_KEY].astext.label("hold")
    window = [
        Event.xid >= table.c.watermark,
        Event.xid < meters_repository.xid_literal(xid_to),
        Event.source == "user",
    ]
    own = Event.customer_id == table.c.customer_id
    late = and_(
        table.c.external_id.is_not(None), Event.organization_id == scope.organization_id, Event.customer_id.is_(None),
        Event.external_customer_id == table.c.external_id,
    )
    # grouped inside a LATERAL per target: the plan is an index probe per customer, whatever the
    # statistics say (a join the planner could reorder scanned the organization's events); the
    # customer's own events and those sent for its external id, one statement
    parts = []
    for n, whose in enumerate((own, late)):
        groups = select(member, hold, units.label("units")).where(whose, *window).group_by(member, hold).lateral(f"g{n}")
        parts.append(
            select(table.c.subscription_id, table.c.customer_id, groups.c.member, groups.c.hold, groups.c.units).select_from(table.join(groups, true()))
        )
    return list((await session.execute(union_all(*parts))).all())


async def usage_totals(
    session: AsyncSession, scope: TenantScope, keys: Sequence[tuple[uuid.UUID, uuid.UUID, datetime]]
) -> dict[tuple[uuid.UUID, uuid.UUID, datetime], tuple[Decimal, int]]:
    """Each (subscription, price, period start)'s priced usage so far, `(units, amount)` (none
    yet: absent). One statement; read without a lock: only the organization's drain writes them,
    and its runs take turns."""
    if not keys:
        return {}
    source = rows_table("k", [("subscription_id", Uuid()), ("product_price_id", Uuid()), ("period_start", DateTime(timezone=True))], sorted(set(keys)))
    statement = select(
        WalletUsageTotal.subscription_id, WalletUsageTotal.product_price_id, WalletUsageTotal.period_start, WalletUsageTotal.units,
        WalletUsageTotal.amount,
    ).join(
        source,
        and_(
            WalletUsageTotal.subscription_id == source.c.subscription_id, WalletUsageTotal.product_price_id == source.c.product_price_id,
            WalletUsageTotal.period_start == source.c.period_start,
        ),
    ).where(owned_by(WalletUsageTotal, scope))
    return {(r.subscription_id, r.product_price_id, r.period_start): (Decimal(r.units), int(r.amount)) for r in await session.execute(statement)}


async def set_usage_totals(
    session: AsyncSession, scope: TenantScope, totals: Sequence[tuple[uuid.UUID, uuid.UUID, datetime, Decimal, int]], now: datetime
) -> None:
    """Store each (subscription, price, period start)'s priced usage `(units, amount)`, created
    if new. One statement."""
    if not totals:
        return
    source = rows_table(
        "n",
        [("subscription_id", Uuid()), ("product_price_id", Uuid()), ("period_start", DateTime(timezone=True)), ("units", Numeric()), ("amount", BigInteger())],
        totals,
    )
    statement = insert(WalletUsageTotal).from_select(
        ["id", "organization_id", "subscription_id", "product_price_id", "period_start", "units", "amount", "created_at", "modified_at"],
        select(
            func.gen_random_uuid(), literal(scope.organization_id, Uuid), source.c.subscription_id, source.c.product_price_id, source.c.period_start,
            source.c.units, source.c.amount, literal(now), literal(now),
        ),
    )
    await session.execute(
        statement.on_conflict_do_update(
            index_elements=["subscription_id", "product_price_id", "period_start"],
            set_={"units": statement.excluded.units, "amount": statement.excluded.amount, "modified_at": statement.excluded.modified_at},
        )
    )


async def lock_wallets_of(
    session: AsyncSession, scope: TenantScope, keys: Sequence[tuple[uuid.UUID, str]]
) -> tuple[dict[tuple[uuid.UUID, str], Wallet], set[tuple[uuid.UUID, uuid.UUID]]]:
    """The wallets of these (customer, currency), locked in the order of their ids (two batches
    over the same wallets queue up instead of deadlocking), and (wallet, member) of every member
    budget on them. One statement."""
    if not keys:
        return {}, set()
    source = rows_table("k", [("customer_id", Uuid()), ("currency", String())], sorted(set(keys)))
    budgeted = select(func.array_agg(MemberBudget.member_id)).where(owned_by(MemberBudget, scope), MemberBudget.wallet_id == Wallet.id).scalar_subquery()
    statement = (
        select(Wallet, budgeted.label("budgeted"))
        .join(source, and_(Wallet.customer_id == source.c.customer_id, Wallet.currency == source.c.currency))
        .where(owned_by(Wallet, scope))
        .order_by(Wallet.id)
        .with_for_update(of=Wallet)
        .execution_options(populate_existing=True)
    )
    wallets: dict[tuple[uuid.UUID, str], Wallet] = {}
    budgets: set[tuple[uuid.UUID, uuid.UUID]] = set()
    for wallet, members in await session.execute(statement):
        wallets[(wallet.customer_id, wallet.currency)] = wallet
        budgets.update((wallet.id, member_id) for member_id in members or ())
    return wallets, budgets


async def budgeted_members(session: AsyncSession, scope: TenantScope, wallet_id: uuid.UUID, member_ids: Sequence[uuid.UUID]) -> set[uuid.UUID]:
    """Which of these members have a budget on the wallet."""
    if not member_ids:
        return set()
    statement = select(MemberBudget.member_id).where(
        owned_by(MemberBudget, scope), MemberBudget.wallet_id == wallet_id, MemberBudget.member_id.in_(list(member_ids))
    )
    return set((await session.scalars(statement)).all())


async def add_uncovered(session: AsyncSession, rows: Sequence[dict[str, Any]]) -> None:
    """Record usage the wallet did not pay (append-only), in one statement."""
    if rows:
        await session.execute(insert(WalletUncoveredUsage), list(rows))
