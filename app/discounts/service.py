"""Discounts: create, update, archive, list, and redeem for a customer.

A discount is `fixed` (an amount of one currency) or `percentage` (basis points, 1 to 10000),
for one order (`once`), every order (`forever`) or the first `duration_in_months` months
(`repeating`). Its terms (type, amount, percentage, duration) are fixed at creation; its name,
code, limit, validity window and products can change. Discounts are archived, never deleted.

Whether a discount applies is decided at redemption by `check_applicable`, on the kit's clock:
not archived, started (`starts_at`), not ended (`ends_at`), under its limit, for one of its
products (when it names some) and, for a fixed one, in the price's currency. `redeem` counts the
redemption in one conditional UPDATE (app/discounts/repository.py: take_redemption), so
concurrent redemptions never exceed `max_redemptions`.
"""

from __future__ import annotations

import re
import uuid
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Mapping, Sequence

from sqlalchemy.ext.asyncio import AsyncSession

from app.auth.subject import Subject
from app.discounts import repository
from app.discounts.errors import DiscountNotApplicable, NotApplicableReason
from app.discounts.repository import CODE_INDEX, DiscountFilter
from app.kit import clock
from app.kit.batches import grouped, in_order
from app.kit.errors import Conflict, FieldIssue, NotFound, ValidationFailed
from app.kit.money import check_amount, check_currency
from app.kit.pagination import Page, check_page_size
from app.kit.repository import flush_unique
from app.kit.tenancy import TenantScope
from app.kit.validation import check_lookup_text, check_text, to_utc
from app.models.discount import Discount, DiscountDuration, DiscountProduct, DiscountRedemption, DiscountType

__all__ = [
    "DiscountDraft",
    "DiscountFilter",
    "archive_discount",
    "check_applicable",
    "create_discount",
    "get_discount",
    "list_discounts",
    "redeem",
    "update_discount",
]

NAME_MAX_LENGTH = 256
CODE_PATTERN = re.compile(r"^[A-Za-z0-9_-]{1,64}$")
MAX_BASIS_POINTS = 10_000
MAX_DURATION_IN_MONTHS = 999
MAX_REDEMPTIONS = 1_000_000_000
MAX_PRODUCTS = 100


@dataclass
class DiscountDraft:
    name: str
    type: str
    duration: str
    amount: int | None = None
    currency: str | None = None
    basis_points: int | None = None
    duration_in_months: int | None = None
    code: str | None = None
    max_redemptions: int | None = None
    starts_at: datetime | None = None
    ends_at: datetime | None = None
    product_ids: list[uuid.UUID] = field(default_factory=list)


# -- reads ---------------------------------------------------------------------------------


async def list_discounts(
    session: AsyncSession,
    subject: Subject,
    filter: DiscountFilter,
    *,
    descending: bool = False,
    first: int = 50,
    after: str | None = None,
    max_page_size: int = 100,
) -> Page[Discount]:
    check_page_size(first, max_page_size)
    check_lookup_text({"search": filter.search, "code": filter.code})
    return await repository.list_page(session, subject.scope, filter, descending=descending, first=first, after=after)


async def count_discounts(session: AsyncSession, subject: Subject, filter: DiscountFilter) -> int:
    check_lookup_text({"search": filter.search, "code": filter.code})
    return await repository.count(session, subject.scope, filter)


async def get_discount(session: AsyncSession, subject: Subject, discount_id: uuid.UUID) -> Discount:
    discount = await repository.get(session, subject.scope, discount_id)
    if discount is None:
        raise NotFound("Discount not found")
    return discount


async def get_discount_in(session: AsyncSession, scope: TenantScope, discount_id: uuid.UUID) -> Discount:
    """The discount, for another domain acting in `scope` (a checkout pricing itself)."""
    discount = await repository.get(session, scope, discount_id)
    if discount is None:
        raise NotFound("Discount not found")
    return discount


async def load_discounts(session: AsyncSession, scope: TenantScope, ids: list[uuid.UUID]) -> list[Discount | None]:
    """For dataloaders: discounts in the order of `ids`, None where not found."""
    return in_order(await repository.get_many(session, scope, ids), ids)


async def load_product_ids_of(session: AsyncSession, scope: TenantScope, discount_ids: list[uuid.UUID]) -> list[list[uuid.UUID]]:
    """For dataloaders: the ids of the products each discount is restricted to (empty: all)."""
    rows = await repository.product_ids_of(session, scope, discount_ids)
    return [[row.product_id for row in group] for group in grouped(rows, discount_ids, key=lambda row: row.discount_id)]


# -- rules ---------------------------------------------------------------------------------


def _check_code(issues: list[FieldIssue], value: str | None) -> str | None:
    before = len(issues)
    code = check_text(issues, ("code",), value, max_length=64)
    if code is not None and len(issues) == before and not CODE_PATTERN.match(code):
        issues.append(FieldIssue(("code",), "may hold only letters, digits, '-' and '_'", "invalid_code"))
    return code


def _check_count(issues: list[FieldIssue], path: tuple[str, ...], value: int | None, *, maximum: int) -> int | None:
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int):
        issues.append(FieldIssue(path, "must be an integer", "invalid_type"))
        return None
    if not 1 <= value <= maximum:
        issues.append(FieldIssue(path, f"must be 1 to {maximum}", "out_of_range"))
    return value


def _check_time(issues: list[FieldIssue], path: tuple[str, ...], value: datetime | None) -> datetime | None:
    if value is None:
        return None
    try:
        return to_utc(value)
    except ValueError as exc:
        issues.append(FieldIssue(path, str(exc), "out_of_range"))
        return None


def _check_window(issues: list[FieldIssue], starts_at: datetime | None, ends_at: datetime | None) -> None:
    if starts_at is not None and ends_at is not None and ends_at <= starts_at:
        issues.append(FieldIssue(("endsAt",), "must be after `startsAt`", "out_of_range"))


async def _check_products(session: AsyncSession, issues: list[FieldIssue], scope: TenantScope, ids: Sequence[uuid.UUID]) -> list[uuid.UUID]:
    unique = list(dict.fromkeys(ids))
    if len(unique) > MAX_PRODUCTS:
        issues.append(FieldIssue(("productIds",), f"at most {MAX_PRODUCTS} products", "too_many"))
        return unique
    known = await repository.existing_products(session, scope, unique)
    for index, product_id in enumerate(ids):
        if product_id not in known:
            issues.append(FieldIssue(("productIds", str(index)), "no such product in this organization", "not_found"))
    return unique


def _code_taken(code: str) -> Conflict:
    return Conflict(f"Another discount already has the code {code!r} (codes are compared without case)", field="code", value=code)


# -- writes --------------------------------------------------------------------------------


async def create_discount(session: AsyncSession, subject: Subject, draft: DiscountDraft) -> Discount:
    issues: list[FieldIssue] = []
    name = check_text(issues, ("name",), draft.name, max_length=NAME_MAX_LENGTH, required=True)
    amount = currency = basis_points = None
    if draft.type == DiscountType.fixed.value:
        amount = check_amount(issues, ("fixed", "amount"), draft.amount, minimum=1)
        if draft.currency is None:
            issues.append(FieldIssue(("fixed", "currency"), "is required", "required"))
        else:
            currency = check_currency(issues, ("fixed", "currency"), draft.currency)
    elif draft.type == DiscountType.percentage.value:
        if draft.basis_points is None:
            issues.append(FieldIssue(("percentage", "basisPoints"), "is required", "required"))
        else:
            basis_points = _check_count(issues, ("percentage", "basisPoints"), draft.basis_points, maximum=MAX_BASIS_POINTS)
    else:
        issues.append(FieldIssue(("type",), "must be fixed or percentage", "invalid_value"))
    months = None
    if draft.duration not in {d.value for d in DiscountDuration}:
        issues.append(FieldIssue(("duration",), "must be once, forever or repeating", "invalid_value"))
    elif draft.duration == DiscountDuration.repeating.value:
        if draft.duration_in_months is None:
            issues.append(FieldIssue(("durationInMonths",), "is required for a repeating discount", "required"))
        months = _check_count(issues, ("durationInMonths",), draft.duration_in_months, maximum=MAX_DURATION_IN_MONTHS)
    elif draft.duration_in_months is not None:
        issues.append(FieldIssue(("durationInMonths",), "is only for a repeating discount", "not_allowed"))
    code = _check_code(issues, draft.code)
    max_redemptions = _check_count(issues, ("maxRedemptions",), draft.max_redemptions, maximum=MAX_REDEMPTIONS)
    starts_at = _check_time(issues, ("startsAt",), draft.starts_at)
    ends_at = _check_time(issues, ("endsAt",), draft.ends_at)
    _check_window(issues, starts_at, ends_at)
    product_ids = await _check_products(session, issues, subject.scope, draft.product_ids)
    if issues:
        raise ValidationFailed(issues)

    discount = Discount(
        id=uuid.uuid4(),
        organization_id=subject.organization_id,
        name=name,
        type=draft.type,
        amount=amount,
        currency=currency,
        basis_points=basis_points,
        duration=draft.duration,
        duration_in_months=months,
        code=code,
        max_redemptions=max_redemptions,
        redemptions_count=0,
        starts_at=starts_at,
        ends_at=ends_at,
    )
    session.add(discount)
    await flush_unique(session, {CODE_INDEX: lambda: _code_taken(code or "")})
    session.add_all(
        [DiscountProduct(organization_id=subject.organization_id, discount_id=discount.id, product_id=product_id) for product_id in product_ids]
    )
    await session.flush()
    return discount


async def update_discount(session: AsyncSession, subject: Subject, discount_id: uuid.UUID, changes: Mapping[str, Any]) -> Discount:
    """Apply the given fields only: name, code (null removes it), maxRedemptions (null: no
    limit; never below the redemptions so far), startsAt, endsAt, productIds (empty: all
    products). The terms (type, amount, percentage, duration) are fixed at creation."""
    discount = await repository.get(session, subject.scope, discount_id, for_update=True)
    if discount is None:
        raise NotFound("Discount not found")
    issues: list[FieldIssue] = []
    if "name" in changes:
        name = check_text(issues, ("name",), changes["name"], max_length=NAME_MAX_LENGTH, required=True)
        if name is not None:
            discount.name = name
    if "code" in changes:
        discount.code = _check_code(issues, changes["code"])
    if "max_redemptions" in changes:
        limit = _check_count(issues, ("maxRedemptions",), changes["max_redemptions"], maximum=MAX_REDEMPTIONS)
        if limit is not None and 1 <= limit < discount.redemptions_count:
            issues.append(
                FieldIssue(("maxRedemptions",), f"must be at least the {discount.redemptions_count} redemptions so far", "out_of_range")
            )
        discount.max_redemptions = limit
    if "starts_at" in changes:
        discount.starts_at = _check_time(issues, ("startsAt",), changes["starts_at"])
    if "ends_at" in changes:
        discount.ends_at = _check_time(issues, ("endsAt",), changes["ends_at"])
    _check_window(issues, discount.starts_at, discount.ends_at)
    product_ids = None
    if "product_ids" in changes:
        product_ids = await _check_products(session, issues, subject.scope, changes["product_ids"] or [])
    if issues:
        raise ValidationFailed(issues)
    await flush_unique(session, {CODE_INDEX: lambda: _code_taken(discount.code or "")})
    if product_ids is not None:
        await repository.replace_products(session, subject.scope, discount.id, product_ids)
        await session.flush()
    return discount


async def archive_discount(session: AsyncSession, subject: Subject, discount_id: uuid.UUID) -> Discount:
    """No more redemptions; kept for history (and its code stays taken). Twice is a no-op."""
    discount = await repository.get(session, subject.scope, discount_id, for_update=True)
    if discount is None:
        raise NotFound("Discount not found")
    if discount.archived_at is None:
        discount.archived_at = clock.now()
        await session.flush()
    return discount


# -- applying ------------------------------------------------------------------------------


def check_applicable(
    discount: Discount,
    *,
    product_ids: Sequence[uuid.UUID],
    product_id: uuid.UUID | None = None,
    currency: str | None = None,
    now: datetime | None = None,
) -> None:
    """Raise `DiscountNotApplicable` unless `discount` applies now (the kit's clock) to
    `product_id` priced in `currency`; `product_ids` are its restrictions (empty: any product).
    The limit is checked again, for certain, when the redemption is counted."""
    now = now or clock.now()
    if discount.archived_at is not None:
        raise DiscountNotApplicable(discount.id, NotApplicableReason.archived)
    if discount.starts_at is not None and now < discount.starts_at:
        raise DiscountNotApplicable(discount.id, NotApplicableReason.not_started)
    if discount.ends_at is not None and now >= discount.ends_at:
        raise DiscountNotApplicable(discount.id, NotApplicableReason.expired)
    if discount.max_redemptions is not None and discount.redemptions_count >= discount.max_redemptions:
        raise DiscountNotApplicable(discount.id, NotApplicableReason.exhausted)
    if product_ids and product_id is not None and product_id not in product_ids:
        raise DiscountNotApplicable(discount.id, NotApplicableReason.other_product)
    if discount.type == DiscountType.fixed.value and currency is not None and currency.lower() != discount.currency:
        raise DiscountNotApplicable(discount.id, NotApplicableReason.other_currency)


async def find_by_code(session: AsyncSession, scope: TenantScope, code: str) -> Discount:
    """The discount a customer's code names (any case); NotFound otherwise."""
    discount = await repository.get_by_code(session, scope, code.strip()) if code.strip() else None
    if discount is None:
        raise NotFound("No discount has this code")
    return discount


async def redeem(
    session: AsyncSession,
    scope: TenantScope,
    discount_id: uuid.UUID,
    customer_id: uuid.UUID,
    *,
    product_id: uuid.UUID | None = None,
    currency: str | None = None,
) -> DiscountRedemption:
    """Redeem the discount for the customer (a checkout's call, in its transaction): checked by
    `check_applicable`, then counted by a conditional UPDATE that refuses to pass
    `max_redemptions` however many callers race; `DiscountNotApplicable` (exhausted) when it
    would. Never commits."""
    discount = await repository.get(session, scope, discount_id)
    if discount is None:
        raise NotFound("Discount not found")
    if not await repository.customer_exists(session, scope, customer_id):
        raise NotFound("Customer not found")
    now = clock.now()
    restrictions = (await load_product_ids_of(session, scope, [discount.id]))[0]
    check_applicable(discount, product_ids=restrictions, product_id=product_id, currency=currency, now=now)
    counted = await repository.take_redemption(session, scope, discount.id, now)
    if counted is None:  # archived or exhausted since we read it
        await session.refresh(discount)
        reason = NotApplicableReason.archived if discount.archived_at is not None else NotApplicableReason.exhausted
        raise DiscountNotApplicable(discount.id, reason)
    redemption = DiscountRedemption(organization_id=scope.organization_id, discount_id=discount.id, customer_id=customer_id, redeemed_at=now)
    await repository.add_redemption(session, redemption)
    await session.refresh(discount)
    return redemption


async def give_back(session: AsyncSession, scope: TenantScope, discount_id: uuid.UUID, customer_id: uuid.UUID) -> bool:
    """Undo `redeem` for a purchase that did not happen after all (its payment failed after the
    redemption was counted, e.g. the customer failed 3-D Secure): the customer's newest
    redemption is removed and the count goes down by one, so a limited discount is not used up
    by a payment that never succeeded. False if the customer had none. Never commits."""
    return await repository.give_back_redemption(session, scope, discount_id, customer_id, clock.now())
