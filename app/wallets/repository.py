"""All SQL of wallets."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any, Sequence

from sqlalchemy import and_, func, select, text, update
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncSession

from app.kit.ledger import LedgerError
from app.kit.pagination import Page, paginate
from app.kit.repository import owned_by, scoped
from app.kit.tenancy import TenantScope
from app.models.wallet import MemberBudget, Wallet, WalletEntry, WalletHold, WalletLot, WalletUncoveredUsage


async def ensure_wallet(session: AsyncSession, scope: TenantScope, customer_id: uuid.UUID, currency: str, now: datetime) -> None:
    """Create the customer's wallet in `currency` unless it exists (two callers at once: one row)."""
    await session.execute(
        insert(Wallet)
        .values(id=uuid.uuid4(), organization_id=scope.organization_id, customer_id=customer_id, currency=currency, balance=0, held=0, created_at=now, modified_at=now)
        .on_conflict_do_nothing(index_elements=["customer_id", "currency"])
    )


async def wallet_by_customer(session: AsyncSession, scope: TenantScope, customer_id: uuid.UUID, currency: str, *, lock: bool = False) -> Wallet | None:
    statement = select(Wallet).where(owned_by(Wallet, scope), Wallet.customer_id == customer_id, Wallet.currency == currency)
    if lock:
        statement = statement.with_for_update().execution_options(populate_existing=True)
    return await session.scalar(statement)


async def get(session: AsyncSession, scope: TenantScope, wallet_id: uuid.UUID, *, lock: bool = False) -> Wallet | None:
    statement = select(Wallet).where(owned_by(Wallet, scope), Wallet.id == wallet_id)
    if lock:
        statement = statement.with_for_update().execution_options(populate_existing=True)
    return await session.scalar(statement)


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
# that never expire last), then the rest, oldest first. One statement: each lot gives what the
# debit still needs after the lots before it.
_SPEND = text(
    """
    WITH ordered AS (
        SELECT id, remaining,
               sum(remaining) OVER (ORDER BY kind <> 'grant', expires_at NULLS LAST, created_at, id) AS upto
        FROM wallet_lots
        WHERE wallet_id = :wallet_id AND organization_id = :organization_id AND remaining > 0
    ), taken AS (
        SELECT id, LEAST(remaining, CAST(:amount AS bigint) - (upto - remaining)) AS take
        FROM ordered WHERE upto - remaining < CAST(:amount AS bigint)
    )
    UPDATE wallet_lots AS lot SET remaining = lot.remaining - taken.take, modified_at = :now
    FROM taken WHERE lot.id = taken.id
    RETURNING lot.id, taken.take
    """
)


async def spend_lots(session: AsyncSession, scope: TenantScope, wallet_id: uuid.UUID, amount: int, now: datetime) -> list[tuple[uuid.UUID, int]]:
    """Take `amount` from the wallet's lots in spending order (the wallet row locked by the
    caller); the (lot, amount taken) pairs. Raises LedgerError if the lots hold less: the lots
    and the balance disagree, a bug."""
    rows = (await session.execute(_SPEND, {"wallet_id": wallet_id, "organization_id": scope.organization_id, "amount": amount, "now": now})).all()
    taken = sum(int(row[1]) for row in rows)
    if taken != amount:
        raise LedgerError(f"wallet {wallet_id}: its lots hold {taken}, not the {amount} to spend")
    return [(row[0], int(row[1])) for row in rows]


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
    statement = select(WalletLot).where(owned_by(WalletLot, scope), WalletLot.id == lot_id)
    if lock:
        statement = statement.with_for_update().execution_options(populate_existing=True)
    return await session.scalar(statement)


async def lot_of_order(session: AsyncSession, scope: TenantScope, order_id: uuid.UUID) -> WalletLot | None:
    return await session.scalar(select(WalletLot).where(owned_by(WalletLot, scope), WalletLot.order_id == order_id))


async def expired_lots(session: AsyncSession, scope: TenantScope, now: datetime, *, limit: int) -> list[WalletLot]:
    return list(
        await session.scalars(
            select(WalletLot)
            .where(owned_by(WalletLot, scope), WalletLot.remaining > 0, WalletLot.expires_at <= now)
            .order_by(WalletLot.expires_at, WalletLot.id)
            .limit(limit)
            .with_for_update(skip_locked=True)
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
    if lock:
        statement = statement.with_for_update().execution_options(populate_existing=True)
    return await session.scalar(statement)


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
            WalletEntry.type.in_(("usage", "hold_capture")),
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
