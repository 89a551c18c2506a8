"""All SQL about discounts, their redemptions and tax rates."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime
from typing import Sequence

from sqlalchemy import delete, func, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from app.kit.pagination import Page, paginate
from app.kit.repository import escape_like, owned_by, scoped
from app.kit.tenancy import TenantScope
from app.models import Customer, Product
from app.models.discount import Discount, DiscountProduct, DiscountRedemption, TaxRate

CODE_INDEX = "ix_discounts_organization_id_code"
TAX_RATE_INDEX = "ix_tax_rates_organization_id_place"


@dataclass(frozen=True)
class DiscountFilter:
    is_archived: bool | None = None
    type: str | None = None
    code: str | None = None
    search: str | None = None



def _filtered(scope: TenantScope, filter: DiscountFilter):
    statement = scoped(select(Discount), Discount, scope)
    if filter.is_archived is not None:
        statement = statement.where(Discount.archived_at.is_not(None) if filter.is_archived else Discount.archived_at.is_(None))
    if filter.type is not None:
        statement = statement.where(Discount.type == filter.type)
    if filter.code is not None:
        statement = statement.where(func.lower(Discount.code) == filter.code.lower())
    if filter.search:
        pattern = f"%{escape_like(filter.search)}%"
        statement = statement.where(Discount.name.ilike(pattern) | Discount.code.ilike(pattern))
    return statement


async def list_page(
    session: AsyncSession, scope: TenantScope, filter: DiscountFilter, *, descending: bool, first: int, after: str | None
) -> Page[Discount]:
    return await paginate(
        session,
        _filtered(scope, filter),
        sort_key=Discount.created_at,
        id_column=Discount.id,
        descending=descending,
        first=first,
        after=after,
        sort_value_of=lambda d: d.created_at,
    )


async def count(session: AsyncSession, scope: TenantScope, filter: DiscountFilter) -> int:
    statement = _filtered(scope, filter).with_only_columns(func.count()).order_by(None)
    return int(await session.scalar(statement) or 0)


async def get(session: AsyncSession, scope: TenantScope, discount_id: uuid.UUID, *, for_update: bool = False) -> Discount | None:
    statement = scoped(select(Discount), Discount, scope).where(Discount.id == discount_id)
    if for_update:
        statement = statement.with_for_update()
    return await session.scalar(statement)


async def get_by_code(session: AsyncSession, scope: TenantScope, code: str) -> Discount | None:
    statement = scoped(select(Discount), Discount, scope).where(func.lower(Discount.code) == code.lower(), Discount.code.is_not(None))
    return await session.scalar(statement)


async def get_many(session: AsyncSession, scope: TenantScope, ids: Sequence[uuid.UUID]) -> list[Discount]:
    statement = scoped(select(Discount), Discount, scope).where(Discount.id.in_(list(ids)))
    return list((await session.scalars(statement)).all())


async def product_ids_of(session: AsyncSession, scope: TenantScope, discount_ids: Sequence[uuid.UUID]) -> list[DiscountProduct]:
    """The product restrictions of the given discounts, oldest first."""
    statement = (
        scoped(select(DiscountProduct), DiscountProduct, scope)
        .where(DiscountProduct.discount_id.in_(list(discount_ids)))
        .order_by(DiscountProduct.created_at, DiscountProduct.id)
    )
    return list((await session.scalars(statement)).all())


async def replace_products(session: AsyncSession, scope: TenantScope, discount_id: uuid.UUID, product_ids: Sequence[uuid.UUID]) -> None:
    for row in await product_ids_of(session, scope, [discount_id]):
        await session.delete(row)
    await session.flush()
    session.add_all(
        [DiscountProduct(organization_id=scope.organization_id, discount_id=discount_id, product_id=product_id) for product_id in product_ids]
    )


async def existing_products(session: AsyncSession, scope: TenantScope, ids: Sequence[uuid.UUID]) -> set[uuid.UUID]:
    """Which of `ids` are products of the organization (archived ones included)."""
    if not ids:
        return set()
    statement = scoped(select(Product.id), Product, scope).where(Product.id.in_(list(ids)))
    return set((await session.scalars(statement)).all())


async def customer_exists(session: AsyncSession, scope: TenantScope, customer_id: uuid.UUID) -> bool:
    statement = scoped(select(Customer.id), Customer, scope).where(Customer.id == customer_id)
    return await session.scalar(statement) is not None


async def take_redemption(session: AsyncSession, scope: TenantScope, discount_id: uuid.UUID, now: datetime) -> int | None:
    """Count one more redemption, in one conditional UPDATE: only while the discount is under its
    limit (and not archived). Concurrent callers queue on the row; each sees the count the one
    before it left, so the count never passes `max_redemptions`. None if it was not counted."""
    statement = (
        update(Discount)
        .where(
            owned_by(Discount, scope),
            Discount.id == discount_id,
            Discount.archived_at.is_(None),
            (Discount.max_redemptions.is_(None)) | (Discount.redemptions_count < Discount.max_redemptions),
        )
        .values(redemptions_count=Discount.redemptions_count + 1, modified_at=now)
        .returning(Discount.redemptions_count)
        .execution_options(synchronize_session=False)
    )
    return await session.scalar(statement)


async def add_redemption(session: AsyncSession, row: DiscountRedemption) -> None:
    session.add(row)
    await session.flush()


async def release_redemption(session: AsyncSession, scope: TenantScope, discount_id: uuid.UUID, customer_id: uuid.UUID, now: datetime) -> bool:
    """Remove the customer's newest redemption of the discount and count one fewer, under the
    discount's row lock, taken first (as take_redemption counts), so two releases never both
    take the same row; False when the customer has none."""
    await session.execute(scoped(select(Discount.id), Discount, scope).where(Discount.id == discount_id).with_for_update())
    newest = await session.scalar(
        scoped(select(DiscountRedemption.id), DiscountRedemption, scope)
        .where(DiscountRedemption.discount_id == discount_id, DiscountRedemption.customer_id == customer_id)
        .order_by(DiscountRedemption.redeemed_at.desc(), DiscountRedemption.id.desc())
        .limit(1)
    )
    if newest is None:
        return False
    await session.execute(
        update(Discount)
        .where(owned_by(Discount, scope), Discount.id == discount_id, Discount.redemptions_count > 0)
        .values(redemptions_count=Discount.redemptions_count - 1, modified_at=now)
        .execution_options(synchronize_session=False)
    )
    await session.execute(
        delete(DiscountRedemption).where(owned_by(DiscountRedemption, scope), DiscountRedemption.id == newest).execution_options(synchronize_session=False)
    )
    return True


async def count_redemptions(session: AsyncSession, scope: TenantScope, discount_id: uuid.UUID) -> int:
    statement = scoped(select(func.count()).select_from(DiscountRedemption), DiscountRedemption, scope).where(
        DiscountRedemption.discount_id == discount_id
    )
    return int(await session.scalar(statement) or 0)


# -- tax rates -----------------------------------------------------------------------------


async def list_tax_rates(session: AsyncSession, scope: TenantScope) -> list[TaxRate]:
    """The default rate first, then by country and state."""
    statement = scoped(select(TaxRate), TaxRate, scope).order_by(
        TaxRate.country.is_not(None), TaxRate.country, TaxRate.state.is_not(None), TaxRate.state
    )
    return list((await session.scalars(statement)).all())


async def get_tax_rate(session: AsyncSession, scope: TenantScope, country: str | None, state: str | None) -> TaxRate | None:
    statement = scoped(select(TaxRate), TaxRate, scope).where(
        TaxRate.country.is_(None) if country is None else TaxRate.country == country,
        TaxRate.state.is_(None) if state is None else TaxRate.state == state,
    )
    return await session.scalar(statement)


async def candidate_tax_rates(session: AsyncSession, scope: TenantScope, countries: Sequence[str]) -> list[TaxRate]:
    """The rates that could apply to places in `countries`: theirs (the countries' own and their
    states'), and the default."""
    places = TaxRate.country.is_(None)
    if countries:
        places = places | TaxRate.country.in_(list(countries))
    statement = scoped(select(TaxRate), TaxRate, scope).where(places)
    return list((await session.scalars(statement)).all())


async def delete_tax_rate(session: AsyncSession, row: TaxRate) -> None:
    await session.delete(row)
    await session.flush()
